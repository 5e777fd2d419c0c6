// skills.md and skills/<slug>.md: skills are earned on +1 outcomes, gain evidence when
// earned again, decay with a half-life, and the weakest is archived (never deleted)
// when over the cap. Entries a person broke are reported and kept verbatim.
import { canonicalName, day, isoSecond, oneLine, slugify } from "./markdown.js";

export interface SkillEntry {
  kind: "skill";
  slug: string;
  summary: string;
  evidence: number;
  lastSuccess: string;
  created: string;
  failures: number;
  file: string;
  /** Lines a person added to the entry that we do not know: kept as written. */
  extra: string[];
  line: number;
}

/** An entry that could not be read: kept verbatim and reported, never rewritten away. */
export interface UnreadableEntry {
  kind: "unreadable";
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
  "",
];

export const emptySkills = (): string => HEADER.join("\n");

export function parseSkills(text: string): SkillsFile {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const preamble: string[] = [];
  const entries: SkillsFile["entries"] = [];
  let i = 0;
  while (i < lines.length && !lines[i]!.startsWith("### ")) preamble.push(lines[i++]!);
  while (i < lines.length) {
    const start = i;
    const chunk = [lines[i++]!];
    while (i < lines.length && !lines[i]!.startsWith("### ")) chunk.push(lines[i++]!);
    while (chunk.length > 1 && chunk[chunk.length - 1]!.trim() === "") chunk.pop();
    entries.push(parseEntry(chunk, start + 1));
  }
  while (preamble.length && preamble[preamble.length - 1]!.trim() === "") preamble.pop();
  return { preamble, entries };
}

function parseEntry(chunk: string[], line: number): SkillEntry | UnreadableEntry {
  const slug = chunk[0]!.slice(4).trim();
  const fields: Record<string, string> = {};
  const extra: string[] = [];
  for (const l of chunk.slice(1)) {
    const m = /^- ([a-z_]+): ?(.*)$/.exec(l);
    if (m && ["summary", "reward_evidence", "last_success", "created", "failures", "file"].includes(m[1]!)) fields[m[1]!] = m[2]!;
    else if (l.trim() !== "") extra.push(l);
  }
  const evidence = Number(fields.reward_evidence);
  const problems: string[] = [];
  if (!slug) problems.push("expected a skill name after `### `");
  if (fields.reward_evidence === undefined || !Number.isFinite(evidence) || evidence < 0) {
    problems.push("expected `- reward_evidence: <number>`");
  }
  if (fields.last_success === undefined || Number.isNaN(Date.parse(fields.last_success))) {
    problems.push("expected `- last_success: <ISO date>`");
  }
  if (problems.length) return { kind: "unreadable", lines: chunk, line, message: problems.join("; ") };
  return {
    kind: "skill",
    slug,
    summary: fields.summary ?? "",
    evidence,
    lastSuccess: fields.last_success!,
    created: fields.created ?? fields.last_success!,
    failures: Number(fields.failures ?? 0) || 0,
    file: fields.file ?? `skills/${slug}.md`,
    extra,
    line,
  };
}

export function renderSkills(file: SkillsFile): string {
  const body = file.entries.map((e) =>
    e.kind === "unreadable"
      ? e.lines.join("\n")
      : [
          `### ${e.slug}`,
          `- summary: ${oneLine(e.summary)}`,
          `- reward_evidence: ${round(e.evidence)}`,
          `- last_success: ${e.lastSuccess}`,
          `- created: ${e.created}`,
          ...(e.failures ? [`- failures: ${e.failures}`] : []),
          `- file: ${e.file}`,
          ...e.extra,
        ].join("\n"),
  );
  return [...(file.preamble.length ? file.preamble : HEADER.slice(0, 3)), "", ...body.flatMap((b) => [b, ""])].join("\n");
}

const round = (n: number) => Math.round(n * 100) / 100;

export const skillsOf = (file: SkillsFile): SkillEntry[] => file.entries.filter((e): e is SkillEntry => e.kind === "skill");

export function findSkill(file: SkillsFile, name: string): SkillEntry | undefined {
  const canon = canonicalName(name);
  return skillsOf(file).find((e) => e.slug === slugify(name) || canonicalName(e.slug) === canon);
}

/** Records a +1 skill: a new entry, or more evidence for the same (or near-identical) one. */
export function recordSkill(file: SkillsFile, skill: NewSkill, evidence: number, now: Date): { file: SkillsFile; entry: SkillEntry; isNew: boolean } {
  const existing = findSkill(file, skill.name);
  const at = isoSecond(now);
  if (existing) {
    const entry: SkillEntry = { ...existing, evidence: existing.evidence + evidence, lastSuccess: at, summary: existing.summary || skill.summary };
    return { file: { ...file, entries: file.entries.map((e) => (e === existing ? entry : e)) }, entry, isNew: false };
  }
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
    extra: [],
    line: 0,
  };
  return { file: { ...file, entries: [...file.entries, entry] }, entry, isNew: true };
}

function uniqueSlug(file: SkillsFile, slug: string): string {
  const taken = new Set(file.entries.map((e) => (e.kind === "skill" ? e.slug : "")));
  let s = slug;
  for (let n = 2; taken.has(s); n++) s = `${slug}-${n}`;
  return s;
}

/** A -1 on a task that used these skills counts against them. */
export function recordFailures(file: SkillsFile, slugs: string[]): SkillsFile {
  const hit = new Set(slugs);
  return { ...file, entries: file.entries.map((e) => (e.kind === "skill" && hit.has(e.slug) ? { ...e, failures: e.failures + 1 } : e)) };
}

/** reward_evidence × 0.5^(days since last success / half-life): never negative, unlike the seed's linear decay. */
export function effectiveEvidence(e: SkillEntry, now: Date, halflifeDays: number): number {
  const days = Math.max(0, (now.getTime() - Date.parse(e.lastSuccess)) / 86_400_000);
  return e.evidence * Math.pow(0.5, days / halflifeDays);
}

export interface Archived {
  entry: SkillEntry;
  score: number;
  reason: string;
}

/** Archives the weakest skills until at most `max` remain; ties go to the oldest, then by name. */
export function pruneSkills(file: SkillsFile, max: number, halflifeDays: number, now: Date): { file: SkillsFile; archived: Archived[] } {
  const archived: Archived[] = [];
  let entries = file.entries;
  while (entries.length > max) {
    const candidates = entries.filter((e): e is SkillEntry => e.kind === "skill");
    if (candidates.length === 0) break;
    const scored = candidates
      .map((entry) => ({ entry, score: effectiveEvidence(entry, now, halflifeDays) }))
      .sort((a, b) => a.score - b.score || Date.parse(a.entry.created) - Date.parse(b.entry.created) || a.entry.slug.localeCompare(b.entry.slug));
    const weakest = scored[0]!;
    archived.push({
      ...weakest,
      reason: `over the cap of ${max} skills with the lowest effective evidence ${weakest.score.toFixed(3)} (evidence ${round(weakest.entry.evidence)}, last success ${weakest.entry.lastSuccess.slice(0, 10)})`,
    });
    entries = entries.filter((e) => e !== weakest.entry);
  }
  return { file: { ...file, entries }, archived };
}

export function renderSkillFile(slug: string, skill: NewSkill, taskId: string, now: Date): string {
  return [
    `# ${slug}`,
    "",
    skill.summary,
    "",
    "## Steps",
    "",
    ...(skill.steps.length ? skill.steps.map((s, i) => `${i + 1}. ${s}`) : ["(none given)"]),
    "",
    "## Tags",
    "",
    skill.tags.length ? skill.tags.map((t) => `\`${t}\``).join(" ") : "(none)",
    "",
    "## Learned from",
    "",
    `- task: ${taskId} (${day(now)})`,
    "",
  ].join("\n");
}

/** Adds a "learned again" line to an existing skill file, keeping whatever a person wrote. */
export function noteSkillReuse(existing: string, taskId: string, now: Date): string {
  return existing.replace(/\s*$/, "\n") + `- task: ${taskId} (${day(now)})\n`;
}

export function renderArchivedSkill(a: Archived, fullText: string | undefined, now: Date): string {
  return [
    `# ${a.entry.slug} (archived ${day(now)})`,
    "",
    `- reason: ${a.reason}`,
    `- summary: ${a.entry.summary}`,
    `- reward_evidence: ${round(a.entry.evidence)}`,
    `- last_success: ${a.entry.lastSuccess}`,
    `- created: ${a.entry.created}`,
    "",
    fullText ? "## Full text when archived\n\n" + fullText.trim() + "\n" : "",
  ].join("\n");
}
