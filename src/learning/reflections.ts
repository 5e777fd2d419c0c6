// reflections.md: the last `keep_last` lessons, newest last; older ones stay in git history.
import { oneLine } from "./markdown.js";

export interface Reflection {
  at: string;
  task: string;
  text: string;
}

export const emptyReflections = (): string => renderReflections([]);

export function parseReflections(text: string): Reflection[] {
  const out: Reflection[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^- (\S+) \| (\S+) \| (.*)$/.exec(line);
    if (m) out.push({ at: m[1]!, task: m[2]!, text: m[3]! });
  }
  return out;
}

export function addReflection(list: Reflection[], r: Reflection, keepLast: number): Reflection[] {
  return [...list, { ...r, text: oneLine(r.text, 500) }].slice(-keepLast);
}

export function renderReflections(list: Reflection[]): string {
  return ["# Reflections", "", ...list.map((r) => `- ${r.at} | ${r.task} | ${r.text}`), ""].join("\n");
}
