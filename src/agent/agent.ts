// One running agent, put together: its task files (source/), what a read of them means
// (schedule/intake), the task table and queue, the worker (work/ step, apply/ plan,
// commit/ committer), retirement of handled blocks, TTL, dead letters and its lease.
// This file only wires them and runs the agent's life cycle: start, reconfigure, status,
// stop. Agents never share a lock: one slow or broken agent never holds up another.
import { once } from "node:events";
import { relative } from "node:path";
import type { AgentConfig, AgentsFile } from "../config/schema.js";
import type { Logger } from "../log.js";
import { Committer } from "../commit/committer.js";
import { AgentRepo } from "../commit/git/repo.js";
import { AgentQueue, queueSettingsFor } from "../schedule/agent-queue.js";
import { DeadLetterOffice } from "../schedule/dead-letter-office.js";
import { Intake } from "../schedule/intake.js";
import { Retirer } from "../schedule/retire.js";
import { TaskTable, type TaskState, type TrackedTask } from "../schedule/task-table.js";
import { ExpirySweeper } from "../schedule/ttl.js";
import { SourceSet } from "../source/source-set.js";
import { recoverSpools } from "../source/spool-recovery.js";
import { TaskSource } from "../source/task-source.js";
import { ensureDir, readTextIfExists, removeStaleTemps, TextCache, writeFileAtomic } from "../store/files.js";
import { agentPaths, mailboxesOf, sharedPaths, type AgentPaths } from "../store/layout.js";
import { Ledger } from "../store/ledger.js";
import { statusFilePath, type AgentStatus } from "../store/status-file.js";
import { segmentPath, type StepContext } from "../work/step.js";
import { agentAuthor } from "./bootstrap.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { OutcomeApplier } from "./outcome.js";
import { Worker } from "./worker.js";
import { crashAt } from "./crash.js";
import { TimerScope } from "./timers.js";
import { API_STATE, type AgentContext, type StartOptions, type TaskWhere } from "./context.js";

export type { AgentContext, AgentEvents, TaskWhere } from "./context.js";

export class AgentRuntime {
  readonly name: string;
  readonly paths: AgentPaths;
  /** Outcome of every task this process finished: for `run --once`. */
  readonly finished = { ok: 0, failed: 0, dead: 0 };
  /** Set when another runtime took this agent's lease over (this one stopped it). */
  takenOverBy?: string;
  private config: AgentConfig;
  private readonly log: Logger;
  private readonly repo: AgentRepo;
  private readonly ledger: Ledger;
  private readonly table = new TaskTable();
  private readonly queue: AgentQueue<TrackedTask>;
  private readonly sources: SourceSet;
  private readonly intake: Intake;
  private readonly retirer: Retirer;
  private readonly sweeper: ExpirySweeper;
  private readonly office: DeadLetterOffice;
  private readonly lease: LeaseKeeper;
  private readonly committer: Committer;
  private readonly worker: Worker;
  /** The files every prompt is built from, re-read only when they change. */
  private readonly promptFiles = new TextCache();
  private readonly timers = new TimerScope();
  private readonly abort = new AbortController();
  private applyChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private lastStatus?: string;

  constructor(
    config: AgentConfig,
    private ctx: AgentContext,
  ) {
    this.name = config.name;
    this.config = config;
    this.paths = agentPaths(ctx.dataDir, config.name);
    this.log = ctx.log.child("agent").child(config.name);
    this.repo = new AgentRepo(this.paths.dir, agentAuthor(config.name), { log: this.log });
    this.ledger = new Ledger(this.paths.ledger);
    const now = () => this.ctx.now();
    const later = (ms: number, fn: () => void) => this.timers.set(ms, fn);
    this.lease = new LeaseKeeper(this.paths.lease, this.name, this.log, now, (by) => {
      this.log.error(`pid ${by.pid} on host ${by.host} took over this agent's lease; stopping it here`);
      this.takenOverBy = `pid ${by.pid} on host ${by.host}`;
      void this.stop(this.ctx.file.tasks.retry_delay_ms);
    });
    this.committer = new Committer({
      repo: this.repo,
      ledger: this.ledger,
      repoDir: this.paths.dir,
      intentsDir: this.paths.intents,
      log: this.log,
      now,
      crash: (point) => crashAt(this.ctx.crashAt, point),
      exclusive: (fn) => this.exclusive(fn),
      readFile: (path) => this.promptFiles.read(path),
      onDurable: (key, how, why) => this.worker.durable(key, how, why),
      onGroup: (tasks) => {
        if (tasks) this.ctx.events?.groupCommitted?.(this.name, tasks);
        this.retirer.soon();
      },
    });
    this.office = new DeadLetterOffice({
      dir: this.shared.deadLetters,
      dataDir: ctx.dataDir,
      agent: this.name,
      now,
      log: this.log,
      ledger: this.ledger,
      onLetter: (reason) => {
        this.finished.dead++;
        this.ctx.events?.deadLetter?.(this.name, reason);
        this.retirer.soon();
      },
      escalate: (e) => {
        if (this.stopped) {
          this.log.warn(`not committing the escalation for ${e.taskId} while stopping; the dead letter is written`);
          return Promise.resolve();
        }
        return applier.escalate(e);
      },
    });
    const applier = new OutcomeApplier({
      agent: this.name,
      file: () => this.ctx.file,
      committer: this.committer,
      repo: this.repo,
      office: this.office,
      log: this.log,
      now,
      skillsArchiveDir: this.paths.skillsArchive,
      handoffsRoot: this.shared.handoffsRoot,
      segmentsDir: this.shared.segments,
      knownAgents: () => this.ctx.knownAgents(),
      taskDone: (info) => this.ctx.events?.taskDone?.(this.name, info),
      escalation: (kind) => this.ctx.events?.escalation?.(this.name, kind),
      postWebhook: this.ctx.postWebhook,
    });
    this.queue = new AgentQueue<TrackedTask>(queueSettingsFor(this.ctx.file, this.config.throughput_class), (t, release) => this.worker.run(t, release), () => this.ctx.now().getTime());
    this.queue.on("admitted", (t) => {
      if (this.table.holds(t) && t.state === "waiting") this.table.move(t, "admitted");
    });
    this.sweeper = new ExpirySweeper(this.name, this.table, this.queue, this.ledger, this.office, () => this.ctx.now().getTime());
    this.sources = new SourceSet(
      (path, kind) => new TaskSource(path, kind, this.name, this.ctx.file.tasks.settle_ms, () => this.ctx.now().getTime()),
      (src, r) => this.intake.onRead(src, r),
      (src, err) => this.log.error(`reading ${this.rel(src.path)} failed: ${err.message}`),
    );
    this.intake = new Intake({
      agent: this.name,
      dataDir: ctx.dataDir,
      file: () => this.ctx.file,
      inbox: this.mailboxes.inbox,
      handoffs: this.mailboxes.handoffs,
      deadLetters: this.shared.deadLetters,
      sources: this.sources,
      table: this.table,
      queue: this.queue,
      ledger: this.ledger,
      office: this.office,
      log: this.log,
      now,
      expire: (t) => this.sweeper.expire(t),
      onTtl: () => this.sweeper.schedule(),
      onHandled: () => this.retirer.soon(),
      later,
    });
    this.retirer = new Retirer({
      dataDir: ctx.dataDir,
      spoolDir: this.paths.spool,
      sources: this.sources,
      table: this.table,
      ledger: this.ledger,
      log: this.log,
      isBlockHandled: this.intake.isBlockHandled,
      compacted: () => this.intake.compacted(),
      later,
    });
    this.worker = new Worker({
      agent: this.name,
      config: () => this.config,
      file: () => this.ctx.file,
      table: this.table,
      queue: this.queue,
      ledger: this.ledger,
      committer: this.committer,
      office: this.office,
      applier,
      model: ctx.model,
      grading: { file: () => this.ctx.file, model: ctx.model, grader: ctx.grader, log: this.log },
      stepContext: () => this.stepContext(),
      log: this.log,
      now,
      signal: this.abort.signal,
      isStopping: () => this.stopped,
      exclusive: (fn) => this.exclusive(fn),
      expire: (t) => this.sweeper.expire(t),
      later,
      onNotRunning: () => later(0, () => this.sweeper.schedule()),
      crash: (point) => crashAt(this.ctx.crashAt, point),
      taskFailed: (info) => this.ctx.events?.taskFailed?.(this.name, info),
      finished: this.finished,
    });
  }

  private get shared() {
    return sharedPaths(this.ctx.dataDir, this.ctx.file.iac.dead_letter_path);
  }

  private get mailboxes() {
    return mailboxesOf(this.shared, this.name);
  }

  private stepContext(): StepContext {
    return {
      agent: this.name,
      // Pending outcomes first (the task before this one may not be committed yet).
      read: this.committer.read,
      readSegment: (name) => this.promptFiles.read(segmentPath(this.shared.segments, name)),
      segments: this.config.segments,
      maxTokens: this.ctx.file.prompt.max_tokens,
      model: this.ctx.model,
      log: this.log,
    };
  }

  /** Takes ownership of the agent (before anything writes to its repository). A fresh folder has its state folder, and no lease yet. */
  async acquire(fresh = false): Promise<void> {
    if (!fresh) await ensureDir(this.paths.state);
    await this.lease.acquire(fresh);
  }

  /** Finishes what a crash left half done, then reads every task file (StartOptions: when there is less to do). */
  async start({ fresh = false, readLater = false, newMailboxes = false }: StartOptions = {}): Promise<void> {
    if (!this.lease.held) await this.acquire();
    if (!fresh) this.lastStatus = await readTextIfExists(statusFilePath(this.paths)); // a restart of 1,000 idle agents rewrites none
    const ledger = fresh ? undefined : await readTextIfExists(this.paths.ledger); // the careful read: a link or FIFO is refused
    if (!this.ledger.loadText(ledger) && !fresh) { // none: rebuilt from git's Task-Id trailers
      const adopted = await this.ledger.adoptFromGit(await this.taskIdsInGit());
      if (adopted) this.log.info(`rebuilt the processed ledger from git: ${adopted} task(s)`);
    }
    const p = this.paths;
    const own = fresh ? [] : [p.dir, p.state, p.intents, p.spool, p.skillsDir, p.skillsArchive, p.results];
    for (const dir of [...own, ...(newMailboxes ? [] : [this.mailboxes.inbox, this.mailboxes.handoffs])]) await removeStaleTemps(dir);
    if (!fresh) await this.committer.finishIntents("recovered");
    const restored = fresh ? 0 : await recoverSpools(p.queue, p.spool, (k) => this.ledger.isHandled(k));
    if (restored) this.log.info(`put ${restored} pending block(s) back into queue.md after an interrupted compaction`);
    this.sources.add(p.queue, "queue");
    if (fresh && readLater) return; // its queue.md holds the header line only; the reconcile finds early mail
    await this.intake.scanMessageDirs();
    await Promise.all(this.sources.values().filter((s) => !this.intake.isDeferred(s)).map((s) => this.sources.read(s)));
  }

  /**
   * New agents.yaml values: class changes apply to what is admitted next. `bootstrap`
   * (regenerating persona.md and friends, maybe a commit) runs between this agent's
   * task commits, never beside one.
   */
  async reconfigure(config: AgentConfig, file: AgentsFile, bootstrap?: () => Promise<unknown>): Promise<void> {
    if (bootstrap) await this.exclusive(bootstrap);
    this.config = config;
    this.ctx = { ...this.ctx, file };
    this.queue.reconfigure(queueSettingsFor(this.ctx.file, this.config.throughput_class));
  }

  /** The watcher saw something at `path` (queue.md or a message file of this agent). */
  onFileEvent(path: string, kind: "queue" | "inbox" | "handoff"): void {
    if (!this.stopped) this.intake.onFileEvent(path, kind);
  }

  /** Finds message files the watcher may have missed. */
  scanMessageDirs(): Promise<void> {
    return this.intake.scanMessageDirs();
  }

  /** The slow safety net: re-read every source (cheap when nothing changed) and look for new files. */
  async reconcile(): Promise<void> {
    if (this.stopped) return;
    await this.intake.scanMessageDirs();
    for (const s of this.sources.values()) {
      await s.checkSpools((k) => this.ledger.isHandled(k)).catch(() => {});
      // A stat, not a read and parse, for the files that did not change (1,000 idle agents).
      if (!s.unchangedSinceSettledRead() && !this.intake.isDeferred(s)) void this.sources.read(s);
    }
    await this.sweeper.sweep(); // the sweep timer's safety net when the clock jumped (suspend, injected clock)
  }

  /** Expires every task whose TTL has passed now (the sweep timer does this on time by itself). */
  sweep(): Promise<void> {
    return this.sweeper.sweep();
  }

  /** Refreshes the lease and, when it changed, the status snapshot. */
  async heartbeat(): Promise<void> {
    if (this.stopped) return;
    await this.lease.beat();
    if (!this.stopped) await this.writeStatus();
  }

  private async writeStatus(): Promise<void> {
    // Only when it changed: 1,000 idle agents rewrote (and fsynced) it every 10 s for nothing.
    const status = JSON.stringify(this.status()) + "\n";
    if (status === this.lastStatus) return;
    await writeFileAtomic(statusFilePath(this.paths), status).then(() => (this.lastStatus = status), () => {});
  }

  private async taskIdsInGit(): Promise<string[]> {
    const ids: string[] = [];
    for (const c of await this.repo.log(100_000)) if (c.trailers["Task-Id"] && c.subject.includes("(task):")) ids.push(c.trailers["Task-Id"]);
    return ids;
  }

  status(): AgentStatus {
    return {
      name: this.name,
      throughput_class: this.config.throughput_class,
      waiting: this.table.count("waiting"),
      ready: this.table.count("admitted"),
      in_flight: this.table.count("running"),
      committing: this.table.count("settling"),
      retrying: this.table.count("retrying"),
      processed: this.ledger.size,
      paused: this.worker.pause,
      ...(this.ctx.model.tokens ? { tokens: this.ctx.model.tokens() } : {}),
      source_errors: this.intake.errors,
    };
  }

  /** Where a task is in this process (REST API): undefined if this process does not hold it. */
  taskState(id: string): TaskWhere | undefined {
    const t = this.table.get(id);
    if (!t) return undefined;
    return { state: API_STATE[t.state as Exclude<TaskState, "done" | "dead">], attempts: this.ledger.attemptsOf(id), lastError: t.lastError };
  }

  /** Age of the oldest task this process holds, for metrics. */
  oldestTaskAgeSeconds(): number {
    const now = this.ctx.now().getTime();
    return Math.max(0, (now - (this.table.oldestBornAt() ?? now)) / 1000);
  }

  /** Task blocks parsed and held in memory, over all its files (bounded by slices, whatever the files hold). */
  heldBlocks(): number {
    return this.sources.values().reduce((n, s) => n + s.knownBlocks.length, 0);
  }

  /** The prompt as last sent to the model (this process only), section by section in the dashboard. */
  get lastPrompt() { return this.worker.lastPrompt; }

  get isPaused(): boolean { return this.worker.pause !== undefined; }

  /** Tasks known and not finished (waiting, admitted, running, retrying or settling). */
  get outstanding(): number { return this.table.size; }

  /** Resolves when a task leaves the table (done, dead or forgotten), at once if none is held, or when `signal` aborts (its listener goes). */
  onTaskLeft(signal?: AbortSignal): Promise<void> {
    if (this.table.size === 0) return Promise.resolve();
    return once(this.table, "left", { signal }).then(() => undefined, () => undefined);
  }

  /** Stop taking tasks; give running ones `graceMs`, then abort them (they run again after restart). */
  async stop(graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.intake.stop();
    this.retirer.stop();
    this.sweeper.stop();
    this.queue.stop();
    this.timers.close();
    const idle = this.queue.onIdle();
    let graceTimer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([idle.then(() => true), new Promise<boolean>((r) => (graceTimer = setTimeout(() => r(false), graceMs)))]);
    clearTimeout(graceTimer);
    if (!inTime) {
      this.log.warn(`${this.table.count("running")} task(s) still running after the grace period; aborting them (they run again after restart)`);
      this.abort.abort(new Error("shutting down"));
      await idle;
    }
    // Answers already in are committed, not thrown away.
    await this.committer.drain();
    await this.applyChain;
    await this.repo.packed; // a stopped runtime leaves no git repack of its own running (a person's git gc is next)
    await this.sources.close();
    // Finished message files go now (left behind, they would look like new mail, or unknown_agent
    // dead letters that could run twice), and handled blocks leave queue.md (`run --once`).
    await this.retirer.run(true).catch(() => {});
    await this.lease.release();
    // The final snapshot, for `agentos status` while stopped (and a restart then rewrites nothing).
    await this.writeStatus();
    await this.ledger.close();
  }

  /** Runs fn after every earlier apply of this agent: state files and commits are serialized. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.applyChain.then(fn, fn);
    this.applyChain = next.catch(() => {});
    return next;
  }

  private rel(path: string): string {
    return relative(this.ctx.dataDir, path) || path;
  }
}

