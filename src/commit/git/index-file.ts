// The index file (`.git/index`, version 2): its codec, and reading and writing it the
// way git does. Only version-2 indexes without merge stages or required extensions are
// handled here; for anything else `load()` answers undefined and the caller leaves the
// index to isomorphic-git.
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { LockFile } from "./lock-file.js";
import { compareBytes, sortedPosition } from "./order.js";

/** The entries of an index, as raw version-2 entries (re-written as they are) by path. */
export class IndexEntries {
  /** The paths in index order, kept sorted as paths come and go (sorting 10k paths per commit costs ms). */
  private readonly order: string[];

  constructor(private readonly entries = new Map<string, Buffer>()) {
    this.order = [...entries.keys()].sort(compareBytes);
  }

  get size(): number {
    return this.order.length;
  }

  /** Sets a path's entry to the file as it is on disk now (`st`), with content `oid`. */
  set(path: string, st: BigIntStats, oid: string, mode: string): void {
    if (!this.entries.has(path)) this.order.splice(sortedPosition(this.order, path, (p) => p), 0, path);
    this.entries.set(path, encodeEntry(path, st, oid, mode));
  }

  /**
   * Whether the file at `path` still looks as this index recorded it (git's own stat
   * check: modification time, size, inode); undefined when the index has no entry for it.
   */
  unchangedOnDisk(path: string, st: BigIntStats): boolean | undefined {
    const e = this.entries.get(path);
    if (!e) return undefined;
    const u32 = (v: bigint) => Number(v & 0xffffffffn);
    return e.readUInt32BE(8) === u32(st.mtimeNs / 1_000_000_000n) && e.readUInt32BE(12) === Number(st.mtimeNs % 1_000_000_000n) && e.readUInt32BE(20) === u32(st.ino) && e.readUInt32BE(36) === u32(st.size);
  }

  /** The blob id the index records for `path`. */
  oidOf(path: string): string | undefined {
    return this.entries.get(path)?.subarray(40, 60).toString("hex");
  }

  delete(path: string): void {
    if (this.entries.delete(path)) this.order.splice(sortedPosition(this.order, path, (p) => p), 1);
  }

  /** The whole index file: header, entries in order, checksum. */
  serialize(): Buffer {
    const header = Buffer.alloc(12);
    header.write("DIRC", 0, "latin1");
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(this.order.length, 8);
    const parts: Buffer[] = [header];
    for (const n of this.order) parts.push(this.entries.get(n)!);
    const body = Buffer.concat(parts);
    return Buffer.concat([body, createHash("sha1").update(body).digest()]);
  }
}

/** A version-2 index entry for a file as it is on disk now. */
function encodeEntry(path: string, st: BigIntStats, oid: string, mode: string): Buffer {
  const name = Buffer.from(path, "utf8");
  const size = Math.ceil((62 + name.length + 1) / 8) * 8;
  const b = Buffer.alloc(size);
  const u32 = (v: bigint) => Number(v & 0xffffffffn);
  const secs = (ns: bigint) => u32(ns / 1_000_000_000n);
  const nanos = (ns: bigint) => Number(ns % 1_000_000_000n);
  b.writeUInt32BE(secs(st.ctimeNs), 0);
  b.writeUInt32BE(nanos(st.ctimeNs), 4);
  b.writeUInt32BE(secs(st.mtimeNs), 8);
  b.writeUInt32BE(nanos(st.mtimeNs), 12);
  b.writeUInt32BE(u32(st.dev), 16);
  b.writeUInt32BE(u32(st.ino), 20);
  b.writeUInt32BE(mode === "100755" ? 0o100755 : 0o100644, 24);
  b.writeUInt32BE(u32(st.uid), 28);
  b.writeUInt32BE(u32(st.gid), 32);
  b.writeUInt32BE(u32(st.size), 36);
  b.write(oid, 40, "hex");
  b.writeUInt16BE(Math.min(name.length, 0xfff), 60);
  name.copy(b, 62);
  return b;
}

/**
 * Entries of a version-2 index by path, or undefined for what we do not write
 * ourselves: other versions, merge stages, or a required extension (split index).
 * Optional extensions (cache tree, untracked cache) are dropped; git rebuilds them.
 */
export function parseIndex(buf: Buffer): IndexEntries | undefined {
  if (buf.length < 32 || buf.toString("latin1", 0, 4) !== "DIRC" || buf.readUInt32BE(4) !== 2) return undefined;
  const count = buf.readUInt32BE(8);
  const entries = new Map<string, Buffer>();
  let at = 12;
  for (let i = 0; i < count; i++) {
    const flags = buf.readUInt16BE(at + 60);
    if (flags & 0x3000) return undefined; // a merge stage: leave conflicts to git
    const end = buf.indexOf(0, at + 62);
    const path = buf.toString("utf8", at + 62, end);
    const size = Math.ceil((end - at + 1) / 8) * 8;
    entries.set(path, Buffer.from(buf.subarray(at, at + size)));
    at += size;
  }
  for (let end = buf.length - 20; at + 8 <= end; ) {
    const sig = buf.toString("latin1", at, at + 4);
    if (sig[0]! < "A" || sig[0]! > "Z") return undefined;
    at += 8 + buf.readUInt32BE(at + 4);
  }
  return new IndexEntries(entries);
}

const stampOf = (st: BigIntStats | undefined) => (st ? `${st.ino}:${st.size}:${st.mtimeNs}` : "none");

/** The index, locked (`index.lock` is ours): change entries, then `commit()` or `release()`. */
export interface LockedIndex {
  /** The entries as on disk now (read again if someone else changed the file). */
  entries: IndexEntries;
  /** Writes the entries into the lock and renames it over the index. */
  commit(): Promise<void>;
  /** Gives the lock up; the index stays as it was. */
  release(): Promise<void>;
}

/**
 * One repository's index file, kept in memory and read again only when someone else
 * changed it (the way isomorphic-git's GitIndexManager does), and written under git's
 * `index.lock`, so a person's `git add` is never written over: it is read in first.
 */
export class IndexFile {
  private cached?: IndexEntries;
  /** ino:size:mtime of the index file as last read or written by us. */
  private stamp?: string;

  constructor(private readonly gitDir: string) {}

  private get path(): string {
    return join(this.gitDir, "index");
  }

  /** The index as of now: from memory unless someone else wrote it; undefined for formats we leave to isomorphic-git. */
  async load(): Promise<IndexEntries | undefined> {
    const st = await stat(this.path, { bigint: true }).catch(() => undefined);
    const stamp = stampOf(st);
    if (this.cached && this.stamp === stamp) return this.cached;
    this.cached = st ? parseIndex(await readFile(this.path)) : new IndexEntries();
    this.stamp = stamp;
    return this.cached;
  }

  /** Takes `index.lock` and reads the index under it. Throws for a format we do not write (someone changed it meanwhile). */
  async lock(): Promise<LockedIndex> {
    const lock = await LockFile.take(this.path);
    let entries: IndexEntries | undefined;
    try {
      entries = await this.load();
      if (!entries) throw new Error(`${this.path}: not a version-2 index without merge stages; it is left to git`);
    } catch (err) {
      await lock.release();
      throw err;
    }
    return {
      entries,
      commit: async () => {
        try {
          await lock.write(entries.serialize());
          await lock.commit();
        } catch (err) {
          await lock.release();
          this.forget();
          throw err;
        }
        this.stamp = stampOf(await stat(this.path, { bigint: true }));
      },
      release: async () => {
        await lock.release();
        this.forget(); // the entries in memory may hold changes that were not written
      },
    };
  }

  /** Forgets the index in memory (it may be ahead of disk after a failed commit). */
  forget(): void {
    this.cached = undefined;
    this.stamp = undefined;
  }
}
