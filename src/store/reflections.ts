// reflections.md, the format: `- <time> | <task-id> | <lesson>` lines, newest last.
// Lines a person wrote that are not reflections are kept above the list; list items
// that look like reflections but cannot be read are kept and reported. How many are
// kept is a rule of apply/reflections.ts.
import { redact } from "../redact.js";
import { lines, type FileProblem } from "./markdown.js";

export interface Reflection {
  at: string;
  task: string;
  text: string;
}

export interface ReflectionsFile {
  notes: string[];
  entries: Reflection[];
  /** List items that look like reflections but cannot be read: kept as notes, reported. */
  problems: FileProblem[];
}

const ENTRY = /^- (\S+) \| (\S+) \| (.*)$/;

export const emptyReflections = (): string => renderReflections([]);

export function parseReflectionsFile(text: string): ReflectionsFile {
  const out: ReflectionsFile = { notes: [], entries: [], problems: [] };
  lines(text).forEach((line, i) => {
    const m = ENTRY.exec(line);
    if (m) return void out.entries.push({ at: m[1]!, task: m[2]!, text: m[3]! });
    if (line.trim() === "" || (line === "# Reflections" && !out.notes.length && !out.entries.length)) return;
    out.notes.push(line);
    if (/^- \S+ \|/.test(line)) out.problems.push({ file: "reflections.md", line: i + 1, message: "expected `- <time> | <task-id> | <lesson>`" });
  });
  return out;
}

export const parseReflections = (text: string): Reflection[] => parseReflectionsFile(text).entries;

export function renderReflections(list: Reflection[], notes: string[] = []): string {
  return ["# Reflections", "", ...(notes.length ? [...notes, ""] : []), ...list.map((r) => `- ${r.at} | ${r.task} | ${redact(r.text)}`), ""].join("\n");
}
