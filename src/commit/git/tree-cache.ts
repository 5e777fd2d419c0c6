// Tree objects of the folders a commit touches, kept in memory between commits so a
// commit writes only the trees on its changed paths: O(changed paths), not O(files).
import { compareBytes, sortedPosition } from "./order.js";
import type { ObjectStore } from "./objects.js";

interface TreeEntry {
  mode: string;
  oid: string;
  /** The name as git sorts it (a folder as `name/`). */
  key: string;
  /**
   * `<mode> <name>\0<20-byte oid>`: this entry inside the tree object, one character per
   * byte (latin1). A string, not a Buffer: Node hands out small buffers as slices of a
   * shared 64 KB block, and a slice keeps its whole block alive — the ~1,300 entries kept
   * here, each made at a different moment, held 545 blocks (34 MB) at task 3,000 of a
   * drain (heap snapshot), and a 10,000-task drain did not fit in 256 MB. Strings live in
   * the JS heap, and cost no buffer each to make.
   */
  bytes: string;
}

const sortKey = (name: string, mode: string) => (mode === "40000" ? `${name}/` : name);

const keyOf = (e: TreeEntry) => e.key;

/** One folder's tree entries, kept sorted the way git orders them (a folder sorts as `name/`). */
export class FolderTree {
  private readonly byName = new Map<string, TreeEntry>();
  /** Entries in git order; serializing is then one concat (no lookups per entry at 10k entries). */
  private order: TreeEntry[] | undefined;
  /**
   * The tree object's content as of the last serialize(), patched in place of being
   * rebuilt: adding one result to a 10,000-entry folder copies 400 KB once instead of
   * concatenating 10,000 pieces (13 % of a 5,000-task drain's CPU).
   */
  private bytes: string | undefined;

  get size(): number {
    return this.byName.size;
  }

  get(name: string): { mode: string; oid: string } | undefined {
    return this.byName.get(name);
  }

  set(name: string, mode: string, oid: string): void {
    const before = this.byName.get(name);
    if (before && before.mode === mode && before.oid === oid) return;
    const entry: TreeEntry = { mode, oid, key: sortKey(name, mode), bytes: Buffer.from(`${mode} ${name}\0`, "utf8").toString("latin1") + Buffer.from(oid, "hex").toString("latin1") };
    this.byName.set(name, entry);
    if (!this.order) return;
    if (before) this.remove(before);
    const at = sortedPosition(this.order, entry.key, keyOf);
    if (this.bytes !== undefined) {
      const offset = this.offsetOf(at);
      this.bytes = this.bytes.slice(0, offset) + entry.bytes + this.bytes.slice(offset);
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
    this.bytes ??= this.order.map((e) => e.bytes).join("");
    return Buffer.from(this.bytes, "latin1");
  }

  private remove(entry: TreeEntry): void {
    const at = sortedPosition(this.order!, entry.key, keyOf);
    if (this.bytes !== undefined) {
      const offset = this.offsetOf(at);
      this.bytes = this.bytes.slice(0, offset) + this.bytes.slice(offset + entry.bytes.length);
    }
    this.order!.splice(at, 1);
  }

  /** Byte offset of the entry at `index` in the serialized tree. */
  private offsetOf(index: number): number {
    let offset = 0;
    for (let i = 0; i < index; i++) offset += this.order![i]!.bytes.length;
    return offset;
  }
}

/** A file a commit writes: its path in the repository, mode and blob. */
export interface ChangedFile {
  path: string;
  mode: string;
  oid: string;
}

const folderOf = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);
const depth = (f: string) => (f === "" ? 0 : f.split("/").length);

/**
 * Folders whose trees stay in memory: the root, `results/`, the learning files' folders
 * and the fan-out folders used most recently — all 256 of those, since results/ keeps
 * only the newest `tasks.keep_results` (1,000: some 4 entries a folder). With 64, most
 * commits read a fan-out folder's tree back from git (isomorphic-git, 3–5 % of a drain's
 * CPU). The bound still holds with `keep_results: 0` (every result kept): 100,000
 * results are about 12 MB of entries here.
 */
export const MAX_FOLDERS = 300;

/** The trees of the folders touched so far, as of one commit (`base`). */
export class TreeCache {
  /** In order of last use (a Map keeps insertion order: a used folder is moved to the end). */
  private readonly folders = new Map<string, FolderTree>();
  private base?: string;

  constructor(
    private readonly objects: ObjectStore,
    /** At most this many folders' trees are kept between commits. */
    private readonly maxFolders = MAX_FOLDERS,
  ) {}

  /**
   * Starts from commit `head`: the trees in memory are kept only if they are of that
   * commit. Between commits (every object stored) the least recently used folders over
   * `maxFolders` are dropped; their parents name their trees, read again when needed.
   */
  startFrom(head: string | undefined): void {
    if (head !== this.base) {
      this.folders.clear();
      this.base = head;
      return;
    }
    for (const path of this.folders.keys()) {
      if (this.folders.size <= this.maxFolders) break;
      if (path !== "") this.folders.delete(path);
    }
  }

  /** Forgets every tree (they may be ahead of any commit after a failure). */
  forget(): void {
    this.folders.clear();
    this.base = undefined;
  }

  /** Writes the trees on the changed paths, deepest first; returns the root tree. Call `movedTo` with the commit made of it. */
  async write(files: ChangedFile[], removed: string[]): Promise<string> {
    const touched = new Set<string>([""]);
    for (const p of [...files.map((f) => f.path), ...removed]) {
      for (let f = folderOf(p); f !== ""; f = folderOf(f)) touched.add(f);
    }
    for (const f of files) (await this.folder(folderOf(f.path))).set(baseName(f.path), f.mode, f.oid);
    for (const p of removed) (await this.folder(folderOf(p))).delete(baseName(p));
    const deepestFirst = [...touched].sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
    let root = "";
    for (const folder of deepestFirst) {
      const t = await this.folder(folder);
      const oid = t.size || folder === "" ? this.objects.write("tree", t.serialize()) : undefined;
      if (folder === "") root = oid!;
      else {
        const parent = await this.folder(folderOf(folder));
        if (oid) parent.set(baseName(folder), "40000", oid);
        else parent.delete(baseName(folder));
      }
    }
    return root;
  }

  /** The trees in memory are now those of commit `oid`. */
  movedTo(oid: string): void {
    this.base = oid;
  }

  /** Tree entries of a folder at the base commit (from memory after the first read). */
  private async folder(path: string): Promise<FolderTree> {
    let t = this.folders.get(path);
    if (t) {
      this.folders.delete(path);
      this.folders.set(path, t);
      return t;
    }
    t = new FolderTree();
    let oid: string | undefined;
    if (path === "") {
      if (this.base) oid = await this.objects.treeOfCommit(this.base);
    } else {
      const e = (await this.folder(folderOf(path))).get(baseName(path));
      if (e?.mode === "40000") oid = e.oid;
    }
    if (oid) for (const e of await this.objects.readTree(oid)) t.set(e.name, e.mode, e.oid);
    this.folders.set(path, t);
    return t;
  }
}
