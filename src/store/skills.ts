// skills.md and skills/<slug>.md, the formats: one `### <slug>` entry per skill with
// its fields, the full text in skills/<slug>.md, the archived copy in skills/archive/.
// A person's text wins: entries we do not change are written back exactly as read,
// changed ones keep every line we do not own, and entries we cannot read are kept
// verbatim and reported with their line. Earning, decay and the cap are rules of
// apply/skills.ts.
import { isoSecond, day, lines, oneLine, slugify, type FileProblem } from "./markdown.js";

export interface SkillEntry {
  kind: "skill";
  slug: string;
  summary: string;
  evidence: number;
  lastSuccess: string;
  created: string;
  failures: number;
  file: string;
  /** The entry's lines as read (empty for a new entry): rendering updates them in place. */
  raw: string[];
  /** The values as read: an entry whose values did not change is written back exactly as read. */
  readAs?: string;
  line: number;
}

/** An entry that could not be read: kept verbatim and reported, never rewritten away. */
export interface UnreadableEntry {
  kind: "unreadable";
  /** The name after `### `, as written. */
  name: string;
  lines: string[];
  line: number;
  message: string;
}

export interface SkillsFile {
  preamble: string[];
  entries: (SkillEntry | UnreadableEntry)[];
}

export interface NewSkill {
  name: string;
  summary: string;
  steps: string[];
  tags: string[];
}

const HEADER = [
  "# Skills",
  "",
  "<!-- Managed by AgentOS: one `### <slug>` entry per skill; full text in skills/<slug>.md. Edit freely. -->",
];

const FIELDS = ["summary", "reward_evidence", "last_success", "created", "failures", "file"] as const;
type Field = (typeof FIELDS)[number];
/** `- reward_evidence: 3`, also `* Reward evidence : 3` as a person might type it. */
const FIELD_LINE = /^\s*[-*+]\s+([A-Za-z][A-Za-z_ ]*?)\s*:\s?(.*)$/;
const fieldKey = (k: string) => k.toLowerCase().replace(/ +/g, "_") as Field;
/** Skill files live in skills/; a `file:` elsewhere (or `..`) is refused, not written. */
const SAFE_FILE = /^skills\/[A-Za-z0-9][A-Za-z0-9._-]*\.md$/;

export const emptySkills = (): string => [...HEADER, ""].join("\n");

export function parseSkills(text: string): SkillsFile {
  const all = lines(text);
  const preamble: string[] = [];
  const entries: SkillsFile["entries"] = [];
  let i = 0;
  while (i < all.length && !all[i]!.startsWith("### ")) preamble.push(all[i++]!);
  while (i < all.length) {
    const start = i;
    const chunk = [all[i++]!];
    while (i < all.length && !all[i]!.startsWith("### ")) chunk.push(all[i++]!);
    while (chunk.length > 1 && chunk[chunk.length - 1]!.trim() === "") chunk.pop();
    entries.push(parseEntry(chunk, start + 1));
  }
  while (preamble.length && preamble[preamble.length - 1]!.trim() === "") preamble.pop();
  return { preamble, entries };
}

function parseEntry(chunk: string[], line: number): SkillEntry | UnreadableEntry {
  const name = chunk[0]!.slice(4).trim();
  const fields: Partial<Record<Field, string>> = {};
  for (const l of chunk.slice(1)) {
    const m = FIELD_LINE.exec(l);
    const key = m && fieldKey(m[1]!);
    if (key && (FIELDS as readonly string[]).includes(key) && fields[key] === undefined) fields[key] = m[2]!.trim();
  }
  const evidence = Number(fields.reward_evidence);
  const problems: string[] = [];
  if (!name) problems.push("expected a skill name after `### `");
  // The name becomes a file name (skills/archive/<name>.md): nothing that could leave the folder.
  else if (!/^[a-z0-9][a-z0-9._-]{0,79}$/i.test(name) || name.includes("..")) problems.push("expected a skill name of letters, digits, '.', '-' or '_'");
  if (fields.reward_evidence === undefined || fields.reward_evidence === "" || !Number.isFinite(evidence) || evidence < 0) {
    problems.push("expected `- reward_evidence: <number, 0 or more>`");
  }
  if (fields.last_success === undefined || Number.isNaN(Date.parse(fields.last_success))) problems.push("expected `- last_success: <ISO date>`");
  if (fields.created !== undefined && Number.isNaN(Date.parse(fields.created))) problems.push("expected `- created: <ISO date>`");
  if (fields.failures !== undefined && !/^\d+$/.test(fields.failures)) problems.push("expected `- failures: <whole number>`");
  if (fields.file !== undefined && !SAFE_FILE.test(fields.file)) problems.push("expected `- file: skills/<name>.md`");
  if (problems.length) return { kind: "unreadable", name, lines: chunk, line, message: problems.join("; ") };
  const entry: SkillEntry = {
    kind: "skill",
    slug: name,
    summary: fields.summary ?? "",
    evidence,
    lastSuccess: fields.last_success!,
    created: fields.created ?? fields.last_success!,
    failures: Number(fields.failures ?? 0),
    file: fields.file ?? `skills/${slugify(name)}.md`,
    raw: chunk,
    line,
  };
  return { ...entry, readAs: valuesOf(entry) };
}

const valuesOf = (e: SkillEntry) => JSON.stringify([e.slug, e.summary, e.evidence, e.lastSuccess, e.created, e.failures, e.file]);

/** Problems a person should fix: unreadable entries and duplicate names, with their line. */
export function skillProblems(file: SkillsFile): FileProblem[] {
  const out: FileProblem[] = [];
  const seen = new Map<string, number>();
  for (const e of file.entries) {
    if (e.kind === "unreadable") {
      out.push({ file: "skills.md", line: e.line, message: `cannot read skill entry '${e.name}' (${e.message})` });
      continue;
    }
    const first = seen.get(e.slug);
    if (first !== undefined) out.push({ file: "skills.md", line: e.line, message: `second entry for '${e.slug}' (first at line ${first}); only the first gains evidence` });
    else seen.set(e.slug, e.line);
  }
  return out;
}

export const roundEvidence = (n: number) => Math.round(n * 100) / 100;

function fieldValue(e: SkillEntry, f: Field): string | undefined {
  switch (f) {
    case "summary":
      return oneLine(e.summary);
    case "reward_evidence":
      return String(roundEvidence(e.evidence));
    case "last_success":
      return e.lastSuccess;
    case "created":
      return e.created;
    case "failures":
      return e.failures ? String(e.failures) : undefined;
    case "file":
      return e.file;
  }
}

/** Same value as written? (`3.50` and `3.5` are the same evidence; a long summary is not "changed" by our one-line form.) */
function sameValue(e: SkillEntry, f: Field, written: string): boolean {
  if (f === "reward_evidence") return roundEvidence(Number(written)) === roundEvidence(e.evidence);
  if (f === "failures") return Number(written) === e.failures;
  if (f === "summary") return written === e.summary.trim() || oneLine(written) === oneLine(e.summary);
  return written === fieldValue(e, f);
}

/** The entry's lines: as read, with only the fields whose value changed rewritten in place. */
export function renderEntry(e: SkillEntry): string[] {
  if (e.raw.length === 0) {
    return [`### ${e.slug}`, ...FIELDS.flatMap((f) => (fieldValue(e, f) === undefined ? [] : [`- ${f}: ${fieldValue(e, f)}`]))];
  }
  if (e.readAs === valuesOf(e)) return e.raw;
  const out = [...e.raw];
  const present = new Set<Field>();
  let lastField = 0;
  for (let i = 1; i < out.length; i++) {
    const m = FIELD_LINE.exec(out[i]!);
    const key = m && fieldKey(m[1]!);
    if (!key || !(FIELDS as readonly string[]).includes(key) || present.has(key)) continue;
    present.add(key);
    lastField = i;
    if (!sameValue(e, key, m[2]!.trim())) out[i] = `- ${key}: ${fieldValue(e, key) ?? 0}`;
  }
  const missing = FIELDS.filter((f) => !present.has(f) && fieldValue(e, f) !== undefined && (f !== "created" || e.created !== e.lastSuccess));
  out.splice(lastField + 1, 0, ...missing.map((f) => `- ${f}: ${fieldValue(e, f)}`));
  return out;
}

export function renderSkills(file: SkillsFile): string {
  const body = file.entries.map((e) => (e.kind === "unreadable" ? e.lines : renderEntry(e)).join("\n"));
  return [...(file.preamble.length ? file.preamble : HEADER), "", ...body.flatMap((b) => [b, ""])].join("\n");
}

export const skillsOf = (file: SkillsFile): SkillEntry[] => file.entries.filter((e): e is SkillEntry => e.kind === "skill");

export interface Archived {
  entry: SkillEntry;
  score: number;
  reason: string;
}

export function renderSkillFile(slug: string, skill: NewSkill, task: { id: string; text: string }, now: Date): string {
  return [
    `# ${slug}`,
    "",
    // Model output, kept as data (harden): one line, no markdown structure of its own (a
    // `## Learned from` in it would be taken for the section noteSkillReuse edits).
    plainLine(skill.summary, 400),
    "",
    "## Steps",
    "",
    ...(skill.steps.length ? skill.steps.map((s, i) => `${i + 1}. ${plainLine(s, 400)}`) : ["(none given)"]),
    "",
    "## Tags",
    "",
    skill.tags.length ? skill.tags.map((t) => `\`${t.replace(/[`\s]+/g, "")}\``).join(" ") : "(none)",
    "",
    "## Learned from",
    "",
    `${learnedLine(task, now)}: ${oneLine(task.text, 160)}`,
    "",
  ].join("\n");
}

/** The task that taught a skill is quoted; later ones are only named (they are in git history). */
/** One line that cannot start a markdown block (heading, quote, list, fence, HTML, table) or hold a control character. */
function plainLine(s: string, max: number): string {
  const line = oneLine(s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, " "), max);
  return /^(#|>|[-*+]\s|\d+[.)]\s|`{3}|~{3}|<|\||={2,}|-{2,})/.test(line) ? `\\${line}` : line;
}

const learnedLine = (task: { id: string }, now: Date) => `- task: ${task.id} (${day(now)})`;
const LEARNED = /^- task: /;
/** Learned-from lines kept in a skill file: the first task and the latest ones (bounded, so the prompt stays flat). */
export const LEARNED_FROM_KEPT = 5;

/**
 * Notes that a skill was earned again, keeping whatever a person wrote. Only our own
 * `- task:` lines under `## Learned from` are trimmed: the first and the latest few.
 */
export function noteSkillReuse(existing: string, task: { id: string; text: string }, now: Date): string {
  const all = lines(existing);
  const start = all.findIndex((l) => /^## Learned from\s*$/.test(l));
  if (start < 0) return [...all, "", "## Learned from", "", learnedLine(task, now), ""].join("\n");
  let end = all.findIndex((l, i) => i > start && /^#{1,2} /.test(l));
  if (end < 0) end = all.length;
  const section = all.slice(start + 1, end);
  const learned = section.map((l, i) => (LEARNED.test(l) ? i : -1)).filter((i) => i >= 0);
  const keep = new Set([learned[0], ...learned.slice(-(LEARNED_FROM_KEPT - 2))].filter((i) => i !== undefined));
  const trimmed = section.filter((l, i) => !LEARNED.test(l) || keep.has(i));
  const lastLearned = trimmed.map((l) => LEARNED.test(l)).lastIndexOf(true);
  const lastText = trimmed.map((l) => l.trim() !== "").lastIndexOf(true);
  trimmed.splice(lastLearned >= 0 ? lastLearned + 1 : lastText >= 0 ? lastText + 1 : Math.min(1, trimmed.length), 0, learnedLine(task, now));
  if (end < all.length && trimmed[trimmed.length - 1]!.trim() !== "") trimmed.push("");
  const body = [...all.slice(0, start + 1), ...trimmed, ...all.slice(end)];
  while (body.length && body[body.length - 1]!.trim() === "") body.pop();
  return body.join("\n") + "\n";
}

export function renderArchivedSkill(a: Archived, fullText: string | undefined, now: Date): string {
  return [
    `# ${a.entry.slug} (archived ${day(now)})`,
    "",
    `- reason: ${a.reason}`,
    `- archived: ${isoSecond(now)}`,
    `- summary: ${a.entry.summary}`,
    `- reward_evidence: ${roundEvidence(a.entry.evidence)}`,
    `- last_success: ${a.entry.lastSuccess}`,
    `- created: ${a.entry.created}`,
    ...(a.entry.failures ? [`- failures: ${a.entry.failures}`] : []),
    "",
    "## skills.md entry when archived",
    "",
    ...renderEntry(a.entry),
    "",
    ...(fullText ? ["## Full text when archived", "", fullText.trim(), ""] : []),
  ].join("\n");
}
