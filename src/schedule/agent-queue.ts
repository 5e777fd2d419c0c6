// One agent's scheduler: a p-queue sized by its throughput class, fed from waiting
// lists by priority (high > normal > low, FIFO within one) with aging, so a low task
// is not starved. At most `depth` tasks are admitted and not yet answered (ready or
// running); the rest wait in its lists. An answered task waits for its group commit
// without counting, up to SETTLING_ROOM (or `depth`, if more) of them: the model works on
// the next tasks while a commit is under way, and the commit takes everything answered
// meanwhile (with the depth counting until the commit, the model sat idle during every
// commit). It runs what it is given and knows nothing about files or git.
// Events: `admitted` (a task left the waiting lists), `idle` (nothing admitted or running).
import { EventEmitter } from "node:events";
import PQueue from "p-queue";
import { maxQueueDepth } from "../config/depth.js";
import type { AgentConfig, AgentsFile, Priority } from "../config/schema.js";

export interface Schedulable {
  key: string;
  priority: Priority;
  /** Order of first sight: FIFO within a priority. */
  seq: number;
  /** When it was first seen (ms): waiting `agingMs` lifts it one level. */
  seenAt: number;
}

export interface QueueSettings {
  concurrency: number;
  depth: number;
  perMinute?: number;
  agingMs: number;
}

/** An agent's queue settings from agents.yaml: its throughput class, and backpressure (off: no depth limit). */
export function queueSettingsFor(file: AgentsFile, throughputClass: AgentConfig["throughput_class"]): QueueSettings {
  const cls = file.throughput_classes[throughputClass];
  const bp = file.iac.backpressure;
  const depth = bp.enabled ? maxQueueDepth(file, throughputClass) : Number.POSITIVE_INFINITY;
  return { concurrency: cls.concurrency, depth: Math.max(depth, cls.concurrency), perMinute: cls.per_minute, agingMs: bp.aging_seconds * 1000 };
}

/**
 * Answered tasks that may wait for their group commit at once, whatever the depth (a
 * group commit takes up to 32). With `depth` of them (10 for a medium agent) groups were
 * as small as the depth, and a group's commit costs ~11 ms whatever its size (the intent's
 * fsyncs): a 10,000-block drain committed 180 tasks/s in groups of 10, ~210 in groups of 21.
 */
export const SETTLING_ROOM = 32;

const RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2 };
const LEVELS: Priority[] = ["high", "normal", "low"];

export interface QueueEvents<T> {
  admitted: [task: T];
  idle: [];
}

export class AgentQueue<T extends Schedulable> extends EventEmitter<QueueEvents<T>> {
  private pq: PQueue;
  private readonly lists: Record<Priority, T[]> = { high: [], normal: [], low: [] };
  private readonly heads: Record<Priority, number> = { high: 0, normal: 0, low: 0 };
  private readonly waitingKeys = new Set<string>();
  private admittedCount = 0;
  /** Released (answered and applied), not yet done: waiting for their group commit (at most max(depth, SETTLING_ROOM)). */
  private settling = 0;
  private running = 0;
  private stopped = false;
  private paused = false;
  private settings: QueueSettings;

  constructor(
    settings: QueueSettings,
    /** Runs a task; `release()` gives its concurrency slot to the next one before it is done. */
    private readonly run: (task: T, release: () => void) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {
    super();
    if (!(settings.concurrency >= 1)) throw new Error(`Expected \`concurrency\` to be a number from 1 and up, got \`${settings.concurrency}\``);
    this.settings = settings;
    this.pq = this.makeQueue(settings);
  }

  /** Adds a task to the waiting lists and admits what fits. */
  offer(task: T): void {
    if (this.waitingKeys.has(task.key)) return;
    this.waitingKeys.add(task.key);
    this.lists[task.priority].push(task);
    this.pump();
  }

  /** Drops a waiting task (it expired or left its file); false if it was not waiting. */
  withdraw(key: string): boolean {
    return this.waitingKeys.delete(key);
  }

  isWaiting(key: string): boolean {
    return this.waitingKeys.has(key);
  }

  /** Tasks in their files that are not admitted yet. */
  get waiting(): number {
    return this.waitingKeys.size;
  }

  /** Admitted and not yet started (or started and released, still finishing). */
  get ready(): number {
    return this.admittedCount - this.running;
  }

  /** Taken from the waiting lists and not yet done. */
  get admitted(): number {
    return this.admittedCount;
  }

  get inFlight(): number {
    return this.running;
  }

  /** Resolves once nothing is admitted or running (at once if so already). */
  onIdle(): Promise<void> {
    if (this.admittedCount === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.once("idle", resolve));
  }

  get isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    this.paused = true;
    this.pq.pause();
  }

  resume(): void {
    if (this.stopped) return;
    this.paused = false;
    this.pq.start();
    this.pump();
  }

  /** New class settings take effect for what is admitted from now on; running work is untouched. */
  reconfigure(settings: QueueSettings): void {
    const rateChanged = settings.perMinute !== this.settings.perMinute;
    this.settings = settings;
    if (rateChanged) {
      // p-queue cannot change its interval in place; the old queue drains what it holds.
      this.pq = this.makeQueue(settings);
      if (this.paused) this.pq.pause();
    } else {
      this.pq.concurrency = settings.concurrency;
    }
    this.pump();
  }

  /** Stops admitting and drops what was admitted but not started (the task table and the files still hold it). */
  stop(): void {
    this.stopped = true;
    this.pq.clear();
  }

  private makeQueue(s: QueueSettings): PQueue {
    return s.perMinute
      ? new PQueue({ concurrency: s.concurrency, intervalCap: s.perMinute, interval: 60_000, carryoverIntervalCount: true })
      : new PQueue({ concurrency: s.concurrency });
  }

  private pump(): void {
    const settlingRoom = Math.max(this.settings.depth, SETTLING_ROOM);
    while (!this.stopped && this.admittedCount - this.settling < this.settings.depth && this.admittedCount < this.settings.depth + settlingRoom) {
      const next = this.takeNext();
      if (!next) return;
      this.admittedCount++;
      // Before p-queue sees it: p-queue may start it at once, inside add().
      this.emit("admitted", next);
      let whole: Promise<void> | undefined;
      let settles = false;
      void this.pq
        .add(async () => {
          this.running++;
          let release!: () => void;
          const released = new Promise<void>((r) => (release = r));
          whole = this.run(next, () => {
            if (!settles) {
              settles = true;
              this.settling++;
              queueMicrotask(() => this.pump());
            }
            release();
          });
          try {
            // The slot is free once the task says so (its model call is over); the task
            // is admitted until it is done, and waits for its commit as settling.
            await Promise.race([whole, released]);
          } finally {
            this.running--;
          }
        })
        .catch(() => {
          // run() reports its own failures; a rejection here means it was cleared by stop().
        })
        .then(() => whole?.catch(() => {}))
        .finally(() => {
          this.admittedCount--;
          if (settles) this.settling--;
          this.pump();
          if (this.admittedCount === 0 && this.running === 0) this.emit("idle");
        });
    }
  }

  /** The next task by effective priority: base level plus one level per `agingMs` waited. */
  private takeNext(): T | undefined {
    const now = this.now();
    let best: { level: Priority; task: T; score: number } | undefined;
    for (const level of LEVELS) {
      const list = this.lists[level];
      while (this.heads[level] < list.length && !this.waitingKeys.has(list[this.heads[level]]!.key)) this.heads[level]++;
      if (this.heads[level] > 1024 && this.heads[level] * 2 > list.length) {
        list.splice(0, this.heads[level]);
        this.heads[level] = 0;
      }
      const task = list[this.heads[level]];
      if (!task) continue;
      const score = RANK[level] + Math.floor((now - task.seenAt) / this.settings.agingMs);
      if (!best || score > best.score || (score === best.score && task.seq < best.task.seq)) best = { level, task, score };
    }
    if (!best) return undefined;
    this.heads[best.level]++;
    this.waitingKeys.delete(best.task.key);
    return best.task;
  }
}
