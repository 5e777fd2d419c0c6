// goals.md: at most `max_active` active goals; completed and displaced goals move to
// their own sections with a date, so nothing disappears silently. A person's lines
// (notes, other sections, goals ticked by hand) are kept; lines inside a goal section
// that are not goals are kept where they are and reported.
import { canonicalName, day, lines, oneLine, type FileProblem } from "../store/markdown.js";

export interface Goal {
  text: string;
  date: string;
}

type SectionName = "active" | "completed" | "displaced";

export interface GoalsFile {
  /** Lines before the first section other than the `# Goals` title. */
  intro: string[];
  active: Goal[];
  completed: Goal[];
  displaced: Goal[];
  /** Active goals a person ticked (`- [x]`): completed on the next update, never shown as active. */
  ticked: Goal[];
  /** Non-goal lines inside each section, kept after that section's goals. */
  notes: Record<SectionName, string[]>;
  /** Sections we do not own (`## Someday`…) with their lines, kept verbatim at the end. */
  other: string[];
  problems: FileProblem[];
}

const SECTION = /^##\s+(Active|Completed|Displaced)\s*$/i;
const ITEM = /^\s*(?:[-*+]|\d+[.)])\s+(?:\[( |x|X)\]\s+)?(.*?)(?:\s+\((?:added|completed|displaced)\s+(\d{4}-\d{2}-\d{2})\))?\s*$/;

const blank = (): GoalsFile => ({
  intro: [],
  active: [],
  completed: [],
  displaced: [],
  ticked: [],
  notes: { active: [], completed: [], displaced: [] },
  other: [],
  problems: [],
});

export function emptyGoals(seed: string[], now: Date, maxActive = Infinity): string {
  let file = blank();
  for (const g of seed) file = addGoal(file, g, now, maxActive);
  return renderGoals(file);
}

export function parseGoals(text: string): GoalsFile {
  const file = blank();
  let section: SectionName | "intro" | "other" = "intro";
  lines(text).forEach((line, i) => {
    const h = SECTION.exec(line);
    if (h) return void (section = h[1]!.toLowerCase() as SectionName);
    if (/^#{1,6}\s/.test(line) && !(section === "intro" && /^#\s+Goals\s*$/i.test(line))) section = "other";
    if (section === "intro") {
      if (!/^#\s+Goals\s*$/i.test(line) && (line.trim() !== "" || file.intro.length)) file.intro.push(line);
      return;
    }
    if (section === "other") return void file.other.push(line);
    if (line.trim() === "" || line.trim() === "(none)") return;
    const m = ITEM.exec(line);
    if (!m || !m[2]!.trim()) {
      file.notes[section].push(line);
      file.problems.push({ file: "goals.md", line: i + 1, message: `not a goal (expected \`- [ ] <goal>\` under ## ${cap(section)})` });
      return;
    }
    const goal = { text: m[2]!.trim(), date: m[3] ?? "" };
    if (section === "active" && m[1] && m[1] !== " ") file.ticked.push(goal);
    else file[section].push(goal);
  });
  while (file.intro.length && file.intro[file.intro.length - 1]!.trim() === "") file.intro.pop();
  while (file.other.length && file.other[file.other.length - 1]!.trim() === "") file.other.pop();
  return file;
}

const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);
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

export function renderGoals(file: GoalsFile): string {
  const list = (goals: Goal[], box: string, verb: string, notes: string[]) => [
    ...(goals.length || notes.length ? goals.map((g) => `- ${box}${g.text}${g.date ? ` (${verb} ${g.date})` : ""}`) : ["(none)"]),
    ...notes,
  ];
  return [
    "# Goals",
    "",
    ...(file.intro.length ? [...file.intro, ""] : []),
    "## Active",
    "",
    ...list(file.active, "[ ] ", "added", [...file.ticked.map((g) => `- [x] ${g.text}${g.date ? ` (added ${g.date})` : ""}`), ...file.notes.active]),
    "",
    "## Completed",
    "",
    ...list(file.completed, "[x] ", "completed", file.notes.completed),
    "",
    "## Displaced",
    "",
    ...list(file.displaced, "", "displaced", file.notes.displaced),
    "",
    ...(file.other.length ? [...file.other, ""] : []),
  ].join("\n");
}
