// The rules over skills: skills are earned on +1 outcomes, gain evidence when earned
// again, decay with a half-life, and the weakest is archived (never deleted) when over
// the cap. The files' formats are store/skills.ts.
import { canonicalName, isoSecond, slugify } from "../store/markdown.js";
import { roundEvidence, skillsOf, type Archived, type NewSkill, type SkillEntry, type SkillsFile, type UnreadableEntry } from "../store/skills.js";

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
    reason: `over the cap of ${max} skills with the lowest effective evidence ${score.toFixed(3)} (evidence ${roundEvidence(entry.evidence)}, last success ${entry.lastSuccess.slice(0, 10)}, half-life ${halflifeDays} days)`,
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
