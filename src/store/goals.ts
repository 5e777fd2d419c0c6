// goals.md, the format: `## Active`, `## Completed` and `## Displaced` sections of
// dated goals. A person's lines (notes, other sections, goals ticked by hand) are kept;
// lines inside a goal section that are not goals are kept where they are and reported.
// The cap and the moves between sections are rules of apply/goals.ts.
import { lines, type FileProblem } from "./markdown.js";

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

export const blankGoals = (): GoalsFile => ({
  intro: [],
  active: [],
  completed: [],
  displaced: [],
  ticked: [],
  notes: { active: [], completed: [], displaced: [] },
  other: [],
  problems: [],
});

export function parseGoals(text: string): GoalsFile {
  const file = blankGoals();
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
