// The object store: loose objects written by the runtime, read through isomorphic-git
// (which also reads packs). Writing never needs the git CLI.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import git from "isomorphic-git";
import { writePack, type PackedObject } from "./pack-file.js";

export type ObjectType = "blob" | "tree" | "commit";

/** One entry of a tree object as read back. */
export interface StoredTreeEntry {
  name: string;
  mode: string;
  oid: string;
}

/**
 * Objects larger than this are stored without compression (zlib level 0, what git writes
 * with core.looseCompression=0). Only big trees get there — `results/` with thousands of
 * entries, mostly SHA-1s that do not compress — and deflating a 400 KB tree at level 1
 * took 9 ms of every commit at 10,000 results, level 0 1.4 ms. `git repack` packs them
 * with deltas either way.
 */
const STORE_UNCOMPRESSED_FROM = 64 * 1024;

export class ObjectStore {
  /**
   * isomorphic-git's object cache: shared by the reads on this repo (35 % faster at 10k
   * files). It keeps every pack it opened; dropped after each repack, so it never holds
   * more than the packs there are.
   */
  private cache = {};
  /** Loose objects stored since `takeStored()` was last called (what the packer counts). */
  private stored = 0;
  /** Object folders (`objects/ab`) known to exist. */
  private readonly objectDirs = new Set<string>();
  /** Objects being stored now, by oid; `flush()` waits for them. */
  private readonly storing = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly gitDir: string,
  ) {}

  /** While set, written objects are collected here and `flush()` stores them as one pack. */
  private packing?: Map<string, PackedObject>;

  /** Until the next `flush()`, collect objects into one pack (a new repository's first commit). */
  packNext(): void {
    this.packing = new Map();
  }

  /**
   * Hashes an object and starts storing it as a loose object (zlib level 1, like git's
   * default core.looseCompression; see STORE_UNCOMPRESSED_FROM) unless it exists; returns its oid at once. The objects of a
   * commit (of a whole group commit) are then written in parallel: nothing refers to
   * them until `flush()` has waited for all of them and the branch moves.
   */
  write(type: ObjectType, content: Buffer): string {
    const raw = Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]);
    const oid = createHash("sha1").update(raw).digest("hex");
    if (this.storing.has(oid)) return oid;
    if (this.packing) {
      this.packing.set(oid, { oid, type, content });
      return oid;
    }
    const dir = join(this.gitDir, "objects", oid.slice(0, 2));
    const path = join(dir, oid.slice(2));
    if (fs.existsSync(path)) return oid;
    this.storing.set(oid, this.store(dir, path, deflateSync(raw, { level: raw.length > STORE_UNCOMPRESSED_FROM ? 0 : 1 })));
    return oid;
  }

  private async store(dir: string, path: string, data: Buffer): Promise<void> {
    // Written aside and renamed: a crash never leaves a torn object under its name.
    const tmp = `${path}.${process.pid}.tmp`;
    if (!this.objectDirs.has(dir)) await mkdir(dir, { recursive: true });
    try {
      await writeFile(tmp, data, { mode: 0o444 });
    } catch (err) {
      // `git repack -d` / `prune-packed` removes emptied object folders.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      await mkdir(dir, { recursive: true });
      await writeFile(tmp, data, { mode: 0o444 });
    }
    this.objectDirs.add(dir);
    await rename(tmp, path);
    this.stored++;
  }

  /** How many loose objects were stored since the last call. */
  takeStored(): number {
    const n = this.stored;
    this.stored = 0;
    return n;
  }

  /** Forgets what isomorphic-git cached (packs that a repack may have removed). */
  forgetCache(): void {
    this.cache = {};
  }

  /** Waits until every object started so far is stored (the first failure is thrown). */
  async flush(): Promise<void> {
    const packing = this.packing;
    this.packing = undefined;
    if (packing?.size) this.storing.set("pack", writePack(this.gitDir, [...packing.values()]));
    const pending = [...this.storing.values()];
    try {
      await Promise.all(pending);
    } finally {
      await Promise.allSettled(pending);
      this.storing.clear();
    }
  }

  /** After a failed commit: lets the writes under way end, without reporting them. */
  async abandon(): Promise<void> {
    this.packing = undefined;
    await Promise.allSettled(this.storing.values());
    this.storing.clear();
  }

  /** The root tree of a commit. */
  async treeOfCommit(oid: string): Promise<string> {
    return (await git.readCommit({ fs, dir: this.dir, oid, cache: this.cache })).commit.tree;
  }

  async readTree(oid: string): Promise<StoredTreeEntry[]> {
    const { tree } = await git.readTree({ fs, dir: this.dir, oid, cache: this.cache });
    return tree.map((e) => ({ name: e.path, mode: e.mode === "040000" ? "40000" : e.mode, oid: e.oid }));
  }

  /** The newest `depth` commits from HEAD, newest first. */
  async log(depth: number): Promise<{ oid: string; message: string }[]> {
    const entries = await git.log({ fs, dir: this.dir, depth, cache: this.cache });
    return entries.map((e) => ({ oid: e.oid, message: e.commit.message }));
  }

  /** A file's text as of a commit, or undefined when the commit does not have it. */
  async fileAt(commit: string, path: string): Promise<string | undefined> {
    try {
      const { blob } = await git.readBlob({ fs, dir: this.dir, oid: commit, filepath: path, cache: this.cache });
      return Buffer.from(blob).toString("utf8");
    } catch (err) {
      if ((err as { code?: string }).code === "NotFoundError") return undefined;
      throw err;
    }
  }

  /** The shared cache, for the isomorphic-git calls of the general commit path. */
  get isoCache(): object {
    return this.cache;
  }
}
