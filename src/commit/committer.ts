// Group commit for one agent. An answered task is applied in memory (by the agent, in
// `apply`, one at a time) on top of the outcomes still waiting here; those layers are
// what the next prompt and the next apply read. The committer makes every waiting
// outcome durable together: one intent, one commit per task (branch moved once), the
// files and the index written once, one ledger fsync. Per task this saves most of the
// fsyncs and the index write: what limits an agent when its model answers fast.
import { mkdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { AgentRepo } from "./git/repo.js";
import { RepoBusyError } from "./git/persons-operation.js";
import type { Logger } from "../log.js";
import type { Ledger } from "../store/ledger.js";
import { commitKey, executeIntent, readIntents, writeIntent, type Intent, type TaskIntent } from "./intent.js";

/** At most this many outcomes in one group commit. */
const MAX_GROUP = 32;
/** Failed attempts in a row after which an intent is set aside (see finishIntents). */
const STUCK_AFTER = 5;

export interface CommitterContext {
  repo: AgentRepo;
  ledger: Ledger;
  /** The agent's repository (state files are read from there when no layer has them). */
  repoDir: string;
  intentsDir: string;
  log: Logger;
  now: () => Date;
  crash: (point: string) => void;
  /** Serializes with the agent's other writers to its repository (bootstrap on reload). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** A file's text as on disk now (through a cache). */
  readFile: (path: string) => Promise<string | undefined>;
  /**
   * A task outcome is durable: committed now, or finished from an intent left by a
   * failure or a crash — or `stuck`: its intent was set aside (`why` says where and why),
   * and the task must not run again.
   */
  onDurable: (taskId: string, how: "committed" | "finished" | "recovered" | "stuck", why?: string) => void;
  /** After each group commit: how many task outcomes it held. */
  onGroup: (tasks: number) => void;
}

/** The files one waiting outcome wrote (null: deleted), by its task key. */
interface Layer {
  key: string;
  files: Map<string, string | null>;
}

interface Pending {
  task: TaskIntent;
  onDone?: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Committer {
  private readonly layers: Layer[] = [];
  /** In-memory applies, one at a time, in the order their intents will be written. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Moves on when a group fails before its intent is recorded: plans made on top of it are void. */
  private epoch = 0;
  private readonly waiting: Pending[] = [];
  private running?: Promise<void>;
  /** Task key → its recorded intent, while that intent is not fully carried out. */
  private readonly unfinished = new Map<string, string>();
  /** Intent files written and not yet carried out (a failed group, escalations included). */
  private readonly unfinishedFiles = new Set<string>();
  /** Failed attempts to carry out an intent, by file: one that keeps failing is set aside. */
  private readonly failures = new Map<string, number>();

  constructor(private readonly ctx: CommitterContext) {}

  /** A file of the repository (relative path) as the waiting outcomes left it, else as on disk. */
  readonly read = async (rel: string): Promise<string | undefined> => {
    const layer = this.layers.findLast((l) => l.files.has(rel));
    return layer ? (layer.files.get(rel) ?? undefined) : this.ctx.readFile(join(this.ctx.repoDir, rel));
  };

  /** Paths under `folder/` that waiting outcomes created (and did not delete again). */
  pendingPaths(folder: string): string[] {
    const out = new Map<string, boolean>();
    for (const l of this.layers) for (const [rel, c] of l.files) if (rel.startsWith(`${folder}/`)) out.set(rel, c !== null);
    return [...out].filter(([, present]) => present).map(([rel]) => rel);
  }

  /** True while the task's outcome is recorded in an intent not yet carried out (a retry finishes it). */
  isUnfinished(taskId: string): boolean {
    return this.unfinished.has(taskId);
  }

  /**
   * Runs `plan` after every earlier one (it applies an outcome to what `read` shows) and
   * adds its commit to the next group. Resolves once applied, to a promise of the commit.
   */
  apply(plan: () => Promise<{ task: TaskIntent; onDone?: () => void }>): Promise<{ committed: Promise<void> }> {
    const next = this.chain.then(async () => {
      const epoch = this.epoch;
      const { task, onDone } = await plan();
      if (epoch !== this.epoch) throw new Error("an earlier group commit failed before it was recorded; this task runs again");
      return { committed: this.enqueue(task, onDone) };
    });
    this.chain = next.catch(() => {});
    return next;
  }

  /** Waits until every outcome applied so far is committed (or failed). */
  async drain(): Promise<void> {
    await this.chain;
    while (this.running) await this.running;
  }

  /** A person's merge (revert, rebase) under way in the repository: no task starts, no commit is made. */
  repoBusy(): string | undefined {
    return this.ctx.repo.busy();
  }

  /**
   * Replays the recorded intents, oldest first: the commits git does not show yet, then
   * their files and messages. An intent that fails STUCK_AFTER times in a row is moved to
   * `intents/stuck/` with an error naming it, so one broken effect (a handoff folder that
   * cannot be written) does not hold up every later task of the agent.
   */
  async finishIntents(how: "finished" | "recovered"): Promise<void> {
    for (const { path, intent } of await readIntents(this.ctx.intentsDir)) {
      const commits = intent.tasks.reduce((n, t) => n + t.commits.length, 0);
      const keys = intent.tasks.filter((t) => !t.escalation).map((t) => t.taskId);
      try {
        const done = new Set((await this.ctx.repo.log(commits + 50)).map((c) => commitKey(c.trailers["Task-Id"], c.subject)));
        await executeIntent(intent, { repo: this.ctx.repo, alreadyCommitted: done, at: this.ctx.now() });
      } catch (err) {
        if (err instanceof RepoBusyError) throw err; // a person's merge: it waits, it has not failed
        const failed = (this.failures.get(path) ?? 0) + 1;
        this.failures.set(path, failed);
        if (failed < STUCK_AFTER) throw err;
        const aside = join(this.ctx.intentsDir, "stuck", basename(path));
        await mkdir(dirname(aside), { recursive: true });
        await rename(path, aside);
        const why = `its recorded outcome could not be carried out after ${failed} tries (${(err as Error).message}); the intent is in ${aside}`;
        this.ctx.log.error(`task(s) ${keys.join(", ")}: ${why}; the agent goes on`);
        this.forget(path, intent.tasks.map((t) => t.taskId));
        for (const key of keys) {
          this.unfinished.delete(key);
          this.ctx.onDurable(key, "stuck", why);
        }
        continue;
      }
      await this.ctx.ledger.markAll(keys, "done");
      await unlink(path);
      this.forget(path, intent.tasks.map((t) => t.taskId));
      for (const key of keys) {
        this.unfinished.delete(key);
        this.ctx.onDurable(key, how);
      }
    }
  }

  private forget(file: string, taskIds: string[]): void {
    this.unfinishedFiles.delete(file);
    this.failures.delete(file);
    this.dropLayers(taskIds);
  }

  private enqueue(task: TaskIntent, onDone?: () => void): Promise<void> {
    const files = new Map<string, string | null>();
    for (const c of task.commits) for (const [rel, content] of Object.entries(c.files)) files.set(rel, content);
    this.layers.push({ key: task.taskId, files });
    const committed = new Promise<void>((resolve, reject) => this.waiting.push({ task, onDone, resolve, reject }));
    this.kick();
    return committed;
  }

  /** Starts committing unless it runs: groups of what is waiting, until nothing is. */
  private kick(): void {
    if (this.running || !this.waiting.length) return;
    this.running = (async () => {
      while (this.waiting.length) {
        const group = this.waiting.splice(0, MAX_GROUP);
        await this.ctx.exclusive(() => this.commitGroup(group));
      }
    })().finally(() => {
      this.running = undefined;
      this.kick(); // an outcome that came in while this round was finishing
    });
  }

  /** Never throws: every outcome of the group is resolved or rejected. */
  private async commitGroup(group: Pending[]): Promise<void> {
    let settled = false;
    // Not recorded: these outcomes and every one applied on top of them run again.
    const discard = (err: unknown) => {
      this.epoch++;
      group.push(...this.waiting.splice(0));
      this.dropLayers(group.map((p) => p.task.taskId));
      for (const p of group) p.reject(err);
      settled = true;
    };
    try {
      if (this.unfinishedFiles.size) {
        // Earlier intents first: their state files must not land over newer ones.
        try {
          await this.finishIntents("finished");
        } catch (err) {
          return discard(err);
        }
      }
      const intent: Intent = { tasks: group.map((p) => p.task) };
      const outcomes = group.filter((p) => !p.task.escalation).map((p) => p.task.taskId);
      let file: string;
      try {
        file = await writeIntent(this.ctx.intentsDir, intent);
      } catch (err) {
        return discard(err);
      }
      this.unfinishedFiles.add(file);
      for (const k of outcomes) this.unfinished.set(k, file);
      this.ctx.crash("after-intent");
      // From here on it is recorded: a failure leaves the intent for the next group (or a
      // task's retry) to finish, and the outcomes stay applied in memory until then.
      await executeIntent(intent, { repo: this.ctx.repo, at: this.ctx.now(), crash: this.ctx.crash });
      await this.ctx.ledger.markAll(outcomes, "done");
      this.ctx.crash("after-commit");
      await unlink(file);
      this.forget(file, group.map((p) => p.task.taskId));
      const escalations = group.length - outcomes.length;
      this.ctx.log.debug(`group commit: ${outcomes.length} task(s)${escalations ? ` and ${escalations} escalation(s)` : ""} in one intent`);
      settled = true;
      for (const p of group) {
        this.unfinished.delete(p.task.taskId);
        try {
          if (!p.task.escalation) this.ctx.onDurable(p.task.taskId, "committed");
          p.onDone?.();
        } catch (err) {
          this.ctx.log.error(`after committing ${p.task.taskId}: ${(err as Error).message}`);
        }
        p.resolve();
      }
      this.ctx.onGroup(outcomes.length);
    } catch (err) {
      if (!settled) for (const p of group) p.reject(err);
    }
  }

  private dropLayers(keys: string[]): void {
    const drop = new Set(keys);
    for (let i = this.layers.length - 1; i >= 0; i--) if (drop.has(this.layers[i]!.key)) this.layers.splice(i, 1);
  }
}
