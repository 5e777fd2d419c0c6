// File primitives with the durability the runtime promises: atomic replace
// (temp + fsync + rename + fsync dir), durable append, and careful reads that turn
// binary, oversized or unreadable files into messages instead of exceptions.
//
// Every folder under DATA_DIR can be written by anyone who may drop a message (one uid
// under Compose), so nothing here follows a link or waits on a special file: opens use
// O_NOFOLLOW | O_NONBLOCK and check the open descriptor is a regular file, reads are
// bounded, and a path below a data dir (see `guardDataDir`) is refused when any folder
// between the data dir and it is a symbolic link. See docs/security.md.
import { randomBytes } from "node:crypto";
import { constants, linkSync, lstatSync, type Stats } from "node:fs";
import { lstat, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";

/** A path the runtime must not touch (a link, a special file, too big): the message names it. */
export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = "UnsafePathError";
  }
}

const roots = new Set<string>();

/**
 * Declares `dataDir` a tree the runtime owns: from now on every path below it that is
 * read, written, listed or created here is refused if a folder between the two is a
 * symbolic link (the data dir itself may be one). store/layout.ts calls it for every
 * data dir it computes paths in, so no caller can forget.
 */
export function guardDataDir(dataDir: string): void {
  roots.add(resolve(dataDir));
}

/** The first symbolic link between a guarded data dir and `path` (path itself included), if any. */
export function linkOnPath(path: string, includeSelf = true): string | undefined {
  const abs = resolve(path);
  for (const root of roots) {
    if (!abs.startsWith(root + sep)) continue;
    const parts = abs.slice(root.length + 1).split(sep);
    if (!includeSelf) parts.pop();
    let at = root;
    for (const part of parts) {
      at = join(at, part);
      const st = lstatSync(at, { throwIfNoEntry: false });
      if (!st) return undefined; // what does not exist yet cannot be a link
      if (st.isSymbolicLink()) return at;
    }
  }
  return undefined;
}

/** Throws UnsafePathError if a folder on the way to `path` is a link. */
function assertNoLinkAbove(path: string): void {
  const link = linkOnPath(path, false);
  if (link) throw new UnsafePathError(link, linkProblem);
}

const linkProblem = "is a symbolic link; AgentOS never follows links under DATA_DIR (replace it with a real folder or file)";

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens a regular file for reading without following a link at its end or anywhere
 * below its data dir, and without blocking on a FIFO or device; undefined if it does not
 * exist. Throws UnsafePathError for anything else than a regular file.
 */
export async function openRegular(path: string): Promise<{ fh: FileHandle; stat: Stats } | undefined> {
  assertNoLinkAbove(path);
  let fh: FileHandle;
  try {
    fh = await open(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP" || code === "EMLINK") throw new UnsafePathError(path, linkProblem);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UnsafePathError(path, st.isDirectory() ? "is a directory, expected a file" : `is ${kindOf(st)}, not a regular file; refused`);
    return { fh, stat: st };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "a special file";
}

/**
 * At most `maxBytes` from `position` of an open file (fewer at its end). The buffer is
 * sized by what the file holds (`size`, from its fstat) plus a little for a writer
 * appending meanwhile, and grows if more keeps coming, never past `maxBytes`: a buffer
 * of the limit itself (16 MB) for every 2 KB file cost the prompt 16 ms a task in
 * allocation and garbage collection.
 */
export async function readAt(fh: FileHandle, position: number, maxBytes: number, size: number): Promise<Buffer> {
  let buf = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(0, size - position) + READ_SLACK_BYTES));
  let got = 0;
  for (;;) {
    if (got === buf.length) {
      if (buf.length >= maxBytes) break;
      const bigger = Buffer.allocUnsafe(Math.min(maxBytes, buf.length * 2));
      buf.copy(bigger, 0, 0, got);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Room beyond a file's size when reading it: an append under way fits without growing the buffer. */
const READ_SLACK_BYTES = 4096;

/** Default bound of one read of a small state or learning file. */
export const MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The bytes of a regular file, at most `maxBytes` (more is an UnsafePathError naming the
 * size): undefined if it does not exist. Never follows a link, never blocks on a FIFO.
 */
export async function readRegular(path: string, maxBytes = MAX_TEXT_FILE_BYTES): Promise<Buffer | undefined> {
  const opened = await openRegular(path);
  if (!opened) return undefined;
  try {
    const bytes = await readAt(opened.fh, 0, maxBytes + 1, opened.stat.size);
    if (bytes.length > maxBytes) throw new UnsafePathError(path, `is over the ${formatBytes(maxBytes)} limit for this file`);
    return bytes;
  } finally {
    await opened.fh.close();
  }
}

export const formatBytes = (n: number) => (n >= 1048576 ? `${n / 1048576} MB` : `${n} bytes`);

export type FolderEntry = { name: string; kind: "file" | "dir" | "link" | "special" };

/**
 * The entries of a folder with what each is (a link is reported, never followed);
 * [] if the folder does not exist. Throws UnsafePathError if the folder itself, or one
 * above it below its data dir, is a link, or it is not a folder.
 */
export async function listFolder(dir: string): Promise<FolderEntry[]> {
  const link = linkOnPath(dir);
  if (link) throw new UnsafePathError(link, linkProblem);
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, kind: e.isFile() ? "file" : e.isDirectory() ? "dir" : e.isSymbolicLink() ? "link" : "special" }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return [];
    if (code === "ENOTDIR") throw new UnsafePathError(dir, "is not a folder");
    throw err;
  }
}

/** What is wrong with a folder entry for reading it as a file, or undefined when it is a regular file. */
export function entryProblem(e: FolderEntry): string | undefined {
  if (e.kind === "file") return undefined;
  if (e.kind === "link") return linkProblem;
  if (e.kind === "dir") return "is a directory, expected a file";
  return "is not a regular file (a FIFO, socket or device); refused";
}

export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  assertNoLinkAbove(path);
  const tmp = await writeTemp(path, content);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Several files replaced atomically as one step (group commit): the temp files are
 * written and fsynced together, so their fsyncs share journal commits, then renamed,
 * then each folder is fsynced once instead of once per file.
 */
export async function writeFilesAtomic(files: Iterable<readonly [string, string | Uint8Array]>): Promise<void> {
  const list = [...files];
  const dirs = [...new Set(list.map(([path]) => dirname(path)))];
  await Promise.all(dirs.map(ensureDir));
  const temps = await Promise.all(list.map(async ([path, content]) => [await writeTemp(path, content), path] as const));
  try {
    for (const [tmp, path] of temps) await rename(tmp, path);
  } catch (err) {
    await Promise.all(temps.map(([tmp]) => unlink(tmp).catch(() => {})));
    throw err;
  }
  await Promise.all(dirs.map(syncDir));
}

/** `content` in a fsynced temp file beside `path` (`.name.<pid>.<hex>.tmp`, what removeStaleTemps cleans up). */
async function writeTemp(path: string, content: string | Uint8Array): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  // O_EXCL: a name planted at the temp path (a link) makes this fail instead of being written through.
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/**
 * One write() with O_APPEND, then fsync: concurrent appenders never interleave within it.
 * Never appends through a link or into a FIFO or device (UnsafePathError).
 */
export async function appendDurable(path: string, content: string): Promise<void> {
  const fh = await openForAppend(path);
  try {
    await fh.write(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** O_APPEND | O_CREAT without following a link or blocking; the descriptor is checked to be a regular file. */
export async function openForAppend(path: string, read = false): Promise<FileHandle> {
  assertNoLinkAbove(path);
  const flags = (read ? constants.O_RDWR : constants.O_WRONLY) | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fh: FileHandle;
  try {
    fh = await open(path, flags, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "EMLINK") throw new UnsafePathError(path, linkProblem);
    if (code === "ENXIO") throw new UnsafePathError(path, "is a FIFO (named pipe), not a regular file; refused");
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new UnsafePathError(path, `is ${st.isDirectory() ? "a directory" : kindOf(st)}, not a regular file; refused`);
  }
  return fh;
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // Some filesystems (and Docker Desktop mounts) refuse fsync on directories.
  } finally {
    await fh.close();
  }
}

/** Creates a folder (and its parents); refuses (UnsafePathError) when it or one above it is a link. */
export async function ensureDir(dir: string): Promise<void> {
  const before = linkOnPath(dir);
  if (before) throw new UnsafePathError(before, linkProblem);
  await mkdir(dir, { recursive: true });
  // mkdir -p walked the path; a link swapped in meanwhile is caught before anything is written in it.
  const after = linkOnPath(dir);
  if (after) throw new UnsafePathError(after, linkProblem);
}

/**
 * Runs `write`, which writes into `dir`; if that fails because `dir` is missing, makes it
 * (the careful way) and runs it once more. For folders made when first needed: 1,000
 * fresh agents need not make a folder each that most of them never use.
 */
export async function inFolderMadeOnDemand<T>(dir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || (await exists(dir))) throw err;
    await ensureDir(dir);
    await syncDir(dirname(dir)); // its name durable before anything in it is counted on (a redo log)
    return write();
  }
}

/** Something (a file, a folder, a link) has this name. */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A small text file, or undefined if it does not exist. A link, a special file or one over
 * `maxBytes` is an UnsafePathError, never read.
 */
export async function readTextIfExists(path: string, maxBytes = MAX_TEXT_FILE_BYTES): Promise<string | undefined> {
  return (await readRegular(path, maxBytes))?.toString("utf8");
}

/**
 * Texts of small files read again and again (what goes into every prompt), re-read only
 * when the file changed: a stat instead of open + fstat + read + close. Our own writes
 * replace files (new inode); an edit in place changes mtime or size.
 */
export class TextCache {
  private readonly texts = new Map<string, { stamp: string; text: string }>();

  async read(path: string): Promise<string | undefined> {
    // lstat: a link or a special file is refused, naming it, never read through.
    const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (st && !st.isFile()) {
      this.texts.delete(path);
      throw new UnsafePathError(path, st.isSymbolicLink() ? linkProblem : "is not a regular file; refused");
    }
    if (!st) {
      this.texts.delete(path);
      return undefined;
    }
    const stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const hit = this.texts.get(path);
    if (hit?.stamp === stamp) return hit.text;
    const text = await readTextIfExists(path);
    if (text === undefined) this.texts.delete(path);
    else this.texts.set(path, { stamp, text });
    return text;
  }
}

/** Removes temp files of writeFileAtomic left by a process that died mid-write (kill -9). */
const TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

export async function removeStaleTemps(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = TEMP_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === "EPERM";
    }
    if (alive) continue;
    await unlink(join(dir, name)).catch(() => {});
    removed++;
  }
  return removed;
}

/**
 * A folder's names, listed again only when the folder changed (its inode or mtime): a
 * stat instead of a listing. Every task asks which skills are archived; listing
 * skills/archive each time was 4 % of a drain's main-thread time.
 */
const RACY_MS = 1_000;

export class FolderListing {
  private last?: { ino: number; mtimeMs: number; names: string[] };

  constructor(private readonly dir: string) {}

  async names(): Promise<string[]> {
    const st = await stat(this.dir).catch(() => undefined);
    if (!st) return (this.last = undefined), [];
    if (this.last?.ino === st.ino && this.last.mtimeMs === st.mtimeMs) return this.last.names;
    const names = await readdir(this.dir).catch(() => [] as string[]);
    // Git's rule for racy entries: the kernel stamps times by its clock tick (a few ms),
    // so a folder changed in the same tick again would show the same mtime. Only a
    // listing of a folder unchanged for a while is kept.
    this.last = Date.now() - st.mtimeMs > RACY_MS ? { ino: st.ino, mtimeMs: st.mtimeMs, names } : undefined;
    return names;
  }
}

/** A second name `name` for `path`, synchronously; nothing when `path` is not there (nothing to keep). */
export function linkIfThere(path: string, name: string): void {
  try {
    linkSync(path, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
