// One agent's git repository, through isomorphic-git (no native git needed).
// Owns commit messages and trailers; never commits anything but the paths it is given.
//
// A commit costs O(changed paths), not O(tracked files): git.add rewrites the whole
// index and git.commit rebuilds every tree from it, which made a task commit 5× slower
// at 10,000 results/<id>.md files. Instead the blobs, the trees on the changed paths
// (kept in memory between commits) and the commit are written as loose objects here,
// and the index (also kept in memory, re-read when someone else changed it) is written
// back with entries for the changed paths, so native `git status` stays clean.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import git from "isomorphic-git";
import { writeFilesAtomic } from "../../store/files.js";

export interface Trailers {
  "Task-Id"?: string;
  Source?: string;
  Reward?: string;
  Audit?: string;
  Model?: string;
  Attempt?: string;
  "Handoff-From"?: string;
  "Handoff-To"?: string;
  "Parent-Task"?: string;
  [key: string]: string | undefined;
}

export interface CommitRequest {
  subject: string;
  body?: string;
  trailers?: Trailers;
  /** Paths relative to the repository that were written. */
  changed: string[];
  /** Paths relative to the repository that were deleted. */
  removed?: string[];
  /** Commit time; defaults to now. */
  at?: Date;
}

/** A commit whose file contents are given (null = delete), not read from disk. */
export interface ContentCommit {
  subject: string;
  body?: string;
  trailers?: Trailers;
  files: Record<string, string | null>;
  at?: Date;
}

export interface LoggedCommit {
  oid: string;
  subject: string;
  trailers: Record<string, string>;
}

export function commitMessage(subject: string, body?: string, trailers?: Trailers): string {
  const parts = [subject.trim()];
  const text = body?.replace(/\r\n?/g, "\n").trim();
  if (text) parts.push(text);
  const lines = Object.entries(trailers ?? {})
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${String(v).replace(/\s+/g, " ").trim()}`);
  if (lines.length) parts.push(lines.join("\n"));
  return parts.join("\n\n") + "\n";
}

/** Trailers of a commit message: `Key: value` lines of its last paragraph. */
export function parseTrailers(message: string): Record<string, string> {
  const paragraphs = message.trim().split(/\n\s*\n/);
  const last = paragraphs[paragraphs.length - 1] ?? "";
  const out: Record<string, string> = {};
  if (paragraphs.length < 2) return out;
  for (const line of last.split("\n")) {
    const m = /^([A-Za-z][A-Za-z0-9-]*): (.*)$/.exec(line);
    if (!m) return {};
    out[m[1]!] = m[2]!;
  }
  return out;
}

interface IndexState {
  /** Raw index entries (version 2 layout) by path. */
  entries: Map<string, Buffer>;
  /** The paths in index order, kept sorted as paths come and go (sorting 10k paths per commit costs ms). */
  order: string[];
  /** ino:size:mtime of the index file as last read or written by us. */
  stamp: string;
}

function indexSet(index: IndexState, path: string, entry: Buffer): void {
  if (!index.entries.has(path)) index.order.splice(sortedPosition(index.order, path), 0, path);
  index.entries.set(path, entry);
}

function indexDelete(index: IndexState, path: string): void {
  if (index.entries.delete(path)) index.order.splice(sortedPosition(index.order, path), 1);
}

/** Where `key` is (or would go) in a list sorted by compareBytes. */
function sortedPosition(list: string[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareBytes(list[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One folder's tree entries, kept sorted the way git orders them (a folder sorts as `name/`). */
class TreeCache {
  private readonly byName = new Map<string, TreeEntry>();
  /** Entries in git order; serializing is then one concat (no lookups per entry at 10k entries). */
  private order: TreeEntry[] | undefined;
  /**
   * The tree object's content as of the last serialize(), patched in place of being
   * rebuilt: adding one result to a 10,000-entry folder copies 400 KB once instead of
   * concatenating 10,000 pieces (13 % of a 5,000-task drain's CPU).
   */
  private bytes: Buffer | undefined;

  get size(): number {
    return this.byName.size;
  }

  get(name: string): { mode: string; oid: string } | undefined {
    return this.byName.get(name);
  }

  set(name: string, mode: string, oid: string): void {
    const before = this.byName.get(name);
    if (before && before.mode === mode && before.oid === oid) return;
    const entry: TreeEntry = { mode, oid, key: sortKey(name, mode), bytes: Buffer.concat([Buffer.from(`${mode} ${name}\0`, "utf8"), Buffer.from(oid, "hex")]) };
    this.byName.set(name, entry);
    if (!this.order) return;
    if (before) this.remove(before);
    const at = this.position(entry.key);
    if (this.bytes) {
      const offset = this.offsetOf(at);
      this.bytes = Buffer.concat([this.bytes.subarray(0, offset), entry.bytes, this.bytes.subarray(offset)]);
    }
    this.order.splice(at, 0, entry);
  }

  delete(name: string): void {
    const before = this.byName.get(name);
    if (!before) return;
    this.byName.delete(name);
    if (this.order) this.remove(before);
  }

  serialize(): Buffer {
    this.order ??= [...this.byName.values()].sort((a, b) => compareBytes(a.key, b.key));
    this.bytes ??= Buffer.concat(this.order.map((e) => e.bytes));
    return this.bytes;
  }

  private remove(entry: TreeEntry): void {
    const at = this.position(entry.key);
    if (this.bytes) {
      const offset = this.offsetOf(at);
      this.bytes = Buffer.concat([this.bytes.subarray(0, offset), this.bytes.subarray(offset + entry.bytes.length)]);
    }
    this.order!.splice(at, 1);
  }

  /** Byte offset of the entry at `index` in the serialized tree. */
  private offsetOf(index: number): number {
    let offset = 0;
    for (let i = 0; i < index; i++) offset += this.order![i]!.bytes.length;
    return offset;
  }

  /** Where an entry with this sort key is (or would go) in `order`. */
  private position(key: string): number {
    const list = this.order!;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareBytes(list[mid]!.key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

interface TreeEntry {
  mode: string;
  oid: string;
  /** The name as git sorts it (a folder as `name/`). */
  key: string;
  /** `<mode> <name>\0<20-byte oid>`: this entry inside the tree object. */
  bytes: Buffer;
}

const sortKey = (name: string, mode: string) => (mode === "40000" ? `${name}/` : name);

/** Byte order of UTF-8 (what git uses); plain string order agrees for ASCII. */
function compareBytes(a: string, b: string): number {
  if (/^[\x00-\x7f]*$/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function signature(who: { name: string; email: string; timestamp: number }): string {
  return `${who.name} <${who.email}> ${who.timestamp} +0000`;
}

/** A version-2 index entry for a file as it is on disk now. */
function indexEntry(path: string, st: fs.BigIntStats, oid: string, mode: string): Buffer {
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
 * Entries of a version-2 index by path (raw bytes, re-written as they are), or
 * undefined for what we do not write ourselves: other versions, merge stages, or a
 * required extension (split index). Optional extensions (cache tree, untracked cache)
 * are dropped; git rebuilds them.
 */
function parseIndex(buf: Buffer): Map<string, Buffer> | undefined {
  if (buf.length < 32 || buf.toString("latin1", 0, 4) !== "DIRC" || buf.readUInt32BE(4) !== 2) return undefined;
  const count = buf.readUInt32BE(8);
  const entries = new Map<string, Buffer>();
  let at = 12;
  for (let i = 0; i < count; i++) {
    const flags = buf.readUInt16BE(at + 60);
    if (flags & 0x3000) return undefined; // a merge stage: leave conflicts to git
    let end = buf.indexOf(0, at + 62);
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
  return entries;
}

/**
 * Objects larger than this are stored without compression (zlib level 0, what git writes
 * with core.looseCompression=0). Only big trees get there — `results/` with thousands of
 * entries, mostly SHA-1s that do not compress — and deflating a 400 KB tree at level 1
 * took 9 ms of every commit at 10,000 results, level 0 1.4 ms. `git repack` packs them
 * with deltas either way.
 */
const STORE_UNCOMPRESSED_FROM = 64 * 1024;

export class AgentRepo {
  /** isomorphic-git's object cache: shared by every call on this repo (35 % faster at 10k files). */
  private readonly cache = {};
  private indexState?: IndexState;
  /** Trees of the folders touched so far, as of commit `treesOf`. */
  private readonly trees = new Map<string, TreeCache>();
  private treesOf?: string;

  constructor(
    readonly dir: string,
    private readonly author: { name: string; email: string },
  ) {}

  /** Creates the repository if it is missing; true when it was created. */
  async init(): Promise<boolean> {
    if (fs.existsSync(`${this.dir}/.git`)) return false;
    await git.init({ fs, dir: this.dir, defaultBranch: "main" });
    return true;
  }

  /**
   * The commit HEAD points at (undefined before the first commit). Read directly: HEAD,
   * then the branch file, then packed-refs — isomorphic-git's resolveRef probes about
   * ten candidate paths, and this runs for every commit and for every agent at start.
   */
  async head(): Promise<string | undefined> {
    const head = (await readFile(join(this.gitDir, "HEAD"), "utf8").catch(() => ""))!.trim();
    const ref = /^ref: (refs\/\S+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    const loose = (await readFile(join(this.gitDir, ref), "utf8").catch(() => "")).trim();
    if (/^[0-9a-f]{40}$/.test(loose)) return loose;
    const packed = await readFile(join(this.gitDir, "packed-refs"), "utf8").catch(() => "");
    for (const line of packed.split("\n")) {
      const [oid, name] = line.trim().split(" ");
      if (name === ref && /^[0-9a-f]{40}$/.test(oid ?? "")) return oid;
    }
    return undefined;
  }

  async commit(req: CommitRequest): Promise<string> {
    const seconds = Math.floor((req.at ?? new Date()).getTime() / 1000);
    const who = { ...this.author, timestamp: seconds, timezoneOffset: 0 };
    const message = commitMessage(req.subject, req.body, req.trailers);
    const index = await this.loadIndex();
    if (!index) return this.commitThroughIndex(req, message, who);
    return this.resettingOnError(() => this.commitFromDisk(req, index, message, who));
  }

  private async commitFromDisk(req: CommitRequest, index: IndexState, message: string, who: { name: string; email: string; timestamp: number }): Promise<string> {
    const head = await this.head();
    if (head !== this.treesOf) {
      this.trees.clear();
      this.treesOf = head;
    }
    const files: { path: string; mode: string; oid: string }[] = [];
    const removed = new Set(req.removed ?? []);
    for (const path of req.changed) {
      const abs = join(this.dir, path);
      const [content, st] = await Promise.all([readFile(abs).catch(() => undefined), stat(abs, { bigint: true }).catch(() => undefined)]);
      if (!content || !st) {
        removed.add(path);
        continue;
      }
      const oid = await this.writeObject("blob", content);
      const mode = st.mode & 0o111n ? "100755" : "100644";
      files.push({ path, mode, oid });
      indexSet(index, path, indexEntry(path, st, oid, mode));
    }
    for (const path of removed) indexDelete(index, path);
    const oid = await this.writeCommit(head, files, [...removed], message, who);
    await this.flushObjects();
    await this.writeIndex(index);
    await this.updateHead(oid);
    return oid;
  }

  /**
   * Several commits in a row from contents in memory (a group commit): every object is
   * written first, then the working files (last content of each path), then the index
   * and the branch once. The branch moves to the last commit in one step, so after a
   * crash git shows all of them or none. `skip(i)`: commits git already has (recovery);
   * their files are still written, unless git has every one (then nothing is written). `written`: the files are on disk as given already
   * (bootstrap wrote them): only committed. Returns the new commits' oids.
   */
  async commitAll(plans: ContentCommit[], o: { skip?: (i: number) => boolean; crash?: (point: string) => void; written?: boolean } = {}): Promise<string[]> {
    // Everything already in git (a replay after the branch moved): its files were written
    // before the branch moved, and writing them again could put back older texts.
    if (plans.every((_, i) => o.skip?.(i))) return [];
    const index = await this.loadIndex();
    if (!index) return this.commitAllThroughIndex(plans, o.skip);
    return this.resettingOnError(async () => {
      let head = await this.head();
      if (head !== this.treesOf) {
        this.trees.clear();
        this.treesOf = head;
      }
      const last = new Map<string, string | null>();
      const blobs = new Map<string, string>();
      const oids: string[] = [];
      for (const [i, plan] of plans.entries()) {
        for (const [path, content] of Object.entries(plan.files)) {
          last.set(path, content);
          blobs.delete(path);
        }
        if (o.skip?.(i)) continue;
        const files: { path: string; mode: string; oid: string }[] = [];
        const removed: string[] = [];
        for (const [path, content] of Object.entries(plan.files)) {
          if (content === null) removed.push(path);
          else {
            const oid = await this.writeObject("blob", Buffer.from(content, "utf8"));
            blobs.set(path, oid);
            files.push({ path, mode: "100644", oid });
          }
        }
        const seconds = Math.floor((plan.at ?? new Date()).getTime() / 1000);
        const who = { ...this.author, timestamp: seconds, timezoneOffset: 0 };
        head = await this.writeCommit(head, files, removed, commitMessage(plan.subject, plan.body, plan.trailers), who);
        oids.push(head);
      }
      await this.flushObjects();
      o.crash?.("after-commit-object");
      if (!o.written) {
        const toWrite = [...last].filter((e): e is [string, string] => e[1] !== null);
        await writeFilesAtomic(toWrite.map(([path, content]) => [join(this.dir, path), content] as const));
        await Promise.all([...last].filter(([, c]) => c === null).map(([path]) => unlink(join(this.dir, path)).catch(() => {})));
      }
      o.crash?.("after-state-files");
      for (const [path, content] of last) {
        if (content === null) {
          indexDelete(index, path);
          continue;
        }
        const st = await stat(join(this.dir, path), { bigint: true });
        const oid = blobs.get(path) ?? (await this.writeObject("blob", Buffer.from(content, "utf8")));
        indexSet(index, path, indexEntry(path, st, oid, st.mode & 0o111n ? "100755" : "100644"));
      }
      await this.flushObjects();
      await this.writeIndex(index);
      if (oids.length) await this.updateHead(head!);
      return oids;
    });
  }

  /** Runs a commit; if it fails, the index and trees in memory may be ahead of disk: read both again next time. */
  private async resettingOnError<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      await Promise.allSettled(this.storing.values());
      this.storing.clear();
      this.indexState = undefined;
      this.trees.clear();
      this.treesOf = undefined;
      throw err;
    }
  }

  /** commitAll for index formats we do not write ourselves: one commit at a time through isomorphic-git. */
  private async commitAllThroughIndex(plans: ContentCommit[], skip?: (i: number) => boolean): Promise<string[]> {
    const oids: string[] = [];
    for (const [i, plan] of plans.entries()) {
      const entries = Object.entries(plan.files);
      await writeFilesAtomic(entries.filter((e): e is [string, string] => e[1] !== null).map(([path, c]) => [join(this.dir, path), c] as const));
      const removed = entries.filter(([, c]) => c === null).map(([path]) => path);
      await Promise.all(removed.map((path) => unlink(join(this.dir, path)).catch(() => {})));
      if (skip?.(i)) continue;
      const tracked = new Set(await git.listFiles({ fs, dir: this.dir, cache: this.cache }));
      const changed = entries.filter(([, c]) => c !== null).map(([path]) => path);
      oids.push(await this.commit({ ...plan, changed, removed: removed.filter((p) => tracked.has(p)) }));
    }
    return oids;
  }

  /** The trees on the changed paths and a commit object on top of `head`; moves the in-memory trees to it. */
  private async writeCommit(
    head: string | undefined,
    files: { path: string; mode: string; oid: string }[],
    removed: string[],
    message: string,
    who: { name: string; email: string; timestamp: number },
  ): Promise<string> {
    const tree = await this.writeTrees(head, files, removed);
    const commit = [
      `tree ${tree}`,
      ...(head ? [`parent ${head}`] : []),
      `author ${signature(who)}`,
      `committer ${signature(who)}`,
      "",
      message,
    ].join("\n");
    const oid = await this.writeObject("commit", Buffer.from(commit, "utf8"));
    this.treesOf = oid;
    return oid;
  }

  /** The general path (isomorphic-git's add + commit), for index formats we do not write ourselves. */
  private async commitThroughIndex(req: CommitRequest, message: string, who: { name: string; email: string; timestamp: number; timezoneOffset: number }): Promise<string> {
    this.trees.clear();
    this.indexState = undefined;
    const removed = req.removed ?? [];
    if (req.changed.length) await git.add({ fs, dir: this.dir, filepath: req.changed, cache: this.cache });
    for (const filepath of removed) await git.remove({ fs, dir: this.dir, filepath, cache: this.cache });
    return git.commit({ fs, dir: this.dir, message, author: who, committer: who, cache: this.cache });
  }

  // ── objects ────────────────────────────────────────────────────────────────

  private get gitDir(): string {
    return join(this.dir, ".git");
  }

  /** Object folders (`objects/ab`) known to exist. */
  private readonly objectDirs = new Set<string>();
  /** Objects being stored now, by oid; `flushObjects()` waits for them. */
  private readonly storing = new Map<string, Promise<void>>();

  /**
   * Hashes an object and starts storing it as a loose object (zlib level 1, like git's
   * default core.looseCompression; see STORE_UNCOMPRESSED_FROM) unless it exists; returns its oid at once. The objects of a
   * commit (of a whole group commit) are then written in parallel: nothing refers to
   * them until `flushObjects()` has waited for all of them and the branch moves.
   */
  private async writeObject(type: "blob" | "tree" | "commit", content: Buffer): Promise<string> {
    const raw = Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content]);
    const oid = createHash("sha1").update(raw).digest("hex");
    if (this.storing.has(oid)) return oid;
    const dir = join(this.gitDir, "objects", oid.slice(0, 2));
    const path = join(dir, oid.slice(2));
    if (fs.existsSync(path)) return oid;
    this.storing.set(oid, this.storeObject(dir, path, deflateSync(raw, { level: raw.length > STORE_UNCOMPRESSED_FROM ? 0 : 1 })));
    return oid;
  }

  private async storeObject(dir: string, path: string, data: Buffer): Promise<void> {
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
  }

  /** Waits until every object started so far is stored (the first failure is thrown). */
  private async flushObjects(): Promise<void> {
    const pending = [...this.storing.values()];
    try {
      await Promise.all(pending);
    } finally {
      await Promise.allSettled(pending);
      this.storing.clear();
    }
  }

  /** Tree entries of a folder at HEAD (from memory after the first read). */
  private async treeOf(folder: string, head: string | undefined): Promise<TreeCache> {
    let t = this.trees.get(folder);
    if (t) return t;
    t = new TreeCache();
    let oid: string | undefined;
    if (folder === "") {
      if (head) oid = (await git.readCommit({ fs, dir: this.dir, oid: head, cache: this.cache })).commit.tree;
    } else {
      const slash = folder.lastIndexOf("/");
      const parent = await this.treeOf(slash < 0 ? "" : folder.slice(0, slash), head);
      const e = parent.get(folder.slice(slash + 1));
      if (e?.mode === "40000") oid = e.oid;
    }
    if (oid) {
      const { tree } = await git.readTree({ fs, dir: this.dir, oid, cache: this.cache });
      for (const e of tree) t.set(e.path, e.mode === "040000" || e.mode === "40000" ? "40000" : e.mode, e.oid);
    }
    this.trees.set(folder, t);
    return t;
  }

  /** Writes the trees on the changed paths, deepest first; returns the root tree. */
  private async writeTrees(head: string | undefined, files: { path: string; mode: string; oid: string }[], removed: string[]): Promise<string> {
    const touched = new Set<string>([""]);
    const folderOf = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
    for (const p of [...files.map((f) => f.path), ...removed]) {
      for (let f = folderOf(p); f !== ""; f = folderOf(f)) touched.add(f);
    }
    for (const f of files) (await this.treeOf(folderOf(f.path), head)).set(f.path.slice(f.path.lastIndexOf("/") + 1), f.mode, f.oid);
    for (const p of removed) (await this.treeOf(folderOf(p), head)).delete(p.slice(p.lastIndexOf("/") + 1));
    const depth = (f: string) => (f === "" ? 0 : f.split("/").length);
    const deepestFirst = [...touched].sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
    let root = "";
    for (const folder of deepestFirst) {
      const t = await this.treeOf(folder, head);
      const oid = t.size || folder === "" ? await this.writeObject("tree", t.serialize()) : undefined;
      if (folder === "") root = oid!;
      else {
        const parent = await this.treeOf(folderOf(folder), head);
        const name = folder.slice(folder.lastIndexOf("/") + 1);
        if (oid) parent.set(name, "40000", oid);
        else parent.delete(name);
      }
    }
    return root;
  }

  private async updateHead(oid: string): Promise<void> {
    const head = await readFile(join(this.gitDir, "HEAD"), "utf8");
    const branch = /^ref: (refs\/\S+)/.exec(head)?.[1];
    const ref = join(this.gitDir, branch ?? "HEAD");
    if (branch) await mkdir(join(ref, ".."), { recursive: true });
    const tmp = `${ref}.lock`;
    await writeFile(tmp, `${oid}\n`);
    await rename(tmp, ref);
  }

  // ── index ──────────────────────────────────────────────────────────────────

  /** The index as of now: from memory unless someone else wrote it; undefined for formats we leave to isomorphic-git. */
  private async loadIndex(): Promise<IndexState | undefined> {
    const path = join(this.gitDir, "index");
    const st = await stat(path, { bigint: true }).catch(() => undefined);
    const stamp = st ? `${st.ino}:${st.size}:${st.mtimeNs}` : "none";
    if (this.indexState?.stamp === stamp) return this.indexState;
    const entries = st ? parseIndex(await readFile(path)) : new Map<string, Buffer>();
    this.indexState = entries ? { entries, order: [...entries.keys()].sort(compareBytes), stamp } : undefined;
    return this.indexState;
  }

  /** Writes the index like git does: to index.lock (taken exclusively), then rename. */
  private async writeIndex(index: IndexState): Promise<void> {
    const path = join(this.gitDir, "index");
    const lock = `${path}.lock`;
    const header = Buffer.alloc(12);
    header.write("DIRC", 0, "latin1");
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(index.order.length, 8);
    const parts: Buffer[] = [header];
    for (const n of index.order) parts.push(index.entries.get(n)!);
    const entries = Buffer.concat(parts);
    const body = Buffer.concat([entries, createHash("sha1").update(entries).digest()]);
    let fh;
    for (let waited = 0; ; waited += 20) {
      try {
        fh = await open(lock, "wx");
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || waited > 10_000) throw err;
        // A lock nobody has touched for 5 s was left by a process killed mid-write
        // (git holds it for milliseconds): take it over instead of failing every commit.
        const age = await stat(lock).then((st) => Date.now() - st.mtimeMs, () => 0);
        if (age > 5_000) await unlink(lock).catch(() => {});
        else await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      await fh.write(body);
    } finally {
      await fh.close();
    }
    try {
      await rename(lock, path);
    } catch (err) {
      await unlink(lock).catch(() => {});
      throw err;
    }
    const st = await stat(path, { bigint: true });
    index.stamp = `${st.ino}:${st.size}:${st.mtimeNs}`;
  }

  async isTracked(filepath: string): Promise<boolean> {
    const files = await git.listFiles({ fs, dir: this.dir, cache: this.cache });
    return files.includes(filepath);
  }

  /** The newest commits first, with their trailers. */
  async log(depth: number): Promise<LoggedCommit[]> {
    if (!(await this.head())) return [];
    const entries = await git.log({ fs, dir: this.dir, depth, cache: this.cache });
    return entries.map((e) => ({
      oid: e.oid,
      subject: e.commit.message.split("\n")[0] ?? "",
      trailers: parseTrailers(e.commit.message),
    }));
  }
}
