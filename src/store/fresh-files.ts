// Writes a new agent's files into folders this process has just made: each file through
// a fsynced temp file beside it, renamed, with only the fsyncs handed to the thread pool.
// Unlike writeFilesAtomic, the folders are not fsynced: a name lost to a crash is a
// missing file, which the next start writes again (bootstrap.ts writes whatever is
// missing, and regenerates a generated file while it is what it generated), as git's
// own pack and ref renames are not followed by a folder fsync either. What must never
// happen, a file there with half its text, the fsync before the rename prevents. The opens,
// writes and renames of a dozen small files into empty folders take microseconds each;
// handing each to the pool cost more than the call itself (1,000 agents start at once).
// Never for a folder someone else may have made: nothing here checks for links.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fsync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";

const fsyncAsync = promisify(fsync);

/**
 * Temp names: 8 hex digits from a counter on a random start, not randomBytes per file
 * (OpenSSL asks the kernel for the pid at every call, a dozen system calls per agent).
 * The pid in the name keeps processes apart; O_EXCL catches anything else.
 */
let tempCounter = randomBytes(4).readUInt32BE(0);
const nextTempId = () => (tempCounter = (tempCounter + 1) >>> 0).toString(16).padStart(8, "0");

/** `files` ([path, content]) in folders made by this process a moment ago (see the module header). */
export async function writeFreshFiles(files: readonly (readonly [string, string])[]): Promise<void> {
  const temps: { tmp: string; path: string; fd?: number }[] = [];
  try {
    for (const [path, content] of files) {
      // The name removeStaleTemps cleans up after a kill -9; O_EXCL never writes through a planted name.
      const t: (typeof temps)[number] = { tmp: join(dirname(path), `.${basename(path)}.${process.pid}.${nextTempId()}.tmp`), path };
      temps.push(t);
      t.fd = openSync(t.tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      const bytes = Buffer.from(content, "utf8");
      for (let at = 0; at < bytes.length; ) at += writeSync(t.fd, bytes, at);
    }
    // Together: their fsyncs overlap in the pool.
    await Promise.all(temps.map((t) => fsyncAsync(t.fd!)));
    for (const t of temps) {
      closeSync(t.fd!);
      t.fd = undefined;
    }
    for (const t of temps) renameSync(t.tmp, t.path);
  } catch (err) {
    for (const t of temps) {
      if (t.fd !== undefined) closeSync(t.fd);
      try {
        unlinkSync(t.tmp);
      } catch {
        // Not made, or renamed in already.
      }
    }
    throw err;
  }
}
