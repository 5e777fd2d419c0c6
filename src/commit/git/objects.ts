// The object store: loose objects written by the runtime, read through isomorphic-git
// (which also reads packs). Writing never needs the git CLI.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { mkdir, readdir, rename, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import git from "isomorphic-git";
import { compress, writePack, type PackedObject } from "./pack-file.js";

export type ObjectType = "blob" | "tree" | "commit";

/** One entry of a tree object as read back. */
export interface StoredTreeEntry {
  name: string;
  mode: string;
  oid: string;
}

/**
 * The file system isomorphic-git reads through. A `git repack` beside the runtime writes
 * its new pack as `objects/pack/.tmp-<pid>-pack-<hash>.idx` before renaming it in;
 * isomorphic-git takes every `*.idx` it lists for a pack, and fails on that half-written
 * one ("Could not read packfile"). Names starting with a dot are not packs yet.
 */
export const gitFs = {
  ...fs,
  promises: {
    ...fs.promises,
    readdir: (async (path: string, opts?: unknown) => {
      const names = (await readdir(path, opts as undefined)) as unknown[];
      return basename(path) === "pack" ? names.filter((n) => !String(n).startsWith(".")) : names;
    }) as typeof fs.promises.readdir,
  },
};

/** Reads tried again after a failure that a repack beside us explains (see `retried`). */
const READ_TRIES = 4;
/** Stores tried again when a repack removed the (empty) object folder under us. */
const STORE_TRIES = 5;

export class ObjectStore {
  /**
   * isomorphic-git's object cache: shared by the reads on this repo (35 % faster at 10k
   * files). It keeps every pack it opened; dropped after each repack, so it never holds
   * more than the packs there are.
   */
  private cache = {};
  /** Objects stored (loose or packed) since `takeStored()` was last called (what the packer counts). */
  private stored = 0;
  /** Object folders (`objects/ab`) known to exist. */
  private readonly objectDirs = new Set<string>();
  /** Objects being stored now, by oid; `flush()` waits for them. */
  private readonly storing = new Map<string, Promise<void>>();
  /** The `.keep` files of packs written since `unkeep()`: their objects are not referenced yet. */
  private readonly kept: string[] = [];

  constructor(
    private readonly dir: string,
    private readonly gitDir: string,
  ) {}

  /** While set, written objects are collected here and `seal()` stores them as one pack. */
  private packing?: Map<string, PackedObject>;

  /** Until `seal()` (or `flush()`), collect the objects written into one pack (a group commit's). */
  packNext(): void {
    this.packing = new Map();
  }

  /**
   * Starts storing the objects collected since `packNext()` as one pack; objects written
   * after this are loose again (the rare extras of a commit: a re-parent onto a person's
   * commit, an index entry's blob). `flush()` waits for it.
   */
  seal(): void {
    const packing = this.packing;
    this.packing = undefined;
    if (!packing?.size) return;
    const objects = [...packing.values()];
    const storing = writePack(this.gitDir, objects).then((keep) => {
      this.kept.push(keep);
      this.stored += objects.length;
    });
    storing.catch(() => {});
    // Keyed by the oids: a write of one of them meanwhile is known to be under way.
    for (const oid of packing.keys()) this.storing.set(oid, storing);
  }

  /**
   * Hashes an object and returns its oid at once. Between `packNext()` and `seal()` it is
   * collected for the pack; otherwise it is stored as a loose object unless it exists.
   * Either way the objects of a commit (of a whole group commit) are written in parallel
   * with the rest of it: nothing refers to them until `flush()` has waited for all of
   * them and the branch moves.
   */
  write(type: ObjectType, content: Buffer): string {
    const header = Buffer.from(`${type} ${content.length}\0`);
    const oid = createHash("sha1").update(header).update(content).digest("hex");
    if (this.storing.has(oid)) return oid;
    if (this.packing) {
      this.packing.set(oid, { oid, type, content });
      return oid;
    }
    const dir = join(this.gitDir, "objects", oid.slice(0, 2));
    const path = join(dir, oid.slice(2));
    if (fs.existsSync(path)) return oid;
    const storing = this.store(dir, path, compress(Buffer.concat([header, content])));
    // Awaited by flush() (or abandon()); until then a failure must not count as unhandled.
    storing.catch(() => {});
    this.storing.set(oid, storing);
    return oid;
  }

  private async store(dir: string, path: string, data: Buffer): Promise<void> {
    // Written aside and renamed: a crash never leaves a torn object under its name.
    const tmp = `${path}.${process.pid}.tmp`;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.objectDirs.has(dir) || attempt > 1) await mkdir(dir, { recursive: true });
        await writeFile(tmp, data, { mode: 0o444 });
        break;
      } catch (err) {
        // `git repack -d` (its prune-packed) removes every object folder it finds empty,
        // also one made a moment ago for this object: make it again.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= STORE_TRIES) throw err;
      }
    }
    this.objectDirs.add(dir);
    await rename(tmp, path);
    this.stored++;
  }

  /** How many objects were stored (loose or in packs) since the last call. */
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
    this.seal();
    const pending = [...new Set(this.storing.values())];
    try {
      await Promise.all(pending);
    } finally {
      await Promise.allSettled(pending);
      this.storing.clear();
    }
  }

  /** The branch points at what was written (or never will): its packs may be repacked like any other. */
  async unkeep(): Promise<void> {
    await Promise.all(this.kept.splice(0).map((keep) => unlink(keep).catch(() => {})));
  }

  /** After a failed commit: lets the writes under way end, without reporting them. */
  async abandon(): Promise<void> {
    this.packing = undefined;
    await Promise.allSettled(new Set(this.storing.values()));
    this.storing.clear();
    await this.unkeep();
  }

  /**
   * A read through isomorphic-git, tried again when it fails: a `git repack -d` beside us
   * moves objects from loose files into a new pack and deletes the packs it merged, and a
   * read that listed them a moment before finds a file gone ("Could not read packfile",
   * or an object missing from both places). The object is still there, in the new pack:
   * reading again, with the cache of open packs dropped, finds it. What is really
   * missing stays missing and throws after the last try.
   */
  private async retried<T>(read: (cache: object) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read(this.cache);
      } catch (err) {
        if (attempt >= READ_TRIES || isMissingPath(err)) throw err;
        this.forgetCache();
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      }
    }
  }

  /** The root tree of a commit. */
  async treeOfCommit(oid: string): Promise<string> {
    return (await this.retried((cache) => git.readCommit({ fs: gitFs, dir: this.dir, oid, cache }))).commit.tree;
  }

  async readTree(oid: string): Promise<StoredTreeEntry[]> {
    const { tree } = await this.retried((cache) => git.readTree({ fs: gitFs, dir: this.dir, oid, cache }));
    return tree.map((e) => ({ name: e.path, mode: e.mode === "040000" ? "40000" : e.mode, oid: e.oid }));
  }

  /** The newest `depth` commits from HEAD, newest first. */
  async log(depth: number): Promise<{ oid: string; message: string }[]> {
    const entries = await this.retried((cache) => git.log({ fs: gitFs, dir: this.dir, depth, cache }));
    return entries.map((e) => ({ oid: e.oid, message: e.commit.message }));
  }

  /** A file's text as of a commit, or undefined when the commit does not have it. */
  async fileAt(commit: string, path: string): Promise<string | undefined> {
    try {
      const { blob } = await this.retried((cache) => git.readBlob({ fs: gitFs, dir: this.dir, oid: commit, filepath: path, cache }));
      return Buffer.from(blob).toString("utf8");
    } catch (err) {
      if (isMissingPath(err)) return undefined;
      throw err;
    }
  }
}

/** isomorphic-git's answer for a path a tree does not have (as opposed to an object it cannot find). */
function isMissingPath(err: unknown): boolean {
  const e = err as { code?: string; data?: { what?: string } };
  return e.code === "NotFoundError" && (e.data?.what ?? "").startsWith("file or directory found at");
}
