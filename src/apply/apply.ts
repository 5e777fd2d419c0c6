// Applies one task outcome to the agent's learning files. Pure: current file texts
// in, new file texts and commit plans out. Re-reading the files before each call is
// the caller's job, which is how a person's edits win; a file is written only when
// its text changes, and what a person wrote that we cannot read is kept and reported.
import type { AgentsFile } from "../config/schema.js";
import type { StepResponse } from "../work/llm/schema.js";
import type { Usage } from "../work/llm/types.js";
import { auditOutcome, type Audit } from "./audit.js";
import { addGoal, completeGoal, settleTicked } from "./goals.js";
import { addReflection } from "./reflections.js";
import { addReward, negativeStreak } from "./rewards.js";
import { archivePath, pruneSkills, recordFailures, recordSkill } from "./skills.js";
import { parseGoals, renderGoals } from "../store/goals.js";
import { resultFile } from "../store/layout.js";
import { isoSecond, oneLine, type FileProblem } from "../store/markdown.js";
import { parseReflectionsFile, renderReflections } from "../store/reflections.js";
import { parseRewards, renderRewards, rewardEntry, type Reward, type Totals } from "../store/rewards.js";
import { noteSkillReuse, parseSkills, renderArchivedSkill, renderSkillFile, renderSkills, skillProblems, type Archived } from "../store/skills.js";

export interface LearningFiles {
  skills: string;
  goals: string;
  rewards: string;
  reflections: string;
  /** Current text of skills/<slug>.md files the outcome may touch, by slug. */
  skillTexts: Record<string, string | undefined>;
  /** Paths already under skills/archive/ (`skills/archive/x.md`): an archive never overwrites one. */
  archived?: string[];
  /** Totals counted from git history, used when rewards.md has lost its totals line. */
  rewardHistory?: Totals;
}

export interface Outcome {
  agent: string;
  task: { id: string; text: string; source: string; from?: string; parent?: string };
  response: StepResponse;
  model: string;
  attempt: number;
  usedSkills: string[];
  now: Date;
  /** An audit from elsewhere (method: llm, or its fallback); otherwise the rule-based audit runs. */
  audit?: Audit;
  /** Tokens the provider reported for this task's step (absent offline, or when it reports none). */
  usage?: Usage;
}

/** One commit to make: files to write (null = delete), message parts. */
export interface CommitPlan {
  subject: string;
  body?: string;
  trailers: Record<string, string>;
  files: Record<string, string | null>;
}

export interface Applied {
  commits: CommitPlan[];
  reward: Reward;
  audit?: Audit;
  divergent: boolean;
  skill?: { slug: string; isNew: boolean; evidence: number };
  archived: (Archived & { path: string })[];
  streak: number;
  escalated: boolean;
  /** What a person wrote that we cannot read (file:line), kept as written. */
  problems: FileProblem[];
}

export function applyOutcome(files: LearningFiles, o: Outcome, cfg: AgentsFile): Applied {
  const r = o.response;
  const at = isoSecond(o.now);
  const audit = cfg.reward_audit.enabled
    ? (o.audit ?? auditOutcome({ reward: r.reward, answer: r.answer, rewardReason: r.reward_reason, skill: r.skill }))
    : undefined;
  const divergent = audit !== undefined && audit.score !== r.reward;
  const out: Record<string, string | null> = {};

  // Rewards
  let rewards = parseRewards(files.rewards);
  if (!rewards.totalsFound && files.rewardHistory) rewards = { ...rewards, totals: files.rewardHistory };
  const reason = r.reward_reason + (divergent ? ` [audit ${audit!.score}: ${audit!.notes.join("; ")}]` : "");
  rewards = addReward(rewards, rewardEntry(r.reward, o.task.id, o.now, reason, audit?.score), cfg.rewards.keep_last);
  out["rewards.md"] = renderRewards(rewards);

  // Skills: only a +1 earns one; evidence is halved when the audit disagrees.
  let skills = parseSkills(files.skills);
  const problems: FileProblem[] = [...rewards.problems, ...skillProblems(skills)];
  let skill: Applied["skill"];
  if (r.reward === 1 && r.skill) {
    const evidence = divergent ? 0.5 : 1;
    const rec = recordSkill(skills, r.skill, evidence, o.now);
    if (rec.blockedBy) {
      problems.push({
        file: "skills.md",
        line: rec.blockedBy.line,
        message: `skill '${r.skill.name}' earned on ${o.task.id} was not recorded: its entry cannot be read (${rec.blockedBy.message})`,
      });
    } else {
      skills = rec.file;
      skill = { slug: rec.entry.slug, isNew: rec.isNew, evidence };
      // A skill file that already exists (a person's, or one left behind) is added to, never replaced.
      const existing = files.skillTexts[rec.entry.slug];
      out[rec.entry.file] = existing?.trim() ? noteSkillReuse(existing, o.task, o.now) : renderSkillFile(rec.entry.slug, r.skill, o.task, o.now);
    }
  } else if (r.reward === -1 && o.usedSkills.length) {
    skills = recordFailures(skills, o.usedSkills);
  }
  const pruned = pruneSkills(skills, cfg.skills.max_entries, cfg.skills.decay_halflife_days, o.now);
  skills = pruned.file;
  const takenArchives = new Set(files.archived ?? []);
  const archived = pruned.archived.map((a) => ({ ...a, path: archivePath(a.entry.slug, takenArchives) }));
  for (const a of archived) {
    const fullText = out[a.entry.file] ?? files.skillTexts[a.entry.slug];
    out[a.path] = renderArchivedSkill(a, fullText ?? undefined, o.now);
    out[a.entry.file] = null;
  }
  const skillsText = renderSkills(skills);
  if (skillsText !== files.skills) out["skills.md"] = skillsText;

  // Goals: read every time (a person's unreadable lines are reported), written only on a change.
  let goals = parseGoals(files.goals);
  problems.push(...goals.problems);
  if (r.goals && (r.goals.add.length || r.goals.complete.length)) {
    goals = settleTicked(goals, o.now);
    for (const g of r.goals.complete) goals = completeGoal(goals, g, o.now);
    for (const g of r.goals.add) goals = addGoal(goals, g, o.now, cfg.goals.max_active);
    const text = renderGoals(goals);
    if (text !== files.goals) out["goals.md"] = text;
  }

  // Reflections
  const reflectionsFile = parseReflectionsFile(files.reflections);
  problems.push(...reflectionsFile.problems);
  let reflections = reflectionsFile.entries;
  if (r.reflection?.trim()) {
    reflections = addReflection(reflections, { at, task: o.task.id, text: r.reflection }, cfg.reflections.keep_last);
  }
  if (divergent) {
    reflections = addReflection(
      reflections,
      { at, task: o.task.id, text: `[audit] I scored ${r.reward}, the audit scored ${audit!.score}: ${audit!.notes.join("; ")}` },
      cfg.reflections.keep_last,
    );
  }

  out[resultFile(o.task.id)] = renderResult(o, audit);

  const streak = negativeStreak(rewards.entries);
  const escalated = r.reward === -1 && streak > 0 && streak % cfg.watchdog.negative_streak === 0;
  const reflectionsText = renderReflections(reflections, reflectionsFile.notes);
  if (reflectionsText !== files.reflections) out["reflections.md"] = reflectionsText;

  const trailers: Record<string, string> = {
    "Task-Id": o.task.id,
    Source: o.task.source,
    Reward: String(r.reward),
    ...(audit ? { Audit: String(audit.score) } : {}),
    ...(audit?.method === "llm" ? { "Audit-Method": "llm" } : {}),
    Model: o.model,
    Attempt: String(o.attempt),
    ...(o.usage ? { "Tokens-In": String(o.usage.prompt), "Tokens-Out": String(o.usage.completion) } : {}),
    ...(o.task.from ? { "Handoff-From": o.task.from } : {}),
    ...(o.task.parent ? { "Parent-Task": o.task.parent } : {}),
    ...(r.handoff ? { "Handoff-To": r.handoff.to } : {}),
  };
  const commits: CommitPlan[] = [{ subject: `${o.agent}(task): ${o.task.id}`, body: o.task.text, trailers, files: out }];

  if (escalated) {
    const note = `[watchdog] ${streak} consecutive -1 outcomes (latest: ${o.task.id}); review recent tasks and goals before continuing.`;
    reflections = addReflection(reflections, { at, task: o.task.id, text: note }, cfg.reflections.keep_last);
    commits.push({
      subject: `${o.agent}(escalation): negative streak`,
      body: `${streak} consecutive -1 rewards, the latest on task ${o.task.id}.\n\nReason given: ${oneLine(r.reward_reason)}`,
      trailers: { "Task-Id": o.task.id, Escalation: "negative-streak", Streak: String(streak) },
      files: { "reflections.md": renderReflections(reflections, reflectionsFile.notes) },
    });
  }
  return { commits, reward: r.reward, audit, divergent, skill, archived, streak, escalated, problems };
}

export function renderResult(o: Outcome, audit?: Audit): string {
  const r = o.response;
  return [
    `# ${o.task.id}`,
    "",
    `- reward: ${r.reward}`,
    ...(audit ? [`- audit: ${audit.score} (${audit.method.replace("_", "-")}${audit.notes.length ? `: ${audit.notes.join("; ")}` : ""})`] : []),
    `- reason: ${oneLine(r.reward_reason, 500)}`,
    `- model: ${o.model}`,
    `- source: ${o.task.source}`,
    `- attempt: ${o.attempt}`,
    ...(o.usage ? [`- tokens: ${o.usage.prompt} in, ${o.usage.completion} out${o.usage.reasoning ? ` (${o.usage.reasoning} reasoning)` : ""}`] : []),
    `- at: ${isoSecond(o.now)}`,
    ...(o.task.from ? [`- from: ${o.task.from}`] : []),
    ...(r.skill && r.reward === 1 ? [`- skill: ${r.skill.name}`] : []),
    ...(r.handoff ? [`- handoff: ${r.handoff.to} (${r.handoff.priority})`] : []),
    "",
    "## Task",
    "",
    o.task.text.trim(),
    "",
    "## Answer",
    "",
    r.answer.trim(),
    "",
  ].join("\n");
}
