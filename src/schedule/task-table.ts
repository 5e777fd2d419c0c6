// Every task this process holds for one agent, each in one named state. A state
// changes only through `move`, which checks that the change is one the pipeline can
// make: a task's state is never implied by flags, timers and sets spread around.
// `done` and `dead` are terminal: the task leaves the table (the ledger remembers it).
// Event: `left` (a task was done, dead-lettered or forgotten).
import { EventEmitter } from "node:events";
import type { Priority } from "../config/schema.js";
import type { TaskBlock } from "../parse/task-blocks.js";
import type { TaskSource } from "../source/task-source.js";

/**
 * - waiting: read from its file, not admitted (over the class's depth, or paused)
 * - admitted: taken by the queue, waiting for a model slot
 * - running: its worker step (prompt, model, grade, apply) is under way
 * - retrying: an attempt failed; it waits for its retry delay
 * - settling: applied in memory; its group commit is under way
 * - done / dead: committed / dead-lettered
 */
export type TaskState = "waiting" | "admitted" | "running" | "retrying" | "settling" | "done" | "dead";

const LEGAL: Record<TaskState, readonly TaskState[]> = {
  // done from anywhere unfinished: an outcome recorded by an earlier attempt became durable
  waiting: ["admitted", "dead", "done"],
  admitted: ["running", "waiting", "dead", "done"],
  // back to waiting: the provider paused the agent, or a shutdown cut the step short
  running: ["settling", "retrying", "waiting", "dead", "done"],
  retrying: ["waiting", "dead", "done"],
  // retrying: its group's intent could not be written, so the outcome is void
  settling: ["done", "dead", "retrying"],
  done: [],
  dead: [],
};

export class IllegalTransition extends Error {
  constructor(key: string, from: TaskState, to: TaskState) {
    super(`task ${key}: cannot move from ${from} to ${to} (legal: ${LEGAL[from].join(", ") || "none"})`);
  }
}

export interface TrackedTask {
  readonly key: string;
  priority: Priority;
  /** Order of first sight: FIFO within a priority. */
  readonly seq: number;
  /** When it was first seen (ms): waiting long lifts its priority (aging). */
  readonly seenAt: number;
  block: TaskBlock;
  source: TaskSource;
  readonly firstSeen: Date;
  /** When its TTL runs out (ms), if it has one. */
  readonly expiresAt?: number;
  /** When its TTL started (ms): for the dead letter's "expired N s after …". */
  readonly bornAt: number;
  lastError?: string;
  retryTimer?: NodeJS.Timeout;
  readonly state: TaskState;
}

export class TaskTable extends EventEmitter<{ left: [task: TrackedTask] }> {
  private readonly tasks = new Map<string, TrackedTask & { state: TaskState }>();
  private readonly counts: Record<TaskState, number> = { waiting: 0, admitted: 0, running: 0, retrying: 0, settling: 0, done: 0, dead: 0 };
  private seq = 0;

  /** Tracks a task just read from its file, as waiting. */
  add(t: Omit<TrackedTask, "state" | "seq">): TrackedTask {
    if (this.tasks.has(t.key)) throw new Error(`task ${t.key} is already tracked`);
    const tracked = { ...t, seq: this.seq++, state: "waiting" as TaskState };
    this.tasks.set(t.key, tracked);
    this.counts.waiting++;
    return tracked;
  }

  get(key: string): TrackedTask | undefined {
    return this.tasks.get(key);
  }

  /** Whether `t` is the copy tracked under its key (a requeued copy may have replaced it). */
  holds(t: TrackedTask): boolean {
    return this.tasks.get(t.key) === t;
  }

  /** Moves a task to its next state; `done` and `dead` take it out of the table. */
  move(t: TrackedTask, to: TaskState): void {
    const mine = this.tasks.get(t.key);
    if (mine !== t) throw new Error(`task ${t.key} is not tracked here`);
    if (!LEGAL[mine.state].includes(to)) throw new IllegalTransition(t.key, mine.state, to);
    this.counts[mine.state]--;
    mine.state = to;
    if (to !== "retrying" && mine.retryTimer) {
      clearTimeout(mine.retryTimer);
      mine.retryTimer = undefined;
    }
    if (to === "done" || to === "dead") {
      this.tasks.delete(t.key);
      this.emit("left", mine);
    } else this.counts[to]++;
  }

  /** A waiting task whose block left its file (a person deleted it): forgotten, not dead-lettered. */
  forget(t: TrackedTask): void {
    if (t.state !== "waiting" || !this.holds(t)) throw new IllegalTransition(t.key, t.state, "waiting");
    this.counts.waiting--;
    this.tasks.delete(t.key);
    this.emit("left", t);
  }

  count(state: TaskState): number {
    return this.counts[state];
  }

  /** Tasks held and not finished. */
  get size(): number {
    return this.tasks.size;
  }

  values(): IterableIterator<TrackedTask> {
    return this.tasks.values();
  }

  inSource(src: TaskSource): boolean {
    for (const t of this.tasks.values()) if (t.source === src) return true;
    return false;
  }

  /** The earliest TTL among tasks a sweep may expire (not running, not settling). */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const t of this.tasks.values()) {
      if (t.expiresAt === undefined || t.state === "running" || t.state === "settling") continue;
      if (next === undefined || t.expiresAt < next) next = t.expiresAt;
    }
    return next;
  }

  /** When the oldest held task was born (its TTL start, else first sight), in ms. */
  oldestBornAt(): number | undefined {
    let oldest: number | undefined;
    for (const t of this.tasks.values()) if (oldest === undefined || t.bornAt < oldest) oldest = t.bornAt;
    return oldest;
  }
}
