// skills.md and skills/<slug>.md: skills are earned on +1 outcomes, gain evidence when
// earned again, decay with a half-life, and the weakest is archived (never deleted)
// when over the cap. A person's text wins: entries we do not change are written back
// exactly as read, changed ones keep every line we do not own, and entries we cannot
// read are kept verbatim and reported with their line.
import { canonicalName, day, isoSecond, lines, oneLine, slugify, type FileProblem } from "../store/markdown.js";

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

const round = (n: number) => Math.round(n * 100) / 100;

function fieldValue(e: SkillEntry, f: Field): string | undefined {
  switch (f) {
    case "summary":
      return oneLine(e.summary);
    case "reward_evidence":
      return String(round(e.evidence));
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
  if (f === "reward_evidence") return round(Number(written)) === round(e.evidence);
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

export function findSkill(file: SkillsFile, name: string): SkillEntry | undefined {
  const canon = canonicalName(name);
  return skillsOf(file).find((e) => e.slug === slugify(name) || canonicalName(e.slug) === canon);
}

export type RecordedSkill =
  | { file: SkillsFile; entry: SkillEntry; isNew: boolean; blockedBy?: undefined }
  /** The name belongs to an entry nobody can read: nothing is recorded until a person fixes it. */
  | { file: SkillsFile; entry?: undefined; isNew: false; blockedBy: UnreadableEntry };

/** Records a +1 skill: a new entry, or more evidence for the same (or near-identical) one. */
export function recordSkill(file: SkillsFile, skill: NewSkill, evidence: number, now: Date): RecordedSkill {
  const existing = findSkill(file, skill.name);
  const at = isoSecond(now);
  if (existing) {
    const entry: SkillEntry = { ...existing, evidence: existing.evidence + evidence, lastSuccess: at, summary: existing.summary || skill.summary };
    return { file: { ...file, entries: file.entries.map((e) => (e === existing ? entry : e)) }, entry, isNew: false };
  }
  const canon = canonicalName(skill.name);
  const blockedBy = file.entries.find((e): e is UnreadableEntry => e.kind === "unreadable" && e.name !== "" && canonicalName(e.name) === canon);
  if (blockedBy) return { file, isNew: false, blockedBy };
  const slug = uniqueSlug(file, slugify(skill.name));
  const entry: SkillEntry = {
    kind: "skill",
    slug,
    summary: skill.summary,
    evidence,
    lastSuccess: at,
    created: at,
    failures: 0,
    file: `skills/${slug}.md`,
    raw: [],
    line: 0,
  };
  return { file: { ...file, entries: [...file.entries, entry] }, entry, isNew: true };
}

function uniqueSlug(file: SkillsFile, slug: string): string {
  const taken = new Set(file.entries.map((e) => (e.kind === "skill" ? e.slug : slugify(e.name))));
  let s = slug;
  for (let n = 2; taken.has(s); n++) s = `${slug}-${n}`;
  return s;
}

/** A -1 on a task that used these skills counts against them. */
export function recordFailures(file: SkillsFile, slugs: string[]): SkillsFile {
  const hit = new Set(slugs);
  return { ...file, entries: file.entries.map((e) => (e.kind === "skill" && hit.has(e.slug) ? { ...e, failures: e.failures + 1 } : e)) };
}

const DAY_MS = 86_400_000;

/**
 * reward_evidence × 0.5^(days since last success / half-life): halves every half-life and
 * never goes negative, unlike the seed's linear `1 - days/halflife`. An infinite or huge
 * half-life makes the factor 1 (decay off).
 */
export function effectiveEvidence(e: Pick<SkillEntry, "evidence" | "lastSuccess">, now: Date, halflifeDays: number): number {
  const days = Math.max(0, (now.getTime() - Date.parse(e.lastSuccess)) / DAY_MS);
  return e.evidence * Math.pow(0.5, days / halflifeDays);
}

export interface Archived {
  entry: SkillEntry;
  score: number;
  reason: string;
}

/**
 * Orders skills weakest first: lowest effective evidence; on a tie the one whose last
 * success is oldest, then the one created first, then by name, so the same files always
 * give the same answer.
 */
export function weakestFirst(skills: SkillEntry[], now: Date, halflifeDays: number): { entry: SkillEntry; score: number }[] {
  return skills
    .map((entry) => ({ entry, score: effectiveEvidence(entry, now, halflifeDays) }))
    .sort(
      (a, b) =>
        a.score - b.score ||
        Date.parse(a.entry.lastSuccess) - Date.parse(b.entry.lastSuccess) ||
        Date.parse(a.entry.created) - Date.parse(b.entry.created) ||
        (a.entry.slug < b.entry.slug ? -1 : a.entry.slug > b.entry.slug ? 1 : 0),
    );
}

/**
 * Archives the weakest skills until at most `max` readable ones remain. Entries nobody can
 * read do not count against the cap (they cannot be ranked) and are never archived.
 */
export function pruneSkills(file: SkillsFile, max: number, halflifeDays: number, now: Date): { file: SkillsFile; archived: Archived[] } {
  const skills = skillsOf(file);
  if (skills.length <= max) return { file, archived: [] };
  const out = weakestFirst(skills, now, halflifeDays).slice(0, skills.length - max);
  const archived = out.map(({ entry, score }) => ({
    entry,
    score,
    reason: `over the cap of ${max} skills with the lowest effective evidence ${score.toFixed(3)} (evidence ${round(entry.evidence)}, last success ${entry.lastSuccess.slice(0, 10)}, half-life ${halflifeDays} days)`,
  }));
  const gone = new Set(out.map((x) => x.entry));
  return { file: { ...file, entries: file.entries.filter((e) => !(e.kind === "skill" && gone.has(e))) }, archived };
}

/** `skills/archive/<slug>.md`, or `<slug>-2.md`… when an earlier archive of that name exists. */
export function archivePath(slug: string, taken: Set<string>): string {
  let name = `skills/archive/${slug}.md`;
  for (let n = 2; taken.has(name); n++) name = `skills/archive/${slug}-${n}.md`;
  taken.add(name);
  return name;
}

export function renderSkillFile(slug: string, skill: NewSkill, task: { id: string; text: string }, now: Date): string {
  return [
    `# ${slug}`,
    "",
    skill.summary,
    "",
    "## Steps",
    "",
    ...(skill.steps.length ? skill.steps.map((s, i) => `${i + 1}. ${oneLine(s, 400)}`) : ["(none given)"]),
    "",
    "## Tags",
    "",
    skill.tags.length ? skill.tags.map((t) => `\`${t}\``).join(" ") : "(none)",
    "",
    "## Learned from",
    "",
    `${learnedLine(task, now)}: ${oneLine(task.text, 160)}`,
    "",
  ].join("\n");
}

/** The task that taught a skill is quoted; later ones are only named (they are in git history). */
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
    `- reward_evidence: ${round(a.entry.evidence)}`,
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
