// The worker of one agent: runs an admitted task through its states — running (the
// step: prompt, model, grade), settling (applied in memory, its group commit under
// way), done — and decides what a failure means: the provider's fault pauses the
// agent and keeps the task; the task's own fault costs an attempt and a retry later,
// or, at the delivery limit, a dead letter.
import type { AgentConfig, AgentsFile } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Committer } from "../commit/committer.js";
import { RepoBusyError } from "../commit/git/persons-operation.js";
import type { AgentQueue } from "../schedule/agent-queue.js";
import type { DeadLetterOffice } from "../schedule/dead-letter-office.js";
import { retryDelayMs } from "../schedule/retries.js";
import type { TaskState, TaskTable, TrackedTask } from "../schedule/task-table.js";
import type { Ledger } from "../store/ledger.js";
import { StepError, type PauseCause, type StepModel } from "../work/llm/types.js";
import { step, type StepContext } from "../work/step.js";
import { grade, type Grading } from "./grade.js";
import { OutcomeApplier } from "./outcome.js";

const PROBE_MIN_MS = 5_000;
const PROBE_MAX_MS = 300_000;
const REPO_PROBE_MAX_MS = 10_000;

export interface WorkerContext {
  agent: string;
  config: () => AgentConfig;
  file: () => AgentsFile;
  table: TaskTable;
  queue: AgentQueue<TrackedTask>;
  ledger: Ledger;
  committer: Committer;
  office: DeadLetterOffice;
  applier: OutcomeApplier;
  model: StepModel;
  grading: Grading;
  /** Reads for the prompt (pending outcomes first). */
  stepContext: () => StepContext;
  log: Logger;
  now: () => Date;
  signal: AbortSignal;
  isStopping: () => boolean;
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  expire: (t: TrackedTask) => Promise<void>;
  later: (ms: number, fn: () => void) => NodeJS.Timeout;
  /** A task left running or settling: its TTL counts again. */
  onNotRunning: () => void;
  crash: (point: string) => void;
  taskFailed?: (info: { id: string; error: string; attempt: number }) => void;
  /** For `run --once`: outcomes counted as they happen. */
  finished: { ok: number; failed: number; dead: number };
}

/** The prompt as last sent to the model, for "what the agent sees" (the dashboard). */
export interface SentPrompt {
  task: string;
  at: string;
  tokens: number;
  messages: { role: string; content: string }[];
  dropped: { part: string; count: number }[];
}

export class Worker {
  lastPrompt?: SentPrompt;
  /** `probing`: the probe timer fired and the queue runs again; until then a pause is not a failed probe. */
  private paused?: { reason: string; since: string; probeMs: number; fault?: PauseCause; probing: boolean };

  constructor(private readonly ctx: WorkerContext) {}

  /** Why the agent is paused (its provider refuses or is unreachable), if it is. */
  get pause(): { reason: string; since: string; fault?: PauseCause } | undefined {
    return this.paused && { reason: this.paused.reason, since: this.paused.since, ...(this.paused.fault ? { fault: this.paused.fault } : {}) };
  }

  /** Runs one admitted task; `release()` gives its model slot to the next task before its commit. */
  readonly run = async (t: TrackedTask, release: () => void): Promise<void> => {
    const { ctx } = this;
    if (ctx.isStopping() || !ctx.table.holds(t) || t.state !== "admitted") return;
    if (t.expiresAt !== undefined && t.expiresAt <= ctx.now().getTime()) return ctx.expire(t);
    ctx.table.move(t, "running");
    const attempt = ctx.ledger.attemptsOf(t.key) + 1;
    ctx.ledger.markAttempt(t.key, attempt);
    const started = performance.now();
    let applied = false;
    try {
      // Not while a person resolves a conflict: the state files hold git's conflict markers.
      const busy = ctx.committer.repoBusy();
      if (busy) throw new RepoBusyError(busy);
      if (ctx.committer.isUnfinished(t.key)) {
        // The outcome is computed and recorded already; only its writes or commit failed.
        // Finish that, never ask the model again (a second apply would double the effect).
        ctx.table.move(t, "settling");
        await ctx.exclusive(() => ctx.committer.finishIntents("finished"));
        if (this.paused?.fault === "repository") this.answered();
        return;
      }
      ctx.crash("before-llm");
      ctx.log.info(`Processing task: ${t.key}`, { source: t.source.kind, attempt, model: ctx.model.name });
      const { prompt, result } = await step(ctx.stepContext(), { id: t.key, text: t.block.task, from: t.block.from, parent: t.block.parent }, ctx.signal, (p) => {
        this.lastPrompt = { task: t.key, at: ctx.now().toISOString(), tokens: p.tokens, messages: p.messages, dropped: p.dropped };
      });
      ctx.crash("after-llm");
      this.answered();
      const audit = await grade(ctx.grading, { key: t.key, text: t.block.task }, result, ctx.signal);
      const { committed } = await ctx.applier.apply({ t, result, prompt, attempt, audit, started });
      // Applied: from here a shutdown no longer cuts it short (the committer finishes it).
      applied = true;
      if (ctx.table.holds(t) && (t.state as TaskState) === "running") ctx.table.move(t, "settling");
      // The model's slot goes to the next task now: this outcome is applied (the next
      // prompt sees it) and is made durable with whatever else finishes meanwhile.
      release();
      await committed;
    } catch (err) {
      await this.failedRun(t, attempt, err, applied);
    } finally {
      ctx.onNotRunning();
    }
  };

  private async failedRun(t: TrackedTask, attempt: number, err: unknown, applied: boolean): Promise<void> {
    const { ctx } = this;
    const stillOurs = ctx.table.holds(t) && (t.state === "running" || t.state === "settling");
    if (ctx.signal.aborted && !applied) {
      // Cut short by a shutdown: not the task's fault, and it runs again after the restart.
      ctx.ledger.markAttempt(t.key, attempt - 1);
      if (stillOurs && t.state === "running") ctx.table.move(t, "waiting");
      return;
    }
    const repoBusy = err instanceof RepoBusyError;
    if (repoBusy || (err instanceof StepError && err.kind === "pause")) {
      // Not the task's fault: the attempt is not counted, the agent waits.
      ctx.ledger.markAttempt(t.key, attempt - 1);
      this.pauseFor(err.message, repoBusy ? "repository" : err.fault);
      // Applied, its commit refused for a person's merge: it waits its turn again (its
      // recorded outcome is finished then, or, if the group was void, it runs again).
      if (stillOurs && t.state === "settling") ctx.table.move(t, "retrying");
      if (stillOurs) {
        ctx.table.move(t, "waiting");
        ctx.queue.offer(t);
      }
      return;
    }
    if (this.paused && err instanceof StepError) this.answered(); // it answered, with something other than "refused"
    if (stillOurs) await this.failed(t, attempt, err);
  }

  /** A failed attempt: retried after a growing delay, or dead-lettered at the delivery limit. */
  private async failed(t: TrackedTask, attempt: number, err: unknown): Promise<void> {
    const { ctx } = this;
    const message = err instanceof Error ? err.message : String(err);
    if (ctx.isStopping()) {
      // Shutting down: no retry timer and no dead letter now; the task is still in its
      // file and runs again after the restart (its attempts are counted).
      ctx.log.warn(`task ${t.key} failed while stopping (attempt ${attempt}): ${message}; it runs again after restart`);
      ctx.table.move(t, "retrying");
      return;
    }
    t.lastError = message;
    ctx.taskFailed?.({ id: t.key, error: message, attempt });
    const max = ctx.file().tasks.max_attempts;
    if (attempt >= max && !ctx.committer.isUnfinished(t.key)) {
      ctx.log.error(`task ${t.key} failed ${attempt} time(s); moving it to dead letters: ${message}`);
      ctx.table.move(t, "dead");
      const lastReply = err instanceof StepError ? err.reply : undefined;
      await ctx.office.send("delivery_limit", { task: t, attempts: attempt, lastError: message, lastReply, key: t.key, escalation: `${ctx.agent}(escalation): ${t.key} failed ${attempt} times` });
      return;
    }
    const delay = retryDelayMs(ctx.file().tasks.retry_delay_ms, attempt);
    ctx.finished.failed++;
    ctx.log.warn(`task ${t.key} failed (attempt ${attempt}/${max}): ${message}; retrying in ${delay / 1000} s`);
    ctx.table.move(t, "retrying");
    t.retryTimer = ctx.later(delay, () => {
      t.retryTimer = undefined;
      if (!ctx.table.holds(t) || t.state !== "retrying") return;
      ctx.table.move(t, "waiting");
      ctx.queue.offer(t);
    });
  }

  /** A task's outcome is durable (the committer says so): it leaves the table, done or, when stuck, dead. */
  readonly durable = (key: string, how: "committed" | "finished" | "recovered" | "stuck", why?: string): void => {
    const { ctx } = this;
    const t = ctx.table.get(key);
    if (how === "stuck") {
      // Its effect may be partly in git already: never run it again; a person decides.
      if (t) {
        ctx.queue.withdraw(key);
        ctx.table.move(t, "dead");
      }
      void ctx.office.send("delivery_limit", {
        task: t,
        taskId: key,
        original: t ? undefined : `(the block is gone from its file; the outcome is in the intent named below)\n`,
        source: t ? undefined : "(recorded outcome)",
        attempts: ctx.ledger.attemptsOf(key),
        lastError: why ?? "its recorded outcome could not be carried out",
        key,
      });
      return;
    }
    if (t) {
      ctx.queue.withdraw(key);
      ctx.table.move(t, "done");
      ctx.finished.ok++;
    }
    if (how === "finished") ctx.log.info(`finished task ${key} from its recorded outcome`);
    if (how === "recovered") ctx.log.info(`finished task ${key} left half-applied by an earlier run`);
  };

  /** The provider refused or is unreachable: stop admitting, probe again later with backoff. */
  private pauseFor(reason: string, fault?: PauseCause): void {
    const { ctx } = this;
    if (this.paused && !this.paused.probing) {
      // A task that was already running when the pause began: the same outage, not a failed probe
      // (doubling here made the first probe wait 5 s × 2^concurrency).
      this.paused = { ...this.paused, reason, fault };
      return;
    }
    // A person's merge ends when they say so: looked at every few seconds (a few stats).
    const max = fault === "repository" ? REPO_PROBE_MAX_MS : PROBE_MAX_MS;
    const probeMs = this.paused ? Math.min(max, this.paused.probeMs * 2) : PROBE_MIN_MS;
    if (!this.paused) ctx.log.error(`paused: ${reason}. Its tasks stay queued; it retries by itself ${fault === "repository" ? "every few seconds" : "every few minutes"}.`);
    this.paused = { reason, since: this.paused?.since ?? ctx.now().toISOString(), probeMs, fault, probing: false };
    ctx.queue.pause();
    ctx.later(probeMs, () => {
      if (this.paused) this.paused.probing = true;
      ctx.queue.resume();
    });
  }

  /** The provider answered: a pause is over. */
  private answered(): void {
    if (!this.paused) return;
    this.ctx.log.info(this.paused.fault === "repository" ? "the repository is free again; resuming" : "provider answers again; resuming");
    this.paused = undefined;
    this.ctx.queue.resume();
  }
}
