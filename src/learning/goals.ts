// goals.md: at most `max_active` active goals; completed and displaced goals move to
// their own sections with a date, so nothing disappears silently.
import { canonicalName, day, oneLine } from "./markdown.js";

export interface Goal {
  text: string;
  date: string;
}

export interface GoalsFile {
  active: Goal[];
  completed: Goal[];
  displaced: Goal[];
  /** Lines outside the three sections (a person's notes): kept at the end. */
  other: string[];
}

export function emptyGoals(seed: string[], now: Date, maxActive = Infinity): string {
  let file: GoalsFile = { active: [], completed: [], displaced: [], other: [] };
  for (const g of seed) file = addGoal(file, g, now, maxActive);
  return renderGoals(file);
}

export function parseGoals(text: string): GoalsFile {
  const file: GoalsFile = { active: [], completed: [], displaced: [], other: [] };
  let section = "title" as "active" | "completed" | "displaced" | "title";
  for (const line of text.split(/\r?\n/)) {
    const h = /^## (Active|Completed|Displaced)\s*$/.exec(line);
    if (h) {
      section = h[1]!.toLowerCase() as "active";
      continue;
    }
    if (line.startsWith("# ") && section === "title") continue;
    const m = /^- (?:\[[ x]\] )?(.*?)(?: \((?:added|completed|displaced) (\d{4}-\d{2}-\d{2})\))?\s*$/.exec(line);
    if (section !== "title" && m && line.startsWith("- ")) {
      file[section].push({ text: m[1]!, date: m[2] ?? "" });
    } else if (line.trim() !== "" && line.trim() !== "(none)") {
      file.other.push(line);
    }
  }
  return file;
}

const same = (a: string, b: string) => canonicalName(a) === canonicalName(b);

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
  let hit = file.active.find((g) => same(g.text, text));
  if (!hit) {
    const partial = file.active.filter((g) => g.text.toLowerCase().includes(lower) || lower.includes(g.text.toLowerCase()));
    if (partial.length === 1) hit = partial[0];
  }
  if (!hit) return file;
  return { ...file, active: file.active.filter((g) => g !== hit), completed: [...file.completed, { text: hit.text, date: day(now) }] };
}

export function renderGoals(file: GoalsFile): string {
  const list = (goals: Goal[], box: string, verb: string) =>
    goals.length ? goals.map((g) => `- ${box}${g.text}${g.date ? ` (${verb} ${g.date})` : ""}`) : ["(none)"];
  return [
    "# Goals",
    "",
    "## Active",
    "",
    ...list(file.active, "[ ] ", "added"),
    "",
    "## Completed",
    "",
    ...list(file.completed, "[x] ", "completed"),
    "",
    "## Displaced",
    "",
    ...list(file.displaced, "", "displaced"),
    "",
    ...(file.other.length ? [...file.other, ""] : []),
  ].join("\n");
}
