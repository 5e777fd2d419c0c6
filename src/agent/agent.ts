// One running agent: its task sources, scheduler, ledger and repository, and the
// worker step for each task: claim -> prompt -> LLM -> apply -> commit -> release.
// Everything that touches this agent's files goes through here; agents never share
// a lock, so one slow or broken agent never holds up another.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { readdir, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, join, relative } from "node:path";
import type { AgentConfig, AgentsFile } from "../config/schema.js";
import type { AgentStatus } from "../store/status-file.js";
import { AgentRepo } from "../commit/git/repo.js";
import { applyOutcome, type Applied } from "../apply/apply.js";
import { fallbackAudit, GRADE_FORMAT, llmGrader, type Audit, type Grader } from "../apply/audit.js";
import { parseGoals } from "../store/goals.js";
import { formatProblem, isoSecond, oneLine, slugify } from "../store/markdown.js";
import { buildPrompt, type BuiltPrompt } from "../work/prompt.js";
import { appendReflection } from "../apply/reflections.js";
import { parseReflections } from "../store/reflections.js";
import { countTotals, parseRewards, type Reward, type Totals } from "../store/rewards.js";
import { parseSkills, skillsOf } from "../store/skills.js";
import { StepError, type StepModel, type StepResult } from "../work/llm/types.js";
import type { Logger } from "../log.js";
import { AgentQueue, type QueueSettings, type Schedulable } from "../schedule/agent-queue.js";
import { requeueState, writeDeadLetter, type DeadLetterReason } from "../store/dead-letters.js";
import { agentAuthor } from "./bootstrap.js";
import { ensureDir, readTextIfExists, removeStaleTemps, TextCache, writeFileAtomic } from "../store/files.js";
import { agentPaths, isMessageFileName, sharedPaths, type AgentPaths } from "../store/layout.js";
import { acquireLease, LEASE_STALE_MS, readLease, releaseLease, touchLease, writeLease, type Lease } from "../store/lease.js";
import { Ledger } from "../store/ledger.js";
import type { ParsedBlock, TaskBlock } from "../parse/task-blocks.js";
import { serializeBlock, taskTextProblem } from "../parse/serialize.js";
import { blockKey, recoverSpools, TaskSource, type SourceKind, type SourceRead } from "../source/task-source.js";
import { Committer } from "../commit/committer.js";
import type { ExternalEffect, TaskIntent } from "../commit/intent.js";

export interface AgentEvents {
  taskDone?(agent: string, info: { id: string; reward: number; audit?: number; source: SourceKind; seconds: number; llmSeconds: number; promptTokens: number }): void;
  taskFailed?(agent: string, info: { id: string; error: string; attempt: number }): void;
  deadLetter?(agent: string, reason: DeadLetterReason): void;
  escalation?(agent: string, kind: string): void;
  /** A group commit made `tasks` task outcomes durable together. */
  groupCommitted?(agent: string, tasks: number): void;
}

export interface AgentContext {
  dataDir: string;
  file: AgentsFile;
  model: StepModel;
  log: Logger;
  now: () => Date;
  /** Names of every agent in agents.yaml (handoff targets). */
  knownAgents: () => Set<string>;
  events?: AgentEvents;
  /** Test hook: SIGKILL ourselves at a named point (`AGENTOS_CRASH_AT`). */
  crashAt?: string;
  /** Where requests for a watchdog webhook go (injectable for tests). */
  postWebhook?: (url: string, body: unknown) => Promise<void>;
  /** The reward audit's grader for `reward_audit.method: llm`; default: a grader prompt to `model.chat`. */
  grader?: Grader;
}

/** A task the model has answered. */
interface Outcome {
  t: TrackedTask;
  result: StepResult;
  prompt: BuiltPrompt;
  attempt: number;
  graded?: Audit;
  started: number;
}

interface TrackedTask extends Schedulable {
  block: TaskBlock;
  source: TaskSource;
  firstSeen: Date;
  expiresAt?: number;
  lastError?: string;
  retryTimer?: NodeJS.Timeout;
  /** Dead-lettered by the TTL sweeper: p-queue may still hold it, and must not run it. */
  expired?: boolean;
}


const PROBE_MIN_MS = 5_000;
const PROBE_MAX_MS = 300_000;

export class AgentRuntime {
  readonly name: string;
  readonly paths: AgentPaths;
  private config: AgentConfig;
  private readonly repo: AgentRepo;
  private readonly ledger: Ledger;
  /** Outcomes applied in memory until their group commit (worker/committer.ts). */
  private readonly committer: Committer;
  private queue!: AgentQueue<TrackedTask>;
  private readonly sources = new Map<string, TaskSource>();
  private readonly reading = new Map<TaskSource, Promise<void>>();
  private readonly dirty = new Set<TaskSource>();
  private readonly tasks = new Map<string, TrackedTask>();
  private readonly sourceErrors = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private applyChain: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private seq = 0;
  private stopped = false;
  private pausedState?: { reason: string; since: string; probeMs: number };
  private cleanupTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private lease?: Lease;
  private readonly log: Logger;
  /** Outcome of every task this process finished: for `run --once`. */
  readonly finished = { ok: 0, failed: 0, dead: 0 };
  /** Set when another runtime took this agent's lease over (this one stopped it). */
  takenOverBy?: string;

  constructor(
    config: AgentConfig,
    private ctx: AgentContext,
  ) {
    this.name = config.name;
    this.config = config;
    this.paths = agentPaths(ctx.dataDir, config.name);
    this.repo = new AgentRepo(this.paths.dir, agentAuthor(config.name));
    this.ledger = new Ledger(this.paths.ledger);
    this.log = ctx.log.child("agent").child(config.name);
    this.committer = new Committer({
      repo: this.repo,
      ledger: this.ledger,
      repoDir: this.paths.dir,
      intentsDir: this.paths.intents,
      log: this.log,
      now: () => this.ctx.now(),
      crash: (point) => this.crash(point),
      exclusive: (fn) => this.exclusive(fn),
      readFile: (path) => this.promptFiles.read(path),
      onDurable: (key, how, why) => this.durable(key, how, why),
      onGroup: (tasks) => {
        if (tasks) this.ctx.events?.groupCommitted?.(this.name, tasks);
        this.scheduleCleanup();
      },
    });
  }

  private get shared() {
    return sharedPaths(this.ctx.dataDir, this.ctx.file.iac.dead_letter_path);
  }

  private queueSettings(): QueueSettings {
    const cls = this.ctx.file.throughput_classes[this.config.throughput_class];
    const bp = this.ctx.file.iac.backpressure;
    const depth = bp.enabled ? (bp.max_queue_depth_per_agent ?? cls.max_queue_depth) : Number.POSITIVE_INFINITY;
    return { concurrency: cls.concurrency, depth: Math.max(depth, cls.concurrency), perMinute: cls.per_minute, agingMs: bp.aging_seconds * 1000 };
  }

  /** Takes the lease, finishes what a crash left half done, and reads every source. */
  /** Takes ownership of the agent (before anything writes to its repository). */
  async acquire(): Promise<void> {
    await ensureDir(this.paths.state);
    for (let waited = false; ; ) {
      const lease = await acquireLease(this.paths.lease, this.name, this.ctx.now());
      if (lease.ok) {
        this.lease = lease.lease;
        this.leaseIno = statSync(this.paths.lease).ino;
        return;
      }
      // Our own pid on our own host, yet not us: this container before a kill (docker rm -f,
      // OOM) or another container's PID 1. Only the heartbeat can tell; wait for it to go
      // stale rather than give up, so a replacement container starts by itself.
      const o = lease.owner;
      if (o.host !== hostname() || o.pid !== process.pid) throw new Error(lease.message);
      if (!waited) this.log.warn(`${lease.message} — pid ${o.pid} is also ours (a previous run of this container?); waiting up to ${LEASE_STALE_MS / 1000} s for its heartbeat to stop`);
      waited = true;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  async start(): Promise<void> {
    if (!this.lease) await this.acquire();
    // What the last run left: a restart of 1,000 idle agents need not rewrite them all.
    this.lastStatus = await readTextIfExists(join(this.paths.state, "status.json"));
    const ledgerExisted = (await readTextIfExists(this.paths.ledger)) !== undefined;
    this.ledger.load();
    if (!ledgerExisted) {
      const adopted = this.ledger.adoptFromGit(await this.taskIdsInGit());
      if (adopted) this.log.info(`rebuilt the processed ledger from git: ${adopted} task(s)`);
    }
    const mailboxes = [join(this.shared.inboxRoot, this.name), join(this.shared.handoffsRoot, this.name)];
    for (const dir of [this.paths.dir, this.paths.state, this.paths.intents, this.paths.spool, this.paths.skillsDir, this.paths.skillsArchive, this.paths.results, ...mailboxes]) {
      await removeStaleTemps(dir);
    }
    await this.committer.finishIntents("recovered");
    const restored = await recoverSpools(this.paths.queue, this.paths.spool, (k) => this.ledger.isHandled(k));
    if (restored) this.log.info(`put ${restored} pending block(s) back into queue.md after an interrupted compaction`);
    this.queue = new AgentQueue<TrackedTask>(this.queueSettings(), (t, release) => this.runTracked(t, release), () => this.ctx.now().getTime());
    this.addSource(this.paths.queue, "queue");
    await this.scanMessageDirs();
    await Promise.all([...this.sources.values()].map((s) => this.readSource(s)));
  }

  /** New agents.yaml values: class changes apply to what is admitted next. */
  /**
   * New agents.yaml values: class changes apply to what is admitted next. `bootstrap`
   * (regenerating persona.md and friends, maybe a commit) runs between this agent's
   * task commits, never beside one.
   */
  async reconfigure(config: AgentConfig, file: AgentsFile, bootstrap?: () => Promise<unknown>): Promise<void> {
    if (bootstrap) await this.exclusive(bootstrap);
    this.config = config;
    this.ctx = { ...this.ctx, file };
    this.queue.reconfigure(this.queueSettings());
  }

  // ── sources ────────────────────────────────────────────────────────────────

  private addSource(path: string, kind: SourceKind): TaskSource {
    let s = this.sources.get(path);
    if (!s) {
      s = new TaskSource(path, kind, this.name, this.ctx.file.tasks.settle_ms, () => this.ctx.now().getTime());
      this.sources.set(path, s);
    }
    return s;
  }

  /** The watcher saw something at `path` (queue.md or a message file of this agent). */
  onFileEvent(path: string, kind: SourceKind): void {
    if (this.stopped) return;
    void this.readSource(this.addSource(path, kind));
  }

  /** Reads a source; concurrent calls coalesce into one more read after the current one. */
  private readSource(src: TaskSource): Promise<void> {
    const running = this.reading.get(src);
    if (running) {
      this.dirty.add(src);
      return running;
    }
    const p = (async () => {
      try {
        do {
          this.dirty.delete(src);
          const r = await src.read();
          await this.handleRead(src, r);
        } while (this.dirty.has(src) && !this.stopped);
      } catch (err) {
        this.log.error(`reading ${this.rel(src.path)} failed: ${(err as Error).message}`);
      } finally {
        this.reading.delete(src);
      }
    })();
    this.reading.set(src, p);
    return p;
  }

  private async handleRead(src: TaskSource, r: SourceRead): Promise<void> {
    const where = this.rel(src.path);
    if (r.error) {
      if (this.sourceErrors.get(where) !== r.error) this.log.error(`${where}: ${r.error}; its tasks wait until it is fixed (nothing was deleted)`);
      this.sourceErrors.set(where, r.error);
      return;
    }
    if (this.sourceErrors.delete(where)) this.log.info(`${where} is readable again`);
    if (r.missing) {
      this.dropVanished(src, new Set());
      if (src.kind !== "queue") this.sources.delete(src.path);
      return;
    }
    if (r.full) this.dropVanished(src, new Set(src.knownBlocks.map(blockKey)));
    for (const pb of r.blocks) await this.handleBlock(src, pb);
    if (r.empty && src.kind !== "queue") {
      await this.deadLetter("invalid", { original: r.text ?? "", source: where, firstSeen: this.ctx.now(), attempts: 0, lastError: `${where}: no task block found (expected a \`## <task-id>\` header followed by \`task: ...\`)` });
      await unlink(src.path).catch(() => {});
      this.sources.delete(src.path);
      return;
    }
    if (r.incomplete) this.later(this.ctx.file.tasks.settle_ms + 20, () => void this.readSource(src));
    this.scheduleCleanup();
  }

  /** Waiting tasks whose block left the file (a person deleted it) are dropped, with a log line. */
  private dropVanished(src: TaskSource, present: Set<string>): void {
    for (const t of this.tasks.values()) {
      if (t.source === src && !present.has(t.key) && this.queue.withdraw(t.key)) {
        clearTimeout(t.retryTimer);
        this.tasks.delete(t.key);
        this.log.warn(`task ${t.key} was removed from ${this.rel(src.path)} before it ran; dropped`);
      }
    }
  }

  private async handleBlock(src: TaskSource, pb: ParsedBlock): Promise<void> {
    const where = `${this.rel(src.path)}:${pb.block.line}`;
    const key = blockKey(pb);
    if (pb.kind === "invalid") {
      if (this.ledger.isHandled(key)) return;
      const problems = pb.block.problems.map((p) => `${this.rel(src.path)}:${p.line}:${p.column}: ${p.message}`);
      this.log.error(`invalid task block${pb.block.id ? ` '${pb.block.id}'` : ""}: ${problems.join("; ")}`);
      await this.deadLetter("invalid", { taskId: pb.block.id, original: pb.block.raw, source: where, firstSeen: this.ctx.now(), attempts: 0, lastError: problems.join("\n") }, key);
      return;
    }
    const block = pb.block;
    const current = this.tasks.get(key);
    // Being dead-lettered as expired: a copy from another file (a requeue) is not its duplicate.
    const tracked = current?.expired && current.source !== src ? undefined : current;
    const handled = this.ledger.state(key);
    if (handled && !tracked) {
      // `dead-letters requeue` puts a dead letter back under its own id: that copy runs once more.
      const requeue = src.kind !== "queue" && (handled === "dead" || this.ledger.isRemoved(key)) ? await requeueState(this.shared.deadLetters, this.name, key, basename(src.path)) : undefined;
      if (requeue === "pending" && handled === "dead" && !(this.tasks.get(key) && !this.tasks.get(key)!.expired)) {
        this.log.info(`task ${key} was requeued from dead letters (${where}); running it again`);
      } else {
        if (this.ledger.isRemoved(key) && !requeue) await this.duplicate(src, block, `task '${key}' was already ${handled === "done" ? "processed" : "dead-lettered"} (git log --grep 'Task-Id: ${key}'); a stale copy came back in ${where}`);
        return; // else: processed, and compaction will take the block out of its file
      }
    }
    if (tracked) {
      if (tracked.source === src && tracked.block.start === block.start) {
        if (tracked.block.raw !== block.raw && this.queue.isWaiting(key)) {
          this.queue.withdraw(key);
          tracked.block = block;
          tracked.priority = block.priority;
          this.queue.offer(tracked);
        }
        return;
      }
      // The same block moved by a compaction (or re-read whole after a foreign append): only the
      // blank lines after it may differ, since they depend on what was appended next.
      if (tracked.source === src && tracked.block.raw.trimEnd() === block.raw.trimEnd()) {
        tracked.block = block;
        return;
      }
      await this.duplicate(src, block, `task id '${key}' is already queued at ${this.rel(tracked.source.path)}:${tracked.block.line}`);
      return;
    }
    if (src.kind === "handoff" && (block.hops ?? 0) > this.ctx.file.iac.max_hops) {
      await this.deadLetter("hop_limit", { taskId: key, original: block.raw, source: where, firstSeen: this.ctx.now(), attempts: 0, lastError: `hops ${block.hops} is over iac.max_hops ${this.ctx.file.iac.max_hops}` }, key);
      return;
    }
    const firstSeen = this.ctx.now();
    const ttl = block.ttlSeconds ?? (src.kind === "queue" ? undefined : this.ctx.file.iac.default_message_ttl);
    // A `created:` in the future counts as now (harden): a message cannot make itself immortal.
    const born = block.created ? Math.min(Date.parse(block.created), firstSeen.getTime()) : firstSeen.getTime();
    const t: TrackedTask = {
      key,
      priority: block.priority,
      seq: this.seq++,
      seenAt: firstSeen.getTime(),
      block,
      source: src,
      firstSeen,
      expiresAt: ttl === undefined ? undefined : born + ttl * 1000,
    };
    if (t.expiresAt !== undefined && t.expiresAt <= firstSeen.getTime()) {
      this.tasks.set(key, t);
      await this.expire(t);
      return;
    }
    this.tasks.set(key, t);
    this.queue.offer(t);
    if (t.expiresAt !== undefined) this.scheduleSweep();
  }

  private async duplicate(src: TaskSource, block: TaskBlock, why: string): Promise<void> {
    const dupKey = `dup:${block.id}:${block.start}:${block.raw.length}`;
    if (this.ledger.isHandled(dupKey)) return;
    this.log.warn(`duplicate task: ${why}`);
    await this.deadLetter("duplicate", { taskId: block.id, original: block.raw, source: `${this.rel(src.path)}:${block.line}`, firstSeen: this.ctx.now(), attempts: 0, lastError: why }, dupKey);
    // Mark this exact copy handled so compaction takes it out of the file.
    this.duplicateCopies.add(`${src.path}\0${block.start}\0${block.raw}`);
  }

  private readonly duplicateCopies = new Set<string>();
  /** Keys of tasks whose worker step is running now (the REST API tells running from ready). */
  private readonly runningKeys = new Set<string>();

  private async runTracked(t: TrackedTask, release: () => void): Promise<void> {
    this.runningKeys.add(t.key);
    try {
      await this.runTask(t, release);
    } finally {
      this.runningKeys.delete(t.key);
    }
  }

  private isKeyHandled = (key: string): boolean => this.ledger.isHandled(key);

  private isBlockHandled = (src: TaskSource, b: ParsedBlock): boolean => {
    if (this.duplicateCopies.size > 0 && this.duplicateCopies.has(`${src.path}\0${b.block.start}\0${b.block.raw}`)) return true;
    const key = blockKey(b);
    if (!this.ledger.isHandled(key)) return false;
    // Still tracked from this file (a requeued dead letter runs under its old id): not yet.
    const t = this.tasks.get(key);
    if (t && t.source === src && !t.expired) return false;
    // A tracked task with this key in another place is a different copy: not this one.
    return true;
  };

  /** Soon after tasks finish: take handled blocks out of queue.md, delete finished message files. */
  private scheduleCleanup(): void {
    if (this.cleanupTimer || this.stopped) return;
    this.cleanupTimer = setTimeout(() => {
      this.cleanupTimer = undefined;
      void this.cleanup();
    }, 50);
  }

  private async cleanup(messagesOnly = false): Promise<void> {
    for (const src of [...this.sources.values()]) {
      if (messagesOnly && src.kind === "queue") continue;
      if (this.reading.has(src)) {
        this.scheduleCleanup();
        continue;
      }
      const handledHere = src.knownBlocks.filter((b) => this.isBlockHandled(src, b));
      if (handledHere.length === 0) continue;
      const hold = (async () => {
        if (src.kind === "queue") {
          const bytes = src.knownBlocks.reduce((n, b) => n + b.block.raw.length, 0);
          const done = handledHere.reduce((n, b) => n + b.block.raw.length, 0);
          // Small files are compacted at once; big ones when half is done, so a 10,000-block
          // backlog is rewritten a handful of times, not once per task.
          const anyActive = [...this.tasks.values()].some((t) => t.source === src);
          if (bytes > 64 * 1024 && done * 2 < bytes && anyActive) return;
          const removed = await src.compact((b) => this.isBlockHandled(src, b), this.paths.spool, this.isKeyHandled);
          if (removed) {
            this.ledger.markRemoved(removed);
            for (const b of src.knownBlocks) {
              const t = this.tasks.get(blockKey(b));
              if (t && t.source === src) t.block = b.kind === "task" ? b.block : t.block;
            }
            this.duplicateCopies.clear();
            this.later(2_000, () => void src.checkSpools(this.isKeyHandled));
            this.later(12_000, () => void src.checkSpools(this.isKeyHandled));
          }
        } else if (src.knownBlocks.every((b) => this.isBlockHandled(src, b)) && !src.isIncomplete) {
          // Someone added to the message file since we read it: read it again, do not delete.
          if (!(await src.unchangedSinceRead())) return void this.dirty.add(src);
          await unlink(src.path).catch(() => {});
          this.ledger.markRemoved(handledHere.map(blockKey));
          this.sources.delete(src.path);
        }
      })();
      this.reading.set(src, hold.then(() => undefined));
      try {
        await hold;
      } catch (err) {
        this.log.error(`cleaning up ${this.rel(src.path)} failed: ${(err as Error).message}`);
      } finally {
        this.reading.delete(src);
        if (this.dirty.has(src)) void this.readSource(src);
      }
    }
  }

  /** Finds message files the watcher may have missed (also the safety-net scan). */
  async scanMessageDirs(): Promise<void> {
    const dirs: [string, SourceKind][] = [
      [join(this.shared.inboxRoot, this.name), "inbox"],
      [join(this.shared.handoffsRoot, this.name), "handoff"],
    ];
    for (const [dir, kind] of dirs) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names.filter(isMessageFileName)) {
        const path = join(dir, n);
        if (!this.sources.has(path)) void this.readSource(this.addSource(path, kind));
      }
    }
  }

  /** The slow safety net: re-read every source (cheap when nothing changed) and look for new files. */
  async reconcile(): Promise<void> {
    if (this.stopped) return;
    await this.scanMessageDirs();
    for (const s of this.sources.values()) {
      await s.checkSpools(this.isKeyHandled).catch(() => {});
      // A stat, not a read and parse, for the files that did not change (1,000 idle agents).
      if (!s.unchangedSinceSettledRead()) void this.readSource(s);
    }
    await this.sweep(); // the sweep timer's safety net when the clock jumped (suspend, injected clock)
  }

  private beating: Promise<void> = Promise.resolve();

  /** Refreshes the lease and the status snapshot; stop() waits for one under way. */
  heartbeat(): Promise<void> {
    this.beating = this.beating.then(() => this.beat()).catch((err: unknown) => this.log.warn(`heartbeat failed: ${(err as Error).message}`));
    return this.beating;
  }

  private async beat(): Promise<void> {
    if (!this.lease || this.stopped) return;
    // Cheap when nothing happened (the usual case): one stat and one utimes.
    const st = statSync(this.paths.lease, { throwIfNoEntry: false });
    if (st?.ino !== this.leaseIno) {
      const current = await readLease(this.paths.lease);
      if (current?.token && current.token !== this.lease.token) {
        // Another runtime took the agent over (we were stalled past the stale limit): two
        // owners would commit side by side, so this one steps back.
        this.log.error(`pid ${current.pid} on host ${current.host} took over this agent's lease; stopping it here`);
        this.takenOverBy = `pid ${current.pid} on host ${current.host}`;
        this.lease = undefined;
        void this.stop(this.ctx.file.tasks.retry_delay_ms);
        return;
      }
      if (!current) await writeLease(this.paths.lease, this.lease); // deleted by someone: ours again
      this.leaseIno = statSync(this.paths.lease).ino;
    }
    // The wall clock, not ctx.now(): other processes judge this heartbeat by theirs.
    const now = new Date();
    touchLease(this.paths.lease, now);
    this.lease = { ...this.lease, heartbeat: now.toISOString() };
    // Only when it changed: 1,000 idle agents rewrote (and fsynced) it every 10 s for nothing.
    const status = JSON.stringify(this.status()) + "\n";
    if (status === this.lastStatus) return;
    await writeFileAtomic(join(this.paths.state, "status.json"), status).then(() => (this.lastStatus = status), () => {});
  }

  /** Inode of our lease file: another runtime taking it over replaces the file. */
  private leaseIno?: number;
  private lastStatus?: string;

  // ── TTL ────────────────────────────────────────────────────────────────────

  private scheduleSweep(): void {
    if (this.stopped) return;
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.tasks.values()) if (t.expiresAt !== undefined && !t.expired && !this.runningKeys.has(t.key)) next = Math.min(next, t.expiresAt);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, Math.min(next - this.ctx.now().getTime(), 60_000)) + 5;
    this.sweepTimer = setTimeout(() => void this.sweep(), delay);
    this.sweepTimer.unref?.();
  }

  /**
   * Dead-letters every task whose TTL has passed and that is not running, wherever it
   * is: waiting in its file, admitted behind a long task, or waiting for a retry.
   */
  async sweep(): Promise<void> {
    const now = this.ctx.now().getTime();
    for (const t of [...this.tasks.values()]) {
      if (t.expiresAt === undefined || t.expiresAt > now || t.expired || this.runningKeys.has(t.key)) continue;
      this.queue.withdraw(t.key);
      clearTimeout(t.retryTimer);
      await this.expire(t);
    }
    this.scheduleSweep();
  }

  private async expire(t: TrackedTask): Promise<void> {
    if (t.expired) return;
    t.expired = true;
    const age = Math.round((this.ctx.now().getTime() - (t.block.created ? Date.parse(t.block.created) : t.firstSeen.getTime())) / 1000);
    await this.deadLetter("expired", {
      taskId: t.key,
      original: t.block.raw,
      source: `${this.rel(t.source.path)}:${t.block.line}`,
      firstSeen: t.firstSeen,
      attempts: this.ledger.attemptsOf(t.key),
      lastError: t.lastError ?? `expired ${age} s after it was created (ttl ${Math.round(((t.expiresAt ?? 0) - (t.block.created ? Date.parse(t.block.created) : t.firstSeen.getTime())) / 1000)} s)`,
    }, t.key, `${this.name}(escalation): ${t.key} expired`);
    if (this.tasks.get(t.key) === t) this.tasks.delete(t.key); // a requeued copy may have taken its place
  }

  // ── worker ─────────────────────────────────────────────────────────────────

  private crash(point: string): void {
    if (!this.ctx.crashAt) return;
    const [name, nth] = this.ctx.crashAt.split("@");
    if (name !== point) return;
    crashCounts.set(point, (crashCounts.get(point) ?? 0) + 1);
    if (crashCounts.get(point)! >= Number(nth ?? 1)) process.kill(process.pid, "SIGKILL");
  }

  private async runTask(t: TrackedTask, release: () => void): Promise<void> {
    if (this.stopped || t.expired) return;
    if (t.expiresAt !== undefined && t.expiresAt <= this.ctx.now().getTime()) return this.expire(t);
    const attempt = this.ledger.attemptsOf(t.key) + 1;
    this.ledger.markAttempt(t.key, attempt);
    const started = performance.now();
    let applied = false;
    try {
      if (this.committer.isUnfinished(t.key)) {
        // The outcome is computed and recorded already; only its writes or commit failed.
        // Finish that, never ask the model again (a second apply would double the effect).
        await this.exclusive(() => this.committer.finishIntents("finished"));
        return;
      }
      this.crash("before-llm");
      const prompt = await this.buildPrompt(t);
      this.log.info(`Processing task: ${t.key}`, { source: t.source.kind, attempt, model: this.ctx.model.name });
      const result = await this.ctx.model.step(prompt.messages, this.abort.signal);
      this.crash("after-llm");
      if (this.pausedState) {
        this.log.info(`provider answers again; resuming`);
        this.pausedState = undefined;
      }
      const graded = await this.grade(t, result);
      const { committed } = await this.apply({ t, result, prompt, attempt, graded, started });
      // Applied: from here a shutdown no longer cuts it short (the committer finishes it).
      applied = true;
      // The model's slot goes to the next task now: this outcome is applied (the next
      // prompt sees it) and is made durable with whatever else finishes meanwhile.
      release();
      await committed;
    } catch (err) {
      if (this.abort.signal.aborted && !applied) {
        this.ledger.markAttempt(t.key, attempt - 1);
        return;
      }
      if (err instanceof StepError && err.kind === "pause") {
        this.ledger.markAttempt(t.key, attempt - 1);
        this.pause(err.message);
        this.queue.offer(t);
        return;
      }
      if (this.pausedState && err instanceof StepError) {
        // The provider answered with something other than "refused": it is reachable again.
        this.log.info(`provider answers again; resuming`);
        this.pausedState = undefined;
        this.queue.resume();
      }
      await this.failed(t, attempt, err);
    }
  }

  /** A failed attempt: retried after a growing delay, or dead-lettered at the delivery limit. */
  private async failed(t: TrackedTask, attempt: number, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    if (this.stopped) {
      // Shutting down: no retry timer and no dead letter now; the task is still in its
      // file and runs again after the restart (its attempts are counted).
      this.log.warn(`task ${t.key} failed while stopping (attempt ${attempt}): ${message}; it runs again after restart`);
      return;
    }
    t.lastError = message;
    this.ctx.events?.taskFailed?.(this.name, { id: t.key, error: message, attempt });
    if (attempt >= this.ctx.file.tasks.max_attempts && !this.committer.isUnfinished(t.key)) {
      this.log.error(`task ${t.key} failed ${attempt} time(s); moving it to dead letters: ${message}`);
      await this.deadLetter("delivery_limit", {
        taskId: t.key,
        original: t.block.raw,
        source: `${this.rel(t.source.path)}:${t.block.line}`,
        firstSeen: t.firstSeen,
        attempts: attempt,
        lastError: message,
      }, t.key, `${this.name}(escalation): ${t.key} failed ${attempt} times`);
      this.tasks.delete(t.key);
      return;
    }
    const delay = this.ctx.file.tasks.retry_delay_ms * 2 ** (attempt - 1);
    this.finished.failed++;
    this.log.warn(`task ${t.key} failed (attempt ${attempt}/${this.ctx.file.tasks.max_attempts}): ${message}; retrying in ${delay / 1000} s`);
    t.retryTimer = this.later(delay, () => {
      t.retryTimer = undefined;
      if (this.tasks.get(t.key) === t) this.queue.offer(t);
    });
    this.later(0, () => this.scheduleSweep()); // once it no longer counts as running: its TTL runs on while it waits
  }

  private pause(reason: string): void {
    const probeMs = this.pausedState ? Math.min(PROBE_MAX_MS, this.pausedState.probeMs * 2) : PROBE_MIN_MS;
    if (!this.pausedState) this.log.error(`paused: ${reason}. Its tasks stay queued; it retries by itself every few minutes.`);
    this.pausedState = { reason, since: this.pausedState?.since ?? this.ctx.now().toISOString(), probeMs };
    this.queue.pause();
    this.later(probeMs, () => this.queue.resume());
  }

  /** Runs fn after every earlier apply of this agent: state files and commits are serialized. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.applyChain.then(fn, fn);
    this.applyChain = next.catch(() => {});
    return next;
  }

  /** The files every prompt is built from, re-read only when they change. */
  private readonly promptFiles = new TextCache();
  private readonly refusedSegments = new Set<string>();

  private segmentRefused(name: string, err: Error): string {
    if (!this.refusedSegments.has(`${name}\0${err.message}`)) this.log.error(`segment '${name}' left out of the prompt: ${err.message}`);
    this.refusedSegments.add(`${name}\0${err.message}`);
    return "";
  }

  private async buildPrompt(t: TrackedTask): Promise<BuiltPrompt> {
    const p = this.paths;
    // Pending outcomes first (the task before this one may not be committed yet).
    const read = (f: string) => {
      const rel = relative(p.dir, f);
      return rel.startsWith("..") ? this.promptFiles.read(f) : this.committer.read(rel);
    };
    const [systemPrompt, constraints, skillsText, goalsText, rewardsText, reflectionsText] = await Promise.all(
      [p.systemPrompt, p.constraints, p.skills, p.goals, p.rewards, p.reflections].map((f) => read(f).then((x) => x ?? "")),
    );
    const skills = skillsOf(parseSkills(skillsText!));
    const skillTexts: Record<string, string> = {};
    await Promise.all(
      skills.map(async (s) => {
        const text = await read(join(p.dir, s.file)).catch(() => undefined);
        if (text) skillTexts[s.slug] = text;
      }),
    );
    const segments = await Promise.all(
      // harden: a segment that is a link or a special file is left out (said once), not read through, and the task still runs.
      this.config.segments.map(async (name) => ({ name, text: (await read(join(this.shared.segments, `${name}.md`)).catch((err: Error) => this.segmentRefused(name, err))) ?? "" })),
    );
    const built = buildPrompt({
      agent: this.name,
      systemPrompt: systemPrompt!,
      constraints: constraints!,
      task: { id: t.key, text: t.block.task, from: t.block.from, parent: t.block.parent },
      skills,
      skillTexts,
      activeGoals: parseGoals(goalsText!).active.map((g) => g.text),
      rewards: parseRewards(rewardsText!).entries,
      reflections: parseReflections(reflectionsText!),
      segments,
      maxTokens: this.ctx.file.prompt.max_tokens,
    });
    if (built.dropped.length) {
      this.log.debug(`prompt for ${t.key} left out ${built.dropped.map((d) => `${d.count} ${d.part}`).join(", ")} to stay within ${this.ctx.file.prompt.max_tokens} tokens`);
    }
    return built;
  }

  /** `reward_audit.method: llm`: one grader call outside the apply lock; on any failure the rule-based audit, saying why. */
  private async grade(t: TrackedTask, result: StepResult): Promise<Audit | undefined> {
    const cfg = this.ctx.file.reward_audit;
    if (!cfg.enabled || cfg.method !== "llm") return undefined;
    const r = result.response;
    const input = { reward: r.reward, answer: r.answer, rewardReason: r.reward_reason, skill: r.skill, task: { id: t.key, text: t.block.task } };
    const model = this.ctx.model;
    const grader = this.ctx.grader ?? (model.chat ? llmGrader((m, signal) => model.chat!(m, { signal, format: GRADE_FORMAT })) : undefined);
    if (!grader) return fallbackAudit(input, `model '${model.name}' cannot grade`);
    try {
      return await grader(input, this.abort.signal);
    } catch (err) {
      if (this.abort.signal.aborted) throw err;
      const why = oneLine((err as Error).message ?? String(err), 200);
      this.log.warn(`reward audit grader failed on ${t.key} (${why}); using the rule-based audit`);
      return fallbackAudit(input, why);
    }
  }

  /** Totals of every task outcome in git history: for a rewards.md whose totals line is gone. */
  private async rewardTotalsFromGit(): Promise<Totals> {
    const outcomes: { reward: Reward; audit?: Reward }[] = [];
    for (const c of await this.repo.log(1_000_000)) {
      const reward = c.trailers.Reward;
      if (!c.subject.includes("(task):") || !/^-?[01]$/.test(reward ?? "")) continue;
      const audit = c.trailers.Audit;
      outcomes.push({ reward: Number(reward) as Reward, audit: /^-?[01]$/.test(audit ?? "") ? (Number(audit) as Reward) : undefined });
    }
    return countTotals(outcomes);
  }

  /** Problems in hand-edited learning files, each logged once per process. */
  private readonly reportedProblems = new Set<string>();

  /**
   * Applies an outcome in memory, on top of the ones still waiting for their commit, and
   * hands it to the committer. Resolves once applied, to a promise of its commit.
   */
  private apply(o: Outcome): Promise<{ committed: Promise<void> }> {
    return this.committer.apply(async () => {
      const onDisk = (await readdir(this.paths.skillsArchive).catch(() => [] as string[])).map((n) => `skills/archive/${n}`);
      const archived = [...new Set([...onDisk, ...this.committer.pendingPaths("skills/archive")])];
      const { task, applied } = await this.planOutcome(o, this.committer.read, archived);
      return { task, onDone: () => this.reportDone(o, applied) };
    });
  }

  /** A task's outcome is durable: it leaves this agent's bookkeeping. */
  private durable(key: string, how: "committed" | "finished" | "recovered" | "stuck", why?: string): void {
    const t = this.tasks.get(key);
    if (t?.retryTimer) clearTimeout(t.retryTimer);
    this.tasks.delete(key);
    if (how === "stuck") {
      // Its effect may be partly in git already: never run it again; a person decides.
      void this.deadLetter("delivery_limit", {
        taskId: key,
        original: t?.block.raw ?? `(the block is gone from its file; the outcome is in the intent named below)\n`,
        source: t ? `${this.rel(t.source.path)}:${t.block.line}` : "(recorded outcome)",
        firstSeen: t?.firstSeen ?? this.ctx.now(),
        attempts: this.ledger.attemptsOf(key),
        lastError: why,
      }, key).catch((err: unknown) => this.log.error(`dead letter for ${key} failed: ${(err as Error).message}`));
      return;
    }
    if (t) this.finished.ok++;
    if (how === "finished") this.log.info(`finished task ${key} from its recorded outcome`);
    if (how === "recovered") this.log.info(`finished task ${key} left half-applied by an earlier run`);
  }

  /** One outcome applied to the learning files as `read` shows them: the commits and messages it makes. */
  private async planOutcome(o: Outcome, read: (rel: string) => Promise<string | undefined>, archived: string[]): Promise<{ task: TaskIntent; applied: Applied }> {
    const { t, result } = o;
    const now = this.ctx.now();
    // Read right before applying: a person's edits since the prompt win.
    const [skills, goals, rewards, reflections] = await Promise.all(["skills.md", "goals.md", "rewards.md", "reflections.md"].map((f) => read(f).then((x) => x ?? "")));
    const skillTexts: Record<string, string | undefined> = {};
    const r = result.response;
    const toRead = skillsOf(parseSkills(skills!)).map((s) => [s.slug, s.file] as const);
    if (r.reward === 1 && r.skill) toRead.push([slugify(r.skill.name), `skills/${slugify(r.skill.name)}.md`]);
    await Promise.all(
      toRead.map(async ([slug, file]) => {
        skillTexts[slug] ??= await read(file).catch(() => undefined);
      }),
    );
    const rewardHistory = parseRewards(rewards!).totalsFound ? undefined : await this.rewardTotalsFromGit();
    if (rewardHistory) this.log.info(`rewards.md has no totals line; rebuilt it from git history (${rewardHistory.plus + rewardHistory.zero + rewardHistory.minus} outcomes)`);
    const applied = applyOutcome(
      { skills: skills!, goals: goals!, rewards: rewards!, reflections: reflections!, skillTexts, archived, rewardHistory },
      {
        agent: this.name,
        task: { id: t.key, text: t.block.task, source: t.source.kind, from: t.block.from, parent: t.block.parent },
        response: r,
        model: result.model,
        attempt: o.attempt,
        usedSkills: o.prompt.usedSkills,
        now,
        audit: o.graded,
      },
      this.ctx.file,
    );
    for (const problem of applied.problems.map(formatProblem)) {
      if (!this.reportedProblems.has(problem)) this.log.warn(problem);
      this.reportedProblems.add(problem);
    }

    const external: ExternalEffect[] = [];
    if (r.handoff) {
      const handoff = await this.planHandoff(t, r.handoff, now);
      if (handoff) external.push(handoff);
      // Dead-lettered (unknown_agent, hop_limit): no chain to show in git.
      else for (const c of applied.commits) delete c.trailers["Handoff-To"];
    }
    if (r.share && r.share.note.trim()) {
      const segment = r.share.segment;
      if (/^[a-z0-9][a-z0-9_-]{0,62}$/.test(segment)) {
        const marker = `<!-- ${this.name}/${t.key} -->`;
        external.push({
          path: join(this.shared.segments, `${segment}.md`),
          content: `\n- ${oneLine(r.share.note, 1000)} (${this.name}, ${isoSecond(now)}) ${marker}\n`,
          mode: "append",
          marker,
        });
      } else this.log.warn(`task ${t.key}: share to segment '${segment}' ignored (not a valid segment name)`);
    }
    return { task: { taskId: t.key, at: now.toISOString(), commits: applied.commits, external }, applied };
  }

  /** Logs, events and the watchdog's webhook for a task whose outcome is committed. */
  private reportDone(o: Outcome, applied: Applied): void {
    const { t, result } = o;
    const r = result.response;
    const audit = applied.audit ? ` | audit: ${applied.audit.score}` : "";
    this.log.info(`Response:\n${r.answer.split("\n").slice(0, 6).join("\n")}${r.answer.split("\n").length > 6 ? "\n…" : ""}`);
    this.log.info(`Task ${t.key} done | reward: ${r.reward}${audit}${applied.skill ? ` | skill: ${applied.skill.slug}${applied.skill.isNew ? " (new)" : ""}` : ""} | model: ${result.model}`);
    if (applied.divergent) this.log.warn(`reward audit disagrees on ${t.key}: agent said ${r.reward}, audit says ${applied.audit!.score} (${applied.audit!.notes.join("; ")})`);
    for (const a of applied.archived) this.log.info(`archived skill ${a.entry.slug} to ${a.path}: ${a.reason}`);
    if (applied.escalated) {
      this.log.warn(`watchdog: ${applied.streak} consecutive -1 rewards (latest ${t.key}); escalation committed`);
      this.ctx.events?.escalation?.(this.name, "negative_streak");
      const url = this.ctx.file.watchdog.webhook_url;
      if (url && this.ctx.postWebhook) {
        void this.ctx.postWebhook(url, { agent: this.name, event: "negative_streak", streak: applied.streak, task: t.key, at: isoSecond(this.ctx.now()) }).catch((err: unknown) =>
          // Only the origin: webhook URLs (Slack, Discord) carry their secret in the path.
          this.log.warn(`watchdog webhook at ${new URL(url).origin} failed: ${(err as Error).message}`),
        );
      }
    }
    this.ctx.events?.taskDone?.(this.name, {
      id: t.key,
      reward: r.reward,
      audit: applied.audit?.score,
      source: t.source.kind,
      seconds: (performance.now() - o.started) / 1000,
      llmSeconds: result.durationMs / 1000,
      promptTokens: o.prompt.tokens,
    });
  }

  private async planHandoff(t: TrackedTask, h: { to: string; task: string; priority: "high" | "normal" | "low" }, now: Date): Promise<ExternalEffect | undefined> {
    const hops = (t.block.hops ?? 0) + 1;
    const full = `${this.name}.${t.key}`;
    // Ids are at most 128 characters; a cut one keeps a hash of the whole so two never collide.
    const id = full.length <= 128 ? full : `${full.slice(0, 119)}-${createHash("sha256").update(full).digest("hex").slice(0, 8)}`;
    const block = serializeBlock({
      id,
      task: h.task,
      priority: h.priority,
      created: isoSecond(now),
      ttlSeconds: this.ctx.file.iac.default_message_ttl,
      from: this.name,
      parent: t.key,
      hops,
    });
    const textProblem = taskTextProblem(h.task); // harden: model output with NUL/control characters is never written
    const problem = textProblem
      ? (["invalid", `handoff from ${this.name} (task ${t.key}) to '${h.to}' refused: ${textProblem}`] as const)
      : !this.ctx.knownAgents().has(h.to)
      ? (["unknown_agent", `handoff from ${this.name} (task ${t.key}) to '${h.to}', which is not in agents.yaml`] as const)
      : hops > this.ctx.file.iac.max_hops
        ? (["hop_limit", `handoff chain would reach ${hops} hops, over iac.max_hops ${this.ctx.file.iac.max_hops}`] as const)
        : undefined;
    if (problem) {
      this.log.error(`handoff dead-lettered: ${problem[1]}`);
      await this.deadLetter(problem[0], { taskId: id, original: block.replace(/^\n/, ""), source: `handoff from ${this.name}/${t.key}`, firstSeen: now, attempts: 0, lastError: problem[1] });
      return undefined;
    }
    this.log.info(`handing off to ${h.to} as ${id} (hop ${hops})`);
    return { path: join(this.shared.handoffsRoot, h.to, `${id}.md`), content: block.replace(/^\n/, ""), mode: "write" };
  }

  /** Writes a dead letter; with a subject, also commits an escalation reflection. */
  private async deadLetter(
    reason: DeadLetterReason,
    d: { taskId?: string; original: string; source: string; firstSeen: Date; attempts: number; lastError?: string },
    key?: string,
    escalationSubject?: string,
  ): Promise<void> {
    const now = this.ctx.now();
    const file = await writeDeadLetter(this.shared.deadLetters, {
      reason,
      agent: this.name,
      taskId: d.taskId,
      source: d.source,
      firstSeen: isoSecond(d.firstSeen),
      at: isoSecond(now),
      attempts: d.attempts,
      lastError: d.lastError,
      original: d.original,
    });
    if (key) this.ledger.mark(key, "dead");
    this.finished.dead++;
    this.log.warn(`dead letter (${reason}): ${d.taskId ?? "(no id)"} -> ${this.rel(file)}`);
    this.ctx.events?.deadLetter?.(this.name, reason);
    if (escalationSubject && this.stopped) this.log.warn(`not committing the escalation for ${d.taskId} while stopping; the dead letter is written`);
    else if (escalationSubject) {
      // The dead letter is what matters; a failed escalation commit is logged, never fatal
      // (it must not leave the task outstanding forever).
      await this.committer
        .apply(async () => {
          const text = (await this.committer.read("reflections.md")) ?? "";
          const note = `[escalation] ${d.taskId} went to dead letters (${reason}): ${d.lastError ?? ""}`;
          const updated = appendReflection(text, { at: isoSecond(now), task: d.taskId ?? "-", text: note }, this.ctx.file.reflections.keep_last);
          const commit = {
            subject: escalationSubject,
            body: `${note}\n\nDead letter: ${this.rel(file)}`,
            trailers: { "Task-Id": d.taskId ?? "", Escalation: reason },
            files: { "reflections.md": updated },
          };
          // Through the committer, like task outcomes: reflections.md may have pending writes.
          return { task: { taskId: `escalation:${++this.seq}`, escalation: true, at: now.toISOString(), commits: [commit], external: [] } };
        })
        .then((p) => p.committed)
        .catch((err: unknown) => this.log.error(`escalation commit for ${d.taskId} failed: ${(err as Error).message}`));
      this.ctx.events?.escalation?.(this.name, reason);
    }
    this.scheduleCleanup();
  }

  // ── recovery ───────────────────────────────────────────────────────────────

  private async taskIdsInGit(): Promise<string[]> {
    const ids: string[] = [];
    for (const c of await this.repo.log(100_000)) if (c.trailers["Task-Id"] && c.subject.includes("(task):")) ids.push(c.trailers["Task-Id"]);
    return ids;
  }

  // ── lifecycle ──────────────────────────────────────────────────────────────

  status(): AgentStatus {
    return {
      name: this.name,
      throughput_class: this.config.throughput_class,
      waiting: this.queue?.waiting ?? 0,
      ready: Math.max(0, (this.queue?.admitted ?? 0) - this.runningKeys.size),
      in_flight: this.runningKeys.size,
      retrying: [...this.tasks.values()].filter((t) => t.retryTimer !== undefined).length,
      processed: this.ledger.size,
      paused: this.pausedState ? { reason: this.pausedState.reason, since: this.pausedState.since } : undefined,
      source_errors: [...this.sourceErrors].map(([f, e]) => `${f}: ${e}`),
    };
  }

  /** Where a task is in this process (REST API): undefined if this process does not hold it. */
  taskState(id: string): { state: "waiting" | "ready" | "running" | "retrying"; attempts: number; lastError?: string } | undefined {
    const t = this.tasks.get(id);
    if (!t) return undefined;
    const attempts = this.ledger.attemptsOf(id);
    const state = this.runningKeys.has(id) ? "running" : this.queue.isWaiting(id) ? "waiting" : t.retryTimer && t.lastError ? "retrying" : "ready";
    return { state, attempts, lastError: t.lastError };
  }

  /** Age of the oldest task this process holds (by its `created`, else first sight), for metrics. */
  oldestTaskAgeSeconds(): number {
    const now = this.ctx.now().getTime();
    let oldest = now;
    for (const t of this.tasks.values()) oldest = Math.min(oldest, t.block.created ? Date.parse(t.block.created) || t.firstSeen.getTime() : t.firstSeen.getTime());
    return Math.max(0, (now - oldest) / 1000);
  }

  get isPaused(): boolean {
    return this.pausedState !== undefined;
  }

  /** Tasks known and not finished (waiting, ready, running or waiting to retry). */
  get outstanding(): number {
    return this.tasks.size;
  }

  /** Stop taking tasks; give running ones `graceMs`, then abort them (they run again after restart). */
  async stop(graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.queue?.stop();
    for (const t of this.timers) clearTimeout(t);
    if (this.cleanupTimer) clearTimeout(this.cleanupTimer);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    const deadline = Date.now() + graceMs;
    while ((this.queue?.inFlight ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if ((this.queue?.inFlight ?? 0) > 0) {
      this.log.warn(`${this.queue.inFlight} task(s) still running after the grace period; aborting them (they run again after restart)`);
      this.abort.abort(new Error("shutting down"));
      while (this.queue.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    }
    // Answers already in are committed, not thrown away.
    await this.committer.drain();
    await this.applyChain;
    await Promise.all([...this.reading.values()]);
    // Finished message files go now: left behind, they would look like new mail (or, once the
    // agent left agents.yaml, become unknown_agent dead letters that could run twice).
    await this.cleanup(true).catch(() => {});
    await this.beating; // a heartbeat under way must not write the lease after we cleared it
    // The final snapshot, for `agentos status` while stopped (and a restart then rewrites nothing).
    const status = JSON.stringify(this.status()) + "\n";
    if (status !== this.lastStatus) await writeFileAtomic(join(this.paths.state, "status.json"), status).catch(() => {});
    if (this.lease && statSync(this.paths.lease, { throwIfNoEntry: false })?.ino === this.leaseIno) {
      try {
        releaseLease(this.paths.lease);
      } catch {
        // Gone already: nothing to release.
      }
    }
    this.ledger.close();
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    // A timer set while stop() runs (a compaction finishing) must not hold the exiting
    // process for seconds; while running, the watcher keeps the process alive anyway.
    t.unref();
    this.timers.add(t);
    return t;
  }

  private rel(path: string): string {
    return relative(this.ctx.dataDir, path) || path;
  }
}

const crashCounts = new Map<string, number>();
