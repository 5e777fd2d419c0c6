// The task files of one agent (its queue.md, and each message file in its inbox and
// handoffs folders) and who may touch each one now. A file is read by one reader at a
// time: reads asked for while one runs coalesce into one more read after it, and a
// compaction or a retirement holds the file the same way, so neither ever sees it half
// handled. What a read means is the caller's business (`onRead`).
import type { SourceKind, SourceRead, TaskSource } from "./task-source.js";

export class SourceSet {
  private readonly sources = new Map<string, TaskSource>();
  private readonly busy = new Map<TaskSource, Promise<void>>();
  private readonly dirty = new Set<TaskSource>();
  private closed = false;

  constructor(
    private readonly make: (path: string, kind: SourceKind) => TaskSource,
    private readonly onRead: (src: TaskSource, r: SourceRead) => Promise<void>,
    private readonly onError: (src: TaskSource, err: Error) => void,
  ) {}

  /** The source for `path`, made on first sight. */
  add(path: string, kind: SourceKind): TaskSource {
    let s = this.sources.get(path);
    if (!s) this.sources.set(path, (s = this.make(path, kind)));
    return s;
  }

  has(path: string): boolean {
    return this.sources.has(path);
  }

  /** Forgets a file that is gone or retired (a later file of the same name starts afresh). */
  delete(src: TaskSource): void {
    if (this.sources.get(src.path) === src) this.sources.delete(src.path);
  }

  values(): TaskSource[] {
    return [...this.sources.values()];
  }

  isBusy(src: TaskSource): boolean {
    return this.busy.has(src);
  }

  /**
   * Reads `src` now, or once more after the read or hold under way. `first` is how the
   * first read is made (the next slice of a big file); any read after it is a full read.
   */
  read(src: TaskSource, first: () => Promise<SourceRead> = () => src.read()): Promise<void> {
    const running = this.busy.get(src);
    if (running) {
      this.dirty.add(src);
      return running;
    }
    const p = (async () => {
      try {
        let next = first;
        do {
          this.dirty.delete(src);
          await this.onRead(src, await next());
          next = () => src.read();
        } while (this.dirty.has(src) && !this.closed);
      } catch (err) {
        this.onError(src, err as Error);
      } finally {
        this.busy.delete(src);
      }
    })();
    this.busy.set(src, p);
    return p;
  }

  /** Asks for one more read once the file is free (something changed while it was held). */
  readAgain(src: TaskSource): void {
    this.dirty.add(src);
  }

  /**
   * Runs `fn` with the file held: no read runs beside it. Resolves false without
   * running it if the file is busy now (the caller tries again later).
   */
  async hold(src: TaskSource, fn: () => Promise<void>): Promise<boolean> {
    if (this.busy.has(src)) return false;
    const p = fn();
    this.busy.set(src, p.then(() => undefined, () => undefined));
    try {
      await p;
      return true;
    } finally {
      this.busy.delete(src);
      if (this.dirty.has(src) && !this.closed) void this.read(src);
    }
  }

  /** No new reads start; resolves when the ones under way are over. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.busy.values()]);
  }

  /** Resolves when the reads and holds under way are over. */
  async quiet(): Promise<void> {
    await Promise.all([...this.busy.values()]);
  }
}
