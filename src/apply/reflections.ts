// The rules over reflections.md: the last `keep_last` lessons are kept, newest last;
// older ones stay in git history. The file's format is store/reflections.ts.
import { oneLine } from "../store/markdown.js";
import { parseReflectionsFile, renderReflections, type Reflection } from "../store/reflections.js";

export function addReflection(list: Reflection[], r: Reflection, keepLast: number): Reflection[] {
  return [...list, { ...r, text: oneLine(r.text, 500) }].slice(-keepLast);
}

/** reflections.md with one more reflection, trimmed to `keepLast`, a person's notes kept. */
export function appendReflection(text: string, r: Reflection, keepLast: number): string {
  const file = parseReflectionsFile(text);
  return renderReflections(addReflection(file.entries, r, keepLast), file.notes);
}
