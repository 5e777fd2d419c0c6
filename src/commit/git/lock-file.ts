// Git's lock files: `<file>.lock` created exclusively, written, then renamed over the
// file (commit) or removed (release). Whoever holds the lock is the only writer; git
// and the runtime wait for each other this way.
import type { FileHandle } from "node:fs/promises";
import { open, rename, stat, unlink } from "node:fs/promises";

/** How long to wait for a lock another process holds before the commit fails (and is retried from its intent). */
const WAIT_MS = 10_000;
/**
 * A lock untouched for this long was left by a process killed mid-write (git holds its
 * locks for milliseconds): taken over instead of failing every commit after it. One
 * older than this process was left by the runtime before it (killed while it held the
 * lock: one runtime owns an agent at a time): taken over at once, so a restart after
 * kill -9 does not wait.
 */
const STALE_MS = 5_000;
const STARTED = performance.timeOrigin - 1_000;

export class LockFile {
  private constructor(
    readonly target: string,
    private readonly fh: FileHandle,
  ) {}

  get path(): string {
    return `${this.target}.lock`;
  }

  /** Takes `<target>.lock`, waiting while another process holds it. */
  static async take(target: string): Promise<LockFile> {
    const lock = `${target}.lock`;
    for (let waited = 0; ; waited += 20) {
      try {
        return new LockFile(target, await open(lock, "wx"));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || waited > WAIT_MS) throw err;
        const mtime = await stat(lock).then((st) => st.mtimeMs, () => Date.now());
        if (mtime < STARTED || Date.now() - mtime > STALE_MS) await unlink(lock).catch(() => {});
        else await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  async write(data: Buffer | string): Promise<void> {
    await this.fh.writeFile(data);
  }

  /** Closes the lock and renames it over its file: the new content is in place. */
  async commit(): Promise<void> {
    await this.fh.close();
    try {
      await rename(this.path, this.target);
    } catch (err) {
      await unlink(this.path).catch(() => {});
      throw err;
    }
  }

  /** Gives the lock up without changing the file. */
  async release(): Promise<void> {
    await this.fh.close().catch(() => {});
    await unlink(this.path).catch(() => {});
  }
}
