// File primitives with the durability the runtime promises: atomic replace
// (temp + fsync + rename + fsync dir), durable append, and careful reads that turn
// binary, oversized or unreadable files into messages instead of exceptions.
import { randomBytes } from "node:crypto";
import { constants, statSync, type Stats } from "node:fs";
import { mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
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
  await Promise.all(dirs.map((d) => mkdir(d, { recursive: true })));
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
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** One write() with O_APPEND, then fsync: concurrent appenders never interleave within it. */
export async function appendDurable(path: string, content: string): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
  try {
    await fh.write(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r").catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // Some filesystems (and Docker Desktop mounts) refuse fsync on directories.
  } finally {
    await fh.close();
  }
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Texts of small files read again and again (what goes into every prompt), re-read only
 * when the file changed: a stat instead of open + fstat + read + close. Our own writes
 * replace files (new inode); an edit in place changes mtime or size.
 */
export class TextCache {
  private readonly texts = new Map<string, { stamp: string; text: string }>();

  async read(path: string): Promise<string | undefined> {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
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

export const MAX_TASK_FILE_BYTES = 16 * 1024 * 1024;

export type TaskFileRead =
  | { ok: true; text: string; bytes: Buffer; stat: Stats }
  | { ok: false; missing: boolean; message: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads a task file, refusing (with a message naming the problem) what cannot be a task file. */
export async function readTaskFile(path: string, maxBytes = MAX_TASK_FILE_BYTES): Promise<TaskFileRead> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === "ENOENT", message: code === "ENOENT" ? "file is missing" : `cannot stat (${code})` };
  }
  if (st.isDirectory()) return { ok: false, missing: false, message: "is a directory, expected a markdown file of task blocks" };
  if (!st.isFile()) return { ok: false, missing: false, message: "is not a regular file" };
  if (st.size > maxBytes) {
    return {
      ok: false,
      missing: false,
      message: `is ${(st.size / 1048576).toFixed(1)} MB, over the ${maxBytes / 1048576} MB limit for a task file: split it into smaller files in shared/iac/inbox/<agent>/`,
    };
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, missing: true, message: "file is missing" };
    return { ok: false, missing: false, message: code === "EACCES" ? "cannot be read: permission denied" : `cannot be read (${code})` };
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const line = bytes.subarray(0, nul).toString("latin1").split("\n").length;
    return { ok: false, missing: false, message: `line ${line}: contains a NUL byte; this looks like a binary file, expected UTF-8 text` };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, at).toString("latin1").split("\n").length;
    return { ok: false, missing: false, message: `line ${line}: invalid UTF-8 at byte ${at}; save the file as UTF-8` };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { ok: true, text, bytes, stat: st };
}

function firstInvalidUtf8(bytes: Buffer): number {
  let lo = 0;
  let hi = bytes.length;
  // Binary search for the shortest prefix that fails to decode.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, mid + 1), { stream: true });
      lo = mid + 1;
    } catch {
      hi = mid;
    }
  }
  // Point at the start of the broken sequence, not at the byte that gave it away.
  let at = lo;
  while (at > 0 && at > lo - 3 && (bytes[at - 1]! & 0xc0) === 0x80) at--;
  if (at > 0 && bytes[at - 1]! >= 0xc0) at--;
  return at;
}

const TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Removes temp files of writeFileAtomic left by a process that died mid-write (kill -9). */
export async function removeStaleTemps(dir: string): Promise<number> {
  const { readdir } = await import("node:fs/promises");
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
