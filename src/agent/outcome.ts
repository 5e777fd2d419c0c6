// From an answered task to its effect: the plan (apply/plan.ts) is made on top of the
// outcomes still waiting for their commit and handed to the committer; once committed,
// the seed's log lines, the events and the watchdog's webhook. Escalation notes after a
// dead letter go through the same committer, since reflections.md may have pending writes.
import type { AgentsFile } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Applied } from "../apply/apply.js";
import type { Audit } from "../apply/audit.js";
import { planOutcome } from "../apply/plan.js";
import { ResultsWindow } from "../apply/results-window.js";
import { appendReflection } from "../apply/reflections.js";
import { countTotals, type Reward, type Totals } from "../store/rewards.js";
import type { Committer } from "../commit/committer.js";
import type { AgentRepo } from "../commit/git/repo.js";
import type { DeadLetterOffice } from "../schedule/dead-letter-office.js";
import type { TrackedTask } from "../schedule/task-table.js";
import type { DeadLetterReason } from "../store/dead-letters.js";
import { formatProblem, isoSecond } from "../store/markdown.js";
import { listResults } from "../store/results-listing.js";
import { FolderListing } from "../store/files.js";
import type { BuiltPrompt } from "../work/prompt.js";
import type { StepResult } from "../work/llm/types.js";
import type { SourceKind } from "../source/task-source.js";

export interface TaskDoneInfo {
  id: string;
  reward: number;
  audit?: number;
  source: SourceKind;
  seconds: number;
  llmSeconds: number;
  promptTokens: number;
}

/** A task the model has answered. */
export interface Answer {
  t: TrackedTask;
  result: StepResult;
  prompt: BuiltPrompt;
  attempt: number;
  audit?: Audit;
  started: number;
}

export interface OutcomeContext {
  agent: string;
  file: () => AgentsFile;
  committer: Committer;
  repo: AgentRepo;
  office: DeadLetterOffice;
  log: Logger;
  now: () => Date;
  skillsArchiveDir: string;
  handoffsRoot: string;
  segmentsDir: string;
  knownAgents: () => Set<string>;
  taskDone?: (info: TaskDoneInfo) => void;
  escalation?: (kind: string) => void;
  postWebhook?: (url: string, body: unknown) => Promise<void>;
}

export class OutcomeApplier {
  /** Problems in hand-edited learning files, each logged once per process. */
  private readonly reported = new Set<string>();
  private escalations = 0;
  private window?: ResultsWindow;
  /** skills/archive as on disk (listed again when it changes). */
  private readonly archive: FolderListing;

  constructor(private readonly ctx: OutcomeContext) {
    this.archive = new FolderListing(ctx.skillsArchiveDir);
  }

  /**
   * Applies an answer in memory, on top of the ones still waiting for their commit, and
   * hands it to the committer. Resolves once applied, to a promise of its commit.
   */
  apply(a: Answer): Promise<{ committed: Promise<void> }> {
    const { ctx } = this;
    return ctx.committer.apply(async () => {
      const window = await this.resultsWindow();
      const onDisk = (await this.archive.names()).map((n) => `skills/archive/${n}`);
      const archived = [...new Set([...onDisk, ...ctx.committer.pendingPaths("skills/archive")])];
      const b = a.t.block;
      const plan = await planOutcome(
        {
          agent: ctx.agent,
          file: ctx.file(),
          now: ctx.now(),
          read: ctx.committer.read,
          archived,
          rewardHistory: () => this.rewardTotalsFromGit(),
          resultWritten: (path) => window.add(path),
          knownAgents: ctx.knownAgents(),
          handoffsRoot: ctx.handoffsRoot,
          segmentsDir: ctx.segmentsDir,
        },
        { task: { key: a.t.key, text: b.task, source: a.t.source.kind, from: b.from, parent: b.parent, hops: b.hops }, result: a.result, attempt: a.attempt, usedSkills: a.prompt.usedSkills, audit: a.audit },
      );
      for (const problem of plan.applied.problems.map(formatProblem)) {
        if (!this.reported.has(problem)) ctx.log.warn(problem);
        this.reported.add(problem);
      }
      for (const n of plan.notes) ctx.log[n.level](n.text);
      for (const l of plan.letters) {
        ctx.log.error(`handoff dead-lettered: ${l.lastError}`);
        await ctx.office.send(l.reason, { taskId: l.taskId, original: l.original, source: l.source, lastError: l.lastError, attempts: 0 });
      }
      return { task: plan.task, onDone: () => this.reportDone(a, plan.applied) };
    });
  }

  /**
   * results/ as a window of the newest results, listed from the work tree on the first
   * outcome (never at start-up: 1,000 agents start without listing anything). A plan
   * that is dropped after it took a result out of the window (its group failed before it
   * was recorded) leaves that file in the tree until the next start lists it again.
   */
  private async resultsWindow(): Promise<ResultsWindow> {
    const keep = this.ctx.file().tasks.keep_results;
    if (!this.window || this.window.keep !== keep) this.window = new ResultsWindow(await listResults(this.ctx.repo.dir), keep);
    return this.window;
  }

  /** The reflection and commit that follow a dead letter of a task that had been accepted. */
  async escalate(e: { reason: DeadLetterReason; taskId: string; lastError: string; file: string; subject: string }): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    try {
      await this.commitEscalation(e, now);
    } finally {
      ctx.escalation?.(e.reason);
    }
  }

  private async commitEscalation(e: { reason: DeadLetterReason; taskId: string; lastError: string; file: string; subject: string }, now: Date): Promise<void> {
    const { ctx } = this;
    const p = await ctx.committer.apply(async () => {
      const text = (await ctx.committer.read("reflections.md")) ?? "";
      const note = `[escalation] ${e.taskId} went to dead letters (${e.reason}): ${e.lastError}`;
      const updated = appendReflection(text, { at: isoSecond(now), task: e.taskId, text: note }, ctx.file().reflections.keep_last);
      const commit = {
        subject: e.subject,
        body: `${note}\n\nDead letter: ${e.file}`,
        trailers: { "Task-Id": e.taskId === "-" ? "" : e.taskId, Escalation: e.reason },
        files: { "reflections.md": updated },
      };
      return { task: { taskId: `escalation:${++this.escalations}`, escalation: true, at: now.toISOString(), commits: [commit], external: [] } };
    });
    await p.committed;
  }

  /** Logs, events and the watchdog's webhook for a task whose outcome is committed. */
  private reportDone(a: Answer, applied: Applied): void {
    const { ctx } = this;
    const { t, result } = a;
    const r = result.response;
    const lines = r.answer.split("\n");
    const audit = applied.audit ? ` | audit: ${applied.audit.score}` : "";
    ctx.log.info(`Response:\n${lines.slice(0, 6).join("\n")}${lines.length > 6 ? "\n…" : ""}`);
    ctx.log.info(`Task ${t.key} done | reward: ${r.reward}${audit}${applied.skill ? ` | skill: ${applied.skill.slug}${applied.skill.isNew ? " (new)" : ""}` : ""} | model: ${result.model}`);
    if (applied.divergent) ctx.log.warn(`reward audit disagrees on ${t.key}: agent said ${r.reward}, audit says ${applied.audit!.score} (${applied.audit!.notes.join("; ")})`);
    for (const x of applied.archived) ctx.log.info(`archived skill ${x.entry.slug} to ${x.path}: ${x.reason}`);
    if (applied.escalated) {
      ctx.log.warn(`watchdog: ${applied.streak} consecutive -1 rewards (latest ${t.key}); escalation committed`);
      ctx.escalation?.("negative_streak");
      const url = ctx.file().watchdog.webhook_url;
      if (url && ctx.postWebhook) {
        void ctx.postWebhook(url, { agent: ctx.agent, event: "negative_streak", streak: applied.streak, task: t.key, at: isoSecond(ctx.now()) }).catch((err: unknown) =>
          // Only the origin: webhook URLs (Slack, Discord) carry their secret in the path.
          ctx.log.warn(`watchdog webhook at ${new URL(url).origin} failed: ${(err as Error).message}`),
        );
      }
    }
    ctx.taskDone?.({
      id: t.key,
      reward: r.reward,
      audit: applied.audit?.score,
      source: t.source.kind,
      seconds: (performance.now() - a.started) / 1000,
      llmSeconds: result.durationMs / 1000,
      promptTokens: a.prompt.tokens,
    });
  }

  /** Totals of every task outcome in git history: for a rewards.md whose totals line is gone. */
  private async rewardTotalsFromGit(): Promise<Totals> {
    const outcomes: { reward: Reward; audit?: Reward }[] = [];
    for (const c of await this.ctx.repo.log(1_000_000)) {
      const reward = c.trailers.Reward;
      if (!c.subject.includes("(task):") || !/^-?[01]$/.test(reward ?? "")) continue;
      const audit = c.trailers.Audit;
      outcomes.push({ reward: Number(reward) as Reward, audit: /^-?[01]$/.test(audit ?? "") ? (Number(audit) as Reward) : undefined });
    }
    return countTotals(outcomes);
  }
}
