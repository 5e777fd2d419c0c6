// The processed ledger of one agent (.agentos/ledger.log): which tasks are done or
// dead-lettered, which handled blocks are already gone from their files, how many
// attempts each task has had, and when a task with a TTL arrived (its TTL counts from
// then, across restarts). Append-only with fsync; rebuilt from git `Task-Id` trailers
// when missing.
import { closeSync, constants, fsync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";

export type Handled = "done" | "dead";

interface LedgerEntries {
  handled: Map<string, Handled>;
  removed: Set<string>;
  attempts: Map<string, number>;
  /** Arrival (ms) of tasks not handled since they arrived. */
  seen: Map<string, number>;
}

/**
 * The ledger's lines as state: the last word on each key wins. A `seen` line counts only
 * until the task is handled: a `seen` after `dead` is a requeued copy, a new delivery.
 */
function parseLedger(text: string): LedgerEntries {
  const out: LedgerEntries = { handled: new Map(), removed: new Set(), attempts: new Map(), seen: new Map() };
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const [event, key, extra] = line.split("\t");
    if (!event || !key) return;
    if (event === "done" || event === "dead") {
      out.handled.set(key, event);
      out.seen.delete(key);
    } else if (event === "removed") out.removed.add(key);
    else if (event === "attempt") out.attempts.set(key, Number(extra) || 0);
    else if (event === "seen") {
      // Unsynced, so a crash may tear the last line: without its newline its time may be cut
      // short (a moment in 1970 would expire the task at once); the task just arrives again.
      const torn = i === lines.length - 1;
      if (!torn && /^\d{1,15}$/.test(extra ?? "")) out.seen.set(key, Number(extra));
    } else if (event === "unseen") out.seen.delete(key);
  });
  return out;
}

/** What a ledger says, for readers outside the runtime (CLI, REST API): never writes, never compacts. */
export interface LedgerView {
  state(key: string): Handled | undefined;
  isHandled(key: string): boolean;
  /** Tasks done (not dead-lettered). */
  readonly done: number;
}

/** Reads an agent's ledger without opening it for writing; a missing ledger reads as empty. */
export async function readLedger(path: string): Promise<LedgerView> {
  let text = "";
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const { handled } = parseLedger(text);
  let done = 0;
  for (const v of handled.values()) if (v === "done") done++;
  return { state: (key) => handled.get(key), isHandled: (key) => handled.has(key), done };
}

export class Ledger {
  private readonly handled = new Map<string, Handled>();
  private readonly removed = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly seen = new Map<string, number>();
  private fd: number | undefined;
  /** fsyncs under way (close waits for them). */
  private readonly syncing = new Set<Promise<void>>();

  constructor(private readonly path: string) {}

  /** Loads the ledger from its file (see loadText). */
  load(): boolean {
    let text: string | undefined;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return this.loadText(text);
  }

  /**
   * Loads the ledger from `read`, its file's text as the caller read it (undefined: there
   * is none, and it is made empty), compacting it so it holds only what is still needed.
   * Returns whether there was one.
   */
  loadText(read: string | undefined): boolean {
    const text = read ?? "";
    const parsed = parseLedger(text);
    for (const [k, v] of parsed.handled) this.handled.set(k, v);
    for (const k of parsed.removed) this.removed.add(k);
    for (const [k, n] of parsed.attempts) this.attempts.set(k, n);
    for (const key of this.handled.keys()) this.attempts.delete(key);
    for (const [k, at] of parsed.seen) this.seen.set(k, at);
    const lines = [
      ...[...this.handled].map(([k, v]) => `${v}\t${k}`),
      ...[...this.removed].map((k) => `removed\t${k}`),
      ...[...this.attempts].filter(([, n]) => n > 0).map(([k, n]) => `attempt\t${k}\t${n}`),
      // After the handled lines, so a requeued copy's arrival still reads as newer than its `dead`.
      ...[...this.seen].map(([k, at]) => `seen\t${k}\t${at}`),
    ];
    const compacted = lines.length ? lines.join("\n") + "\n" : "";
    // Rewritten only when compacting changes it (a start of 1,000 agents paid a synchronous
    // fsync each for files that were empty or already compact).
    if (compacted !== text) {
      const tmp = `${this.path}.tmp`;
      const fd = openSync(tmp, "w");
      writeSync(fd, compacted);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, this.path);
    }
    // Made now even when empty: a missing ledger means a deleted one, rebuilt from git at
    // the next start (an agent without tasks would walk its history at every restart).
    this.openForAppend();
    return read !== undefined;
  }

  get size(): number {
    return this.handled.size;
  }

  isHandled(key: string): boolean {
    return this.handled.has(key);
  }

  state(key: string): Handled | undefined {
    return this.handled.get(key);
  }

  isRemoved(key: string): boolean {
    return this.removed.has(key);
  }

  attemptsOf(key: string): number {
    return this.attempts.get(key) ?? 0;
  }

  markAttempt(key: string, n: number): void {
    this.attempts.set(key, n);
    // Not fsynced: the count survives a crash of the process (the page cache does), and a
    // power loss that forgets an attempt only allows one more try.
    this.append(`attempt\t${key}\t${n}`, false);
  }

  /** When the task arrived (ms), if it arrived and has not been handled since. */
  arrivalOf(key: string): number | undefined {
    return this.seen.get(key);
  }

  /** Records when a task with a TTL arrived, so a restart does not give it a fresh TTL. */
  markSeen(key: string, at: number): void {
    this.seen.set(key, at);
    // Not fsynced, like attempts: a lost line only gives the task one more TTL.
    this.append(`seen\t${key}\t${Math.round(at)}`, false);
  }

  /** Forgets an arrival (its block left its file before it ran): a copy dropped again later is a new delivery. */
  forgetSeen(key: string): void {
    if (!this.seen.delete(key)) return;
    this.append(`unseen\t${key}`, false);
  }

  mark(key: string, how: Handled): Promise<void> {
    return this.markAll([key], how);
  }

  /**
   * Several tasks in one append and one fsync (a group commit's tasks). The ledger knows
   * at once; the promise says when the line is on disk.
   */
  markAll(keys: string[], how: Handled): Promise<void> {
    if (!keys.length) return Promise.resolve();
    for (const key of keys) {
      this.handled.set(key, how);
      this.attempts.delete(key);
      this.seen.delete(key);
    }
    return this.append(keys.map((key) => `${how}\t${key}`).join("\n"), true);
  }

  markRemoved(keys: string[]): Promise<void> {
    const fresh = keys.filter((k) => !this.removed.has(k));
    if (!fresh.length) return Promise.resolve();
    for (const k of fresh) this.removed.add(k);
    return this.append(fresh.map((k) => `removed\t${k}`).join("\n"), true);
  }

  /** Task ids seen in git that the ledger does not know (it was deleted or is older). */
  async adoptFromGit(taskIds: Iterable<string>): Promise<number> {
    const fresh = [...new Set(taskIds)].filter((id) => !this.handled.has(id));
    await this.markAll(fresh, "done");
    return fresh.length;
  }

  /** Closes the file once its fsyncs under way are done (the fd must not be reused under them). */
  async close(): Promise<void> {
    await Promise.allSettled(this.syncing);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Never through a link planted after the caller's careful read (O_NOFOLLOW: ELOOP instead). */
  private openForAppend(): void {
    this.fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  }

  /**
   * The write is synchronous (one small write, in order with every other); the fsync, when
   * asked for, runs in libuv's threads: done synchronously it held the event loop for
   * 0.5–2 ms at every group commit. Callers that need the line on disk await it.
   */
  private append(lines: string, sync: true): Promise<void>;
  private append(lines: string, sync: false): void;
  private append(lines: string, sync: boolean): Promise<void> | void {
    if (this.fd === undefined) throw new Error(`ledger ${this.path} used before load()`);
    writeSync(this.fd, lines + "\n");
    if (!sync) return;
    const fd = this.fd;
    const done = new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
    this.syncing.add(done);
    void done.catch(() => {}).finally(() => this.syncing.delete(done));
    return done;
  }
}
