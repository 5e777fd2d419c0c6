// Reading a task file (queue.md, a message file) the careful way: refused with a message
// naming the problem — a link, a FIFO or device, a directory, too big, binary, invalid
// UTF-8 — instead of an exception, so one bad file never stops an agent.
import type { Stats } from "node:fs";
import { formatBytes, openRegular, readAt, UnsafePathError } from "./files.js";

export const MAX_TASK_FILE_BYTES = 16 * 1024 * 1024;

export type TaskFileRead =
  | { ok: true; text: string; bytes: Buffer; stat: Stats }
  | { ok: false; missing: boolean; message: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a task file, refusing (with a message naming the problem) what cannot be a task
 * file: a link (at its end or in a folder above it below the data dir), a FIFO or device,
 * a directory, more than `maxBytes`, binary or invalid UTF-8.
 */
export async function readTaskFile(path: string, maxBytes = MAX_TASK_FILE_BYTES): Promise<TaskFileRead> {
  let opened: Awaited<ReturnType<typeof openRegular>>;
  try {
    opened = await openRegular(path);
  } catch (err) {
    if (err instanceof UnsafePathError) {
      const problem = err.problem.startsWith("is a directory") ? "is a directory, expected a markdown file of task blocks" : err.problem;
      return { ok: false, missing: false, message: err.path === path ? problem : `${err.path} ${problem}` };
    }
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, missing: false, message: code === "EACCES" ? "cannot be read: permission denied" : `cannot be opened (${code ?? String(err)})` };
  }
  if (!opened) return { ok: false, missing: true, message: "file is missing" };
  const { fh, stat: st } = opened;
  let bytes: Buffer;
  try {
    if (st.size > maxBytes) return { ok: false, missing: false, message: tooBig(st.size, maxBytes) };
    // Bounded even if the file grows between fstat and read.
    bytes = await readAt(fh, 0, maxBytes + 1, st.size);
    if (bytes.length > maxBytes) return { ok: false, missing: false, message: tooBig(bytes.length, maxBytes) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, missing: false, message: `cannot be read (${code ?? String(err)})` };
  } finally {
    await fh.close();
  }
  return decodeTaskText(bytes, st);
}

const tooBig = (size: number, maxBytes: number) =>
  `is ${(size / 1048576).toFixed(1)} MB, over the ${maxBytes / 1048576} MB limit for a task file: split it into smaller files in shared/iac/inbox/<agent>/`;

/** Task-file bytes as text, or the reason they are not text (NUL, invalid UTF-8), with its line. */
export function decodeTaskText(bytes: Buffer, st: Stats): TaskFileRead {
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

export type TaskFileSlice =
  | { ok: true; bytes: Buffer; stat: Stats; from: number; end: number; atEnd: boolean }
  | { ok: false; missing: boolean; message: string };

/**
 * At most `maxBytes` of a task file from byte `from`, cut after the last newline (so a
 * slice never ends inside a line or a UTF-8 sequence) unless it reaches the end of the
 * file: for reading big queue files in slices. Same refusals as readTaskFile.
 */
export async function readTaskFileSlice(path: string, from: number, maxBytes: number): Promise<TaskFileSlice> {
  let opened: Awaited<ReturnType<typeof openRegular>>;
  try {
    opened = await openRegular(path);
  } catch (err) {
    if (err instanceof UnsafePathError) return { ok: false, missing: false, message: err.path === path ? err.problem : `${err.path} ${err.problem}` };
    return { ok: false, missing: false, message: `cannot be opened (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  if (!opened) return { ok: false, missing: true, message: "file is missing" };
  try {
    let bytes = await readAt(opened.fh, from, maxBytes, opened.stat.size);
    const atEnd = from + bytes.length >= opened.stat.size;
    if (!atEnd) {
      const nl = bytes.lastIndexOf(0x0a);
      if (nl < 0) return { ok: false, missing: false, message: `a line at byte ${from} is longer than ${formatBytes(maxBytes)}` };
      bytes = bytes.subarray(0, nl + 1);
    }
    return { ok: true, bytes, stat: opened.stat, from, end: from + bytes.length, atEnd };
  } finally {
    await opened.fh.close();
  }
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
