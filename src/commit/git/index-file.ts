// The index file (`.git/index`, versions 2, 3 and 4): its codec, and reading and writing
// it the way git does. An index with merge stages (a person's conflict) or a required
// extension (split index, sparse index) is not written here: `load()` says why, and the
// commit waits for the person (persons-operation.ts) instead of writing it some other way.
import { createHash } from "node:crypto";
import { statSync, type BigIntStats } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { LockFile } from "./lock-file.js";
import { compareBytes, sortedPosition } from "./order.js";
import { RepoBusyError } from "./persons-operation.js";

/**
 * The entries of an index by path: each entry's fixed part as read (62 bytes, 64 with
 * version 3's extended flags: intent-to-add, skip-worktree), re-written as it is, in the
 * version it was read in (4 compresses paths: `feature.manyFiles`).
 */
export class IndexEntries {
  /** The paths in index order, kept sorted as paths come and go (sorting 10k paths per commit costs ms). */
  private readonly order: string[];

  constructor(
    private readonly entries = new Map<string, Buffer>(),
    private readonly version = 2,
  ) {
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
    header.writeUInt32BE(this.version, 4);
    header.writeUInt32BE(this.order.length, 8);
    const parts: Buffer[] = [header];
    let previous: Buffer = Buffer.alloc(0);
    for (const n of this.order) {
      const fixed = this.entries.get(n)!;
      const name = Buffer.from(n, "utf8");
      parts.push(fixed);
      if (this.version === 4) {
        // The path as what to cut from the end of the previous one and what to add.
        let common = 0;
        while (common < previous.length && common < name.length && previous[common] === name[common]) common++;
        parts.push(encodeVarint(previous.length - common), name.subarray(common), Buffer.alloc(1));
        previous = name;
      } else {
        parts.push(name, Buffer.alloc(Math.ceil((fixed.length + name.length + 1) / 8) * 8 - fixed.length - name.length)); // NUL-padded to 8 bytes
      }
    }
    const body = Buffer.concat(parts);
    return Buffer.concat([body, createHash("sha1").update(body).digest()]);
  }
}

/** Git's varint of index v4 (varint.c: each continuation adds one before shifting), not LEB128. */
function encodeVarint(value: number): Buffer {
  const bytes = [value & 127];
  while ((value >>= 7)) bytes.unshift(128 | (--value & 127));
  return Buffer.from(bytes);
}

function decodeVarint(buf: Buffer, at: number): [value: number, next: number] {
  let c = buf[at++]!;
  let value = c & 127;
  while (c & 128) {
    c = buf[at++]!;
    value = ((value + 1) << 7) + (c & 127);
  }
  return [value, at];
}

/** The fixed part of an entry (no extended flags) for a file as it is on disk now. */
function encodeEntry(path: string, st: BigIntStats, oid: string, mode: string): Buffer {
  const b = Buffer.alloc(62);
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
  b.writeUInt16BE(Math.min(Buffer.byteLength(path, "utf8"), 0xfff), 60);
  return b;
}

/**
 * Entries of a version 2, 3 or 4 index by path, or why it is not one we write: merge
 * stages (a conflict a person is resolving), a required extension (split index, sparse
 * index), another version. Optional extensions (cache tree, untracked cache) are
 * dropped; git rebuilds them.
 */
export function parseIndex(buf: Buffer): IndexEntries | string {
  if (buf.length < 32 || buf.toString("latin1", 0, 4) !== "DIRC") return "not a git index";
  const version = buf.readUInt32BE(4);
  if (version < 2 || version > 4) return `index version ${version}, which AgentOS does not write`;
  const count = buf.readUInt32BE(8);
  const entries = new Map<string, Buffer>();
  let at = 12;
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 0; i < count; i++) {
    const flags = buf.readUInt16BE(at + 60);
    if (flags & 0x3000) return "it has unresolved conflicts (merge stages): commit or abort what you are merging";
    const fixedSize = version >= 3 && flags & 0x4000 ? 64 : 62;
    let name: Buffer;
    let next: number;
    if (version === 4) {
      const [cut, from] = decodeVarint(buf, at + fixedSize);
      const end = buf.indexOf(0, from);
      name = Buffer.concat([previous.subarray(0, previous.length - cut), buf.subarray(from, end)]);
      next = end + 1;
    } else {
      const end = buf.indexOf(0, at + fixedSize);
      name = buf.subarray(at + fixedSize, end);
      next = at + Math.ceil((end - at + 1) / 8) * 8;
    }
    entries.set(name.toString("utf8"), Buffer.from(buf.subarray(at, at + fixedSize)));
    previous = name;
    at = next;
  }
  for (let end = buf.length - 20; at + 8 <= end; ) {
    const sig = buf.toString("latin1", at, at + 4);
    if (sig[0]! < "A" || sig[0]! > "Z") return `it uses the '${sig}' extension (${sig === "link" ? "core.splitIndex: git update-index --no-split-index" : sig === "sdir" ? "a sparse index: git sparse-checkout disable, or index.sparse=false" : "unknown to AgentOS"})`;
    at += 8 + buf.readUInt32BE(at + 4);
  }
  return new IndexEntries(entries, version);
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
  /** Why the index as it is now (its stamp) is not one we write: until the file changes. */
  private refused?: { why: string; stamp: string };

  constructor(private readonly gitDir: string) {}

  private get path(): string {
    return join(this.gitDir, "index");
  }

  /**
   * Why the index is not one we write, while it is as it was when a commit found that (one
   * stat): no task should start, ask the model and then find it cannot commit.
   */
  stillRefused(): string | undefined {
    if (!this.refused) return undefined;
    if (stampOf(statSync(this.path, { bigint: true, throwIfNoEntry: false })) === this.refused.stamp) return this.refused.why;
    this.refused = undefined;
    return undefined;
  }

  /** The index as of now: from memory unless someone else wrote it; for one we do not write, why (parseIndex). */
  async load(): Promise<IndexEntries | string> {
    const st = await stat(this.path, { bigint: true }).catch(() => undefined);
    const stamp = stampOf(st);
    if (this.cached && this.stamp === stamp) return this.cached;
    const parsed = st ? parseIndex(await readFile(this.path)) : new IndexEntries();
    if (typeof parsed === "string") {
      this.refused = { why: parsed, stamp };
      return parsed;
    }
    this.refused = undefined;
    this.cached = parsed;
    this.stamp = stamp;
    return this.cached;
  }

  /** Takes `index.lock` and reads the index under it. RepoBusyError for one we do not write (someone changed it meanwhile). */
  async lock(): Promise<LockedIndex> {
    const lock = await LockFile.take(this.path);
    let entries: IndexEntries;
    try {
      const loaded = await this.load();
      if (typeof loaded === "string") throw new RepoBusyError(`${this.path}: ${loaded}; task commits wait until it is one AgentOS writes`);
      entries = loaded;
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
