// One task file (an agent's queue.md, or a message file in its inbox or handoffs)
// as the runtime sees it: parsed incrementally (only the tail after the last known
// block is re-parsed), and, for queue.md, compacted without losing a concurrent append.
//
// Compaction never rewrites queue.md in place. It gives the file a second name in the
// spool (a hard link), writes the blocks still pending to a new file and renames that
// over queue.md. A writer that opened the old file before the swap still lands its
// bytes in the old inode (the spool name), which is checked again: whatever arrived late
// is appended to queue.md too. Nothing is ever truncated, and the name queue.md never
// disappears.
import { createHash, randomBytes } from "node:crypto";
import { renameSync, statSync, type Stats } from "node:fs";
import { link, open, readFile, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { inFolderMadeOnDemand, linkIfThere, openForAppend, syncDir } from "../store/files.js";
import { readTaskFile } from "../store/task-file-read.js";
import { parseSlice, parseTaskFile, type ParsedBlock } from "../parse/task-blocks.js";
import { decodeLenient, decodeStrict } from "./decode.js";

export { SLICE_BLOCKS } from "../parse/task-blocks.js";
export { blockKey } from "../parse/block-key.js";
import { blockKey } from "../parse/block-key.js";

export type SourceKind = "queue" | "inbox" | "handoff";

export interface SourceRead {
  /** full: every complete block in the file; otherwise only those parsed again from the tail. */
  blocks: ParsedBlock[];
  full: boolean;
  /** A block is still being written (or waits for the settle time). */
  incomplete: boolean;
  missing?: boolean;
  /** The file cannot be used; the message names the problem. */
  error?: string;
  /** The file holds no task block at all (and is settled). */
  empty?: boolean;
  text?: string;
  /** Only a slice was parsed: more blocks wait in the file (`readMore()` parses the next slice). */
  more?: boolean;
  /** Keys of blocks the last read had and this full read no longer finds. */
  gone?: string[];
}

interface Spool {
  path: string;
  /**
   * What of the old file is accounted for (in queue.md already): its first `size` bytes,
   * known by their SHA-1 — never held (a spool is the whole old queue.md: dozens of them
   * at once held 70 MB of a drain's memory).
   */
  size: number;
  hash: string;
  /** A file someone else put in place: merge its blocks, never move its bytes. */
  merge?: boolean;
  lastGrowth: number;
  /** The file's mtime when it was last read: with the same size, nothing was written since. */
  mtimeMs?: number;
}

const sha1 = (b: Buffer) => createHash("sha1").update(b).digest("hex");

const SPOOL_QUIET_MS = 10_000;

export class TaskSource {
  private text = "";
  private blocks: ParsedBlock[] = [];
  private resumeAt = 0;
  private resumeLine = 1;
  private ino = -1;
  private changedAt = 0;
  private changedAtWall = 0;
  private incomplete = false;
  /** Blocks after `resumeAt` are not parsed yet (a big file is read in slices). */
  private more = false;
  /** stampOf() the file at the last read. */
  private stamp?: string;
  private readonly spools: Spool[] = [];

  constructor(
    readonly path: string,
    readonly kind: SourceKind,
    readonly agent: string,
    private readonly settleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long ago a read last saw the file change (ms, the wall clock: writers are real even when the clock is injected). */
  get quietMs(): number {
    return performance.now() - this.changedAtWall;
  }

  get isIncomplete(): boolean {
    return this.incomplete;
  }

  /** Complete blocks as of the last read. */
  get knownBlocks(): readonly ParsedBlock[] {
    return this.blocks;
  }

  /**
   * Reads the file. New blocks are parsed from where the last read stopped — unless that
   * read left unparsed blocks (a file read in slices): then only `readMore()` goes on,
   * when there is room for them.
   */
  async read(advance = false): Promise<SourceRead> {
    const r = await readTaskFile(this.path);
    if (!r.ok) {
      if (r.missing) this.reset();
      return { blocks: [], full: true, incomplete: false, missing: r.missing, error: r.missing ? undefined : r.message };
    }
    return this.take(r.text, r.stat, advance);
  }

  /**
   * The next slice of a file read in slices: parsed from what was read if the file has
   * not changed since (one stat), else a fresh read.
   */
  async readMore(): Promise<SourceRead> {
    if (!this.more) return { blocks: [], full: false, incomplete: this.incomplete };
    const st = await stat(this.path).catch(() => undefined);
    if (!st || stampOf(st) !== this.stamp) return this.read(true);
    return this.take(this.text, st, true);
  }

  /** Whether the last read left blocks unparsed in the file. */
  get hasMore(): boolean {
    return this.more;
  }

  private take(text: string, st: Stats, advance: boolean): SourceRead {
    const ino = st.ino;
    if (text !== this.text || ino !== this.ino) {
      this.changedAt = this.now();
      this.changedAtWall = performance.now();
    }
    const settled = this.now() - this.changedAt >= this.settleMs;
    const prefix = this.text.slice(0, this.resumeAt);
    const incremental = ino === this.ino && this.resumeAt > 0 && text.length >= this.resumeAt && text.startsWith(prefix);
    if (incremental && this.more && !advance) {
      // What was parsed is unchanged; the unparsed rest (and anything appended) waits its turn.
      this.text = text;
      this.stamp = stampOf(st);
      return { blocks: [], full: false, incomplete: false, more: true };
    }
    const p = incremental ? parseSlice(text, this.resumeAt, this.resumeLine, settled) : parseSlice(text, 0, 1, settled);
    let gone: string[] = [];
    if (incremental) {
      this.blocks = this.blocks.filter((b) => b.block.start < this.resumeAt).concat(p.blocks);
      this.resumeLine += countLines(text, this.resumeAt, p.resumeAt);
    } else {
      // Blocks the file no longer holds (a person's edit, an editor's save): when the whole
      // file was parsed, the caller learns which, so a stale copy coming back is a duplicate.
      const now = new Set(p.blocks.map(blockKey));
      gone = p.more ? [] : this.blocks.map(blockKey).filter((k) => !now.has(k));
      this.blocks = p.blocks;
      this.resumeLine = 1 + countLines(text, 0, p.resumeAt);
    }
    this.resumeAt = p.resumeAt;
    this.incomplete = p.incompleteAt !== undefined;
    this.more = p.more === true;
    this.text = text;
    this.ino = ino;
    this.stamp = stampOf(st);
    this.settledStamp = settled && !this.incomplete && !this.more ? this.stamp : undefined;
    const empty = settled && this.blocks.length === 0 && !this.incomplete && !this.more && text.trim() !== "";
    return { blocks: p.blocks, full: !incremental, incomplete: this.incomplete, empty, text: empty ? text : undefined, more: this.more || undefined, gone: gone.length ? gone : undefined };
  }

  /**
   * True when the file looks as it did at the last read and that read had nothing left to
   * wait for (settled, no incomplete block): another read would find nothing new. Only
   * for the reconcile scan; a watcher event always reads (an in-place rewrite of the same
   * size within one mtime tick would look unchanged here).
   */
  unchangedSinceSettledRead(): boolean {
    if (this.settledStamp === undefined || this.spools.length) return false;
    const st = statSync(this.path, { throwIfNoEntry: false });
    return st !== undefined && stampOf(st) === this.settledStamp;
  }

  private settledStamp?: string;

  /** True when the file still holds exactly what the last read parsed (before deleting it). */
  async unchangedSinceRead(): Promise<boolean> {
    const r = await readTaskFile(this.path);
    return r.ok && r.stat.ino === this.ino && r.text === this.text;
  }

  /** Deletes the file (a message file whose blocks are all handled); gone already is fine. */
  async remove(): Promise<void> {
    await unlink(this.path).catch(() => {});
  }

  /** Forget what was read: the next read parses the whole file. */
  reset(): void {
    this.settledStamp = undefined;
    this.text = "";
    this.blocks = [];
    this.resumeAt = 0;
    this.resumeLine = 1;
    this.ino = -1;
    this.incomplete = false;
    this.more = false;
    this.stamp = undefined;
  }

  /**
   * Removes handled blocks from queue.md (see the module header for why it is safe
   * with concurrent appenders). Returns the keys removed, or undefined if it did nothing.
   */
  async compact(isHandled: (b: ParsedBlock) => boolean, spoolDir: string, isHandledKey: (key: string) => boolean): Promise<string[] | undefined> {
    if (this.kind !== "queue" || this.incomplete) return undefined;
    const handled = this.blocks.filter(isHandled);
    if (handled.length === 0) return undefined;
    // A second name for the current file: appends through an fd opened before the swap
    // below land in it, and a crash leaves it behind for recoverSpools.
    const spool = join(spoolDir, `queue-${Date.now()}-${randomBytes(3).toString("hex")}.md`);
    try {
      await inFolderMadeOnDemand(spoolDir, () => link(this.path, spool));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const spoolBytes = await readFile(spool);
    const spoolText = decodeStrict(spoolBytes);
    if (spoolText === undefined) {
      // Invalid UTF-8 arrived since the read: rewriting would turn it into U+FFFD and run it.
      // Leave the file as it is; the next read reports the bytes by line.
      await unlink(spool).catch(() => {});
      return undefined;
    }
    let keep: ParsedBlock[];
    let head: string;
    let tail: string;
    /** Blocks not parsed yet (a file read in slices): kept as they are. */
    let rest: string;
    const rewritten = !spoolText.startsWith(this.text);
    if (!rewritten) {
      keep = this.blocks.filter((b) => !isHandled(b));
      const firstStart = this.blocks[0]?.block.start ?? this.resumeAt;
      head = this.blocks[0]?.kind === "invalid" && this.blocks[0].block.start === 0 ? "" : this.text.slice(0, firstStart);
      rest = this.more ? this.text.slice(this.resumeAt) : "";
      tail = spoolText.slice(this.text.length);
    } else {
      // Someone rewrote the file in place since we read it: decide on what it holds now.
      const p = parseSlice(spoolText, 0, 1, true);
      keep = p.blocks.filter((b) => !isHandled(b));
      head = spoolText.slice(0, p.blocks[0]?.block.start ?? 0);
      if (p.blocks[0]?.kind === "invalid" && p.blocks[0].block.start === 0) head = "";
      rest = p.more ? spoolText.slice(p.resumeAt) : "";
      tail = p.incompleteAt !== undefined ? spoolText.slice(p.incompleteAt) : "";
    }
    if (tail && !tail.endsWith("\n")) {
      // Someone is in the middle of writing a line: moving half of it would split it.
      await unlink(spool).catch(() => {});
      return undefined;
    }
    // Blank lines before the first block would pile up, one per removed block.
    head = head.trim() === "" ? "" : head.replace(/\s*$/, "\n\n");
    const kept = head + keep.map((b) => b.block.raw).join("") + rest;
    // Replace queue.md atomically: the name never disappears, so `sed -i` or an editor
    // opening it at this moment still finds a file. What the rename displaces keeps a
    // name too: if it is not the file we read (an editor saved in between), its blocks
    // are merged back like any other late write.
    const displaced = spool.replace(/\.md$/, "-displaced.md");
    const ino = await this.replaceQueue(kept + tail, displaced);
    const [was, read] = await Promise.all([stat(displaced).catch(() => undefined), stat(spool)]);
    this.spools.push({ path: spool, size: spoolBytes.length, hash: sha1(spoolBytes), lastGrowth: this.now(), mtimeMs: read.mtimeMs });
    if (was && was.ino !== read.ino) this.spools.push({ path: displaced, size: 0, hash: sha1(Buffer.alloc(0)), lastGrowth: this.now(), merge: true });
    else await unlink(displaced).catch(() => {});
    // Bytes written to the old file between our read and the swap: move them now.
    await this.checkSpools(isHandledKey);
    if (rewritten) {
      this.reset(); // the next read parses the new file whole
      return handled.map(blockKey);
    }

    let offset = head.length;
    let line = 1 + countLines(kept, 0, head.length);
    this.blocks = keep.map((b) => {
      const moved = { ...b.block, start: offset, end: offset + b.block.raw.length, line };
      offset += b.block.raw.length;
      line += countLines(b.block.raw, 0, b.block.raw.length);
      return { kind: b.kind, block: moved } as ParsedBlock;
    });
    // We know exactly what the new file holds (the tail is parsed by the next read).
    const last = this.blocks[this.blocks.length - 1];
    this.text = kept;
    if (this.more) {
      // The next slice starts where the unparsed blocks do.
      this.resumeAt = offset;
      this.resumeLine = line;
    } else {
      this.resumeAt = last ? last.block.start : 0;
      this.resumeLine = last ? last.block.line : 1;
    }
    this.ino = ino;
    this.stamp = undefined; // the rename moved its ctime: the next readMore() reads it again
    return handled.map(blockKey);
  }

  /** Writes a new queue.md beside the old one and renames it into place; returns its inode. */
  private async replaceQueue(text: string, displaced: string): Promise<number> {
    const dir = dirname(this.path);
    // Written beside the spool (same filesystem, so the rename is atomic), not in the
    // agent's work tree, where it would show in `git status` for a moment.
    const tmp = join(dirname(displaced), `.${basename(this.path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    const fh = await open(tmp, "w", 0o644);
    let ino: number;
    try {
      await fh.write(text);
      await fh.sync();
      ino = (await fh.stat()).ino;
    } finally {
      await fh.close();
    }
    // Back to back, synchronously: a writer's own rename over queue.md (`sed -i`) between
    // the two would be displaced by ours with no second name, and lost — milliseconds as two
    // thread-pool trips under load (a test lost a block so), microseconds as two system calls.
    linkIfThere(this.path, displaced);
    renameSync(tmp, this.path);
    await syncDir(dir);
    return ino;
  }

  /** Appends text to queue.md with one O_APPEND write (late bytes from the spool). */
  private async appendToQueue(text: string | Buffer): Promise<void> {
    // Never through a link or into a FIFO (harden: openForAppend checks the descriptor).
    const fh = await openForAppend(this.path, true);
    try {
      const { size } = await fh.stat();
      let prefix = "";
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = "\n";
      }
      if (text.length) await fh.write(Buffer.concat([Buffer.from(prefix), Buffer.isBuffer(text) ? text : Buffer.from(text)]));
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * Carries over what writers holding the old file wrote after the swap; drops spool
   * files that stayed quiet. Appends (the usual case) move as bytes, whole lines only;
   * an in-place rewrite (`cp` over the file, an editor without backup) has its blocks
   * merged: those not handled and not already in queue.md are appended.
   */
  async checkSpools(isHandledKey: (key: string) => boolean): Promise<void> {
    for (const s of [...this.spools]) {
      // A stat first: a spool is the whole old queue.md (a megabyte for a big backlog),
      // and reading every one on every check was 7 % of a 3,000-task drain's CPU.
      const st = await stat(s.path).catch(() => undefined);
      const same = st !== undefined && st.size === s.size && st.mtimeMs === s.mtimeMs;
      const all = st === undefined ? undefined : same ? Buffer.alloc(0) : await readFile(s.path).catch(() => undefined);
      if (!all) {
        this.spools.splice(this.spools.indexOf(s), 1);
        continue;
      }
      if (st && !same) s.mtimeMs = st.mtimeMs;
      if (same || (all.length === s.size && sha1(all) === s.hash)) {
        if (this.now() - s.lastGrowth >= SPOOL_QUIET_MS) {
          await unlink(s.path).catch(() => {});
          this.spools.splice(this.spools.indexOf(s), 1);
        }
        continue;
      }
      s.lastGrowth = this.now();
      if (!s.merge && all.length > s.size && sha1(all.subarray(0, s.size)) === s.hash) {
        const lastNewline = all.lastIndexOf(0x0a);
        if (lastNewline < s.size) continue; // half a line so far: wait for the rest
        // Moved as bytes: invalid UTF-8 stays invalid (and is reported by the next read), never U+FFFD.
        await this.appendToQueue(all.subarray(s.size, lastNewline + 1));
        [s.size, s.hash] = [lastNewline + 1, sha1(all.subarray(0, lastNewline + 1))];
        continue;
      }
      const current = await readTaskFile(this.path);
      const present = new Set(current.ok ? parseTaskFile(current.text, { settled: true }).blocks.map(blockKey) : []);
      const p = parseTaskFile(decodeLenient(all), { settled: true });
      const missing = p.blocks.filter((b) => !isHandledKey(blockKey(b)) && !present.has(blockKey(b)));
      if (missing.length) await this.appendToQueue(missing.map((b) => b.block.raw).join(""));
      [s.size, s.hash] = [all.length, sha1(all)];
    }
  }

}

function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

const stampOf = (st: Stats) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
