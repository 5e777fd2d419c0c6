// What one answered task does, as values: the learning files' next texts and the
// commits that carry them (applyOutcome), the handoff message for another agent, the
// note for a shared segment, and the dead letters a bad handoff becomes. Nothing is
// written here; the committer carries the plan out (commit/intent.ts).
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { serializeBlock, taskTextProblem } from "../parse/serialize.js";
import type { DeadLetterReason } from "../store/dead-letters.js";
import { resultFile } from "../store/layout.js";
import { isoSecond, oneLine, slugify } from "../store/markdown.js";
import type { StepResponse } from "../work/llm/schema.js";
import type { StepResult } from "../work/llm/types.js";
import { applyOutcome, type Applied, type CommitPlan } from "./apply.js";
import type { Audit } from "./audit.js";
import { parseRewards, type Totals } from "../store/rewards.js";
import { parseSkills, skillsOf } from "../store/skills.js";

/** A file outside the agent's repository: a handoff message or a shared-segment note. */
export interface ExternalEffect {
  path: string;
  content: string;
  mode: "write" | "append";
  /** For appends: a unique marker that shows the note is already there. */
  marker?: string;
}

/** What one task does: its commits (files in them) and its messages to other places. */
export interface TaskIntent {
  /** The task's key; for an escalation, a key of its own (the ledger does not record it). */
  taskId: string;
  /** Not a task outcome: a note committed after a dead letter. */
  escalation?: boolean;
  /** When it was applied (ISO): the time of its commits. */
  at?: string;
  commits: CommitPlan[];
  external: ExternalEffect[];
}

export interface PlanTask {
  key: string;
  text: string;
  source: "queue" | "inbox" | "handoff";
  from?: string;
  parent?: string;
  hops?: number;
}

export interface PlanContext {
  agent: string;
  file: AgentsFile;
  now: Date;
  /** The agent's files as its pending outcomes show them, by path in its repository. */
  read(rel: string): Promise<string | undefined>;
  /** skills/archive/ entries, on disk and pending. */
  archived: string[];
  /** Reward totals from git, for a rewards.md whose totals line is gone. */
  rewardHistory(): Promise<Totals>;
  knownAgents: Set<string>;
  handoffsRoot: string;
  segmentsDir: string;
  /** A result is written at this path: the older results that leave the work tree with it (apply/results-window.ts). */
  resultWritten?(path: string): string[];
}

export interface OutcomePlan {
  task: TaskIntent;
  applied: Applied;
  /** Dead letters the outcome makes (a handoff to an unknown agent, or over the hop limit). */
  letters: { reason: DeadLetterReason; taskId: string; original: string; source: string; lastError: string }[];
  /** Lines for the log: what was done beside the commits, or ignored and why. */
  notes: { level: "info" | "warn"; text: string }[];
}

export interface Answered {
  task: PlanTask;
  result: StepResult;
  attempt: number;
  usedSkills: string[];
  audit?: Audit;
}

/** Plans one outcome on top of the files as `ctx.read` shows them (a person's edits since the prompt win). */
export async function planOutcome(ctx: PlanContext, o: Answered): Promise<OutcomePlan> {
  const r = o.result.response;
  const [skills, goals, rewards, reflections] = await Promise.all(["skills.md", "goals.md", "rewards.md", "reflections.md"].map((f) => ctx.read(f).then((x) => x ?? "")));
  const skillTexts: Record<string, string | undefined> = {};
  const toRead = skillsOf(parseSkills(skills!)).map((s) => [s.slug, s.file] as const);
  if (r.reward === 1 && r.skill) toRead.push([slugify(r.skill.name), `skills/${slugify(r.skill.name)}.md`]);
  await Promise.all(
    toRead.map(async ([slug, file]) => {
      skillTexts[slug] ??= await ctx.read(file).catch(() => undefined);
    }),
  );
  const notes: OutcomePlan["notes"] = [];
  const rewardHistory = parseRewards(rewards!).totalsFound ? undefined : await ctx.rewardHistory();
  if (rewardHistory) notes.push({ level: "info", text: `rewards.md has no totals line; rebuilt it from git history (${rewardHistory.plus + rewardHistory.zero + rewardHistory.minus} outcomes)` });
  const applied = applyOutcome(
    { skills: skills!, goals: goals!, rewards: rewards!, reflections: reflections!, skillTexts, archived: ctx.archived, rewardHistory },
    {
      agent: ctx.agent,
      task: { id: o.task.key, text: o.task.text, source: o.task.source, from: o.task.from, parent: o.task.parent },
      response: r,
      model: o.result.model,
      usage: o.result.usage,
      attempt: o.attempt,
      usedSkills: o.usedSkills,
      now: ctx.now,
      audit: o.audit,
    },
    ctx.file,
  );
  // Older results leave the work tree in this task's commit (they stay in history).
  const task = applied.commits[0]!;
  for (const gone of ctx.resultWritten?.(resultFile(o.task.key)) ?? []) task.files[gone] = null;
  const letters: OutcomePlan["letters"] = [];
  const external: ExternalEffect[] = [];
  if (r.handoff) {
    const h = planHandoff(ctx, o.task, r.handoff);
    if ("effect" in h) {
      external.push(h.effect);
      notes.push({ level: "info", text: h.note });
    } else {
      letters.push(h.letter);
      // Dead-lettered (unknown_agent, hop_limit): no chain to show in git.
      for (const c of applied.commits) delete c.trailers["Handoff-To"];
    }
  }
  if (r.share && r.share.note.trim()) {
    const share = planShare(ctx, o.task, r.share);
    if (typeof share === "string") notes.push({ level: "warn", text: share });
    else external.push(share);
  }
  return { task: { taskId: o.task.key, at: ctx.now.toISOString(), commits: applied.commits, external }, applied, letters, notes };
}

type Handoff = NonNullable<StepResponse["handoff"]>;

/** The handoff message for another agent's handoffs folder, or the dead letter it becomes. */
export function planHandoff(ctx: PlanContext, t: PlanTask, h: Handoff): { effect: ExternalEffect; note: string } | { letter: OutcomePlan["letters"][number] } {
  const hops = (t.hops ?? 0) + 1;
  const full = `${ctx.agent}.${t.key}`;
  // Ids are at most 128 characters; a cut one keeps a hash of the whole so two never collide.
  const id = full.length <= 128 ? full : `${full.slice(0, 119)}-${createHash("sha256").update(full).digest("hex").slice(0, 8)}`;
  const block = serializeBlock({
    id,
    task: h.task,
    priority: h.priority,
    created: isoSecond(ctx.now),
    ttlSeconds: ctx.file.iac.default_message_ttl,
    from: ctx.agent,
    parent: t.key,
    hops,
  }).replace(/^\n/, "");
  const maxHops = ctx.file.iac.max_hops;
  const textProblem = taskTextProblem(h.task); // harden: model output with NUL/control characters is never written
  const problem = textProblem
    ? (["invalid", `handoff from ${ctx.agent} (task ${t.key}) to '${h.to}' refused: ${textProblem}`] as const)
    : !ctx.knownAgents.has(h.to)
    ? (["unknown_agent", `handoff from ${ctx.agent} (task ${t.key}) to '${h.to}', which is not in agents.yaml`] as const)
    : hops > maxHops
      ? (["hop_limit", `handoff chain would reach ${hops} hops, over iac.max_hops ${maxHops}`] as const)
      : undefined;
  if (problem) return { letter: { reason: problem[0], taskId: id, original: block, source: `handoff from ${ctx.agent}/${t.key}`, lastError: problem[1] } };
  return { effect: { path: join(ctx.handoffsRoot, h.to, `${id}.md`), content: block, mode: "write" }, note: `handing off to ${h.to} as ${id} (hop ${hops})` };
}

/** A note appended to a shared segment, marked so a replay never adds it twice; or why it is ignored. */
export function planShare(ctx: PlanContext, t: PlanTask, share: NonNullable<StepResponse["share"]>): ExternalEffect | string {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(share.segment)) return `task ${t.key}: share to segment '${share.segment}' ignored (not a valid segment name)`;
  const marker = `<!-- ${ctx.agent}/${t.key} -->`;
  return {
    path: join(ctx.segmentsDir, `${share.segment}.md`),
    content: `\n- ${oneLine(share.note, 1000)} (${ctx.agent}, ${isoSecond(ctx.now)}) ${marker}\n`,
    mode: "append",
    marker,
  };
}
