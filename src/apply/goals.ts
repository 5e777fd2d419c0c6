// The rules over goals.md: at most `max_active` active goals; completed and displaced
// goals move to their own sections with a date, so nothing disappears silently.
// The file's format is store/goals.ts.
import { canonicalName, day, oneLine } from "../store/markdown.js";
import { blankGoals, renderGoals, type GoalsFile } from "../store/goals.js";

export function emptyGoals(seed: string[], now: Date, maxActive = Infinity): string {
  let file = blankGoals();
  for (const g of seed) file = addGoal(file, g, now, maxActive);
  return renderGoals(file);
}

const same = (a: string, b: string) => canonicalName(a) === canonicalName(b);

/** Goals ticked by hand in ## Active move to ## Completed, dated today. */
export function settleTicked(file: GoalsFile, now: Date): GoalsFile {
  if (!file.ticked.length) return file;
  return { ...file, completed: [...file.completed, ...file.ticked.map((g) => ({ text: g.text, date: day(now) }))], ticked: [] };
}

/** Adds a goal (not a near-duplicate of an active one); over the cap, the oldest active one is displaced. */
export function addGoal(file: GoalsFile, text: string, now: Date, maxActive: number): GoalsFile {
  const clean = oneLine(text, 200);
  if (!clean || file.active.some((g) => same(g.text, clean))) return file;
  const active = [...file.active, { text: clean, date: day(now) }];
  const displaced = [...file.displaced];
  while (active.length > maxActive) displaced.push({ text: active.shift()!.text, date: day(now) });
  return { ...file, active, displaced };
}

/** Marks a goal done; matches the exact text, a near-identical one, or a unique substring. */
export function completeGoal(file: GoalsFile, text: string, now: Date): GoalsFile {
  const lower = text.toLowerCase().trim();
  if (!lower) return file;
  let hit = file.active.find((g) => same(g.text, text));
  if (!hit) {
    const partial = file.active.filter((g) => g.text.toLowerCase().includes(lower) || lower.includes(g.text.toLowerCase()));
    if (partial.length === 1) hit = partial[0];
  }
  if (!hit) return file;
  return { ...file, active: file.active.filter((g) => g !== hit), completed: [...file.completed, { text: hit.text, date: day(now) }] };
}
