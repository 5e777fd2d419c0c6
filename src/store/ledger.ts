// The processed ledger of one agent (.agentos/ledger.log): which tasks are done or
// dead-lettered, which handled blocks are already gone from their files, and how
// many attempts each task has had. Append-only with fsync; rebuilt from git
// `Task-Id` trailers when missing.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";

export type Handled = "done" | "dead";

export class Ledger {
  private readonly handled = new Map<string, Handled>();
  private readonly removed = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private fd: number | undefined;

  constructor(private readonly path: string) {}

  /** Loads the ledger, compacting it so it holds only what is still needed. */
  load(): void {
    let text = "";
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    for (const line of text.split("\n")) {
      const [event, key, extra] = line.split("\t");
      if (!event || !key) continue;
      if (event === "done" || event === "dead") this.handled.set(key, event);
      else if (event === "removed") this.removed.add(key);
      else if (event === "attempt") this.attempts.set(key, Number(extra) || 0);
    }
    for (const key of this.handled.keys()) this.attempts.delete(key);
    const lines = [
      ...[...this.handled].map(([k, v]) => `${v}\t${k}`),
      ...[...this.removed].map((k) => `removed\t${k}`),
      ...[...this.attempts].filter(([, n]) => n > 0).map(([k, n]) => `attempt\t${k}\t${n}`),
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
    this.fd = openSync(this.path, "a");
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

  mark(key: string, how: Handled): void {
    this.markAll([key], how);
  }

  /** Several tasks in one append and one fsync (a group commit's tasks). */
  markAll(keys: string[], how: Handled): void {
    if (!keys.length) return;
    for (const key of keys) {
      this.handled.set(key, how);
      this.attempts.delete(key);
    }
    this.append(keys.map((key) => `${how}\t${key}`).join("\n"));
  }

  markRemoved(keys: string[]): void {
    const fresh = keys.filter((k) => !this.removed.has(k));
    if (!fresh.length) return;
    for (const k of fresh) this.removed.add(k);
    this.append(fresh.map((k) => `removed\t${k}`).join("\n"));
  }

  /** Task ids seen in git that the ledger does not know (it was deleted or is older). */
  adoptFromGit(taskIds: Iterable<string>): number {
    let n = 0;
    for (const id of taskIds) {
      if (!this.handled.has(id)) {
        this.mark(id, "done");
        n++;
      }
    }
    return n;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private append(lines: string, sync = true): void {
    if (this.fd === undefined) throw new Error(`ledger ${this.path} used before load()`);
    // Synchronous on purpose: one small write + fsync (~0.5 ms) that must land before we go on.
    writeSync(this.fd, lines + "\n");
    if (sync) fsyncSync(this.fd);
  }
}
