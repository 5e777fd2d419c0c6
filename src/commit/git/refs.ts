// HEAD and the branch it names, moved the way git moves refs: `<ref>.lock` taken
// exclusively, the ref checked to still hold the commit we built on (compare-and-swap),
// a reflog entry, then the rename. A person's `git commit` in between is never lost:
// the caller re-parents its commits onto it and we try again.
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { LockFile } from "./lock-file.js";
import { signatureLine, type Signature } from "./message.js";

const ZERO = "0".repeat(40);
const isOid = (s: string | undefined): s is string => /^[0-9a-f]{40}$/.test(s ?? "");

/** The ref HEAD names (`refs/heads/main`), or undefined for a detached HEAD. */
async function headRef(gitDir: string): Promise<string | undefined> {
  const head = await readFile(join(gitDir, "HEAD"), "utf8").catch(() => "");
  return /^ref: (refs\/\S+)/.exec(head.trim())?.[1];
}

/** A ref's commit: the loose file, else packed-refs (after `git pack-refs` / `git gc`). */
async function readRef(gitDir: string, ref: string): Promise<string | undefined> {
  const loose = (await readFile(join(gitDir, ref), "utf8").catch(() => "")).trim();
  if (isOid(loose)) return loose;
  const packed = await readFile(join(gitDir, "packed-refs"), "utf8").catch(() => "");
  for (const line of packed.split("\n")) {
    const [oid, name] = line.trim().split(" ");
    if (name === ref && isOid(oid)) return oid;
  }
  return undefined;
}

/**
 * The commit HEAD points at (undefined before the first commit). Read directly:
 * isomorphic-git's resolveRef probes about ten candidate paths, and this runs for every
 * commit and for every agent at start.
 */
export async function readHead(gitDir: string): Promise<string | undefined> {
  const ref = await headRef(gitDir);
  if (ref) return readRef(gitDir, ref);
  const head = (await readFile(join(gitDir, "HEAD"), "utf8").catch(() => "")).trim();
  return isOid(head) ? head : undefined;
}

/** One step of the branch, for its reflog: from `old` to `oid`, by a commit with this subject. */
export interface RefStep {
  oid: string;
  subject: string;
  who: Signature;
}

/**
 * Moves HEAD's branch from `expected` along `steps` (the last one is the new tip).
 * When the branch no longer holds `expected` (someone committed meanwhile),
 * `rebase(actual)` must return the same steps made again on top of `actual`; it runs
 * while the ref is locked, so nothing can move it again until it is done.
 */
export async function moveHead(gitDir: string, expected: string | undefined, steps: RefStep[], rebase: (actual: string | undefined) => Promise<RefStep[]>): Promise<RefStep[]> {
  const ref = await headRef(gitDir);
  const target = join(gitDir, ref ?? "HEAD");
  const lock = await inItsFolder(target, () => LockFile.take(target));
  try {
    const actual = ref ? await readRef(gitDir, ref) : await readHead(gitDir);
    if (actual !== expected) steps = await rebase(actual);
    const tip = steps[steps.length - 1]!.oid;
    await lock.write(`${tip}\n`);
    await appendReflog(gitDir, ref, actual, steps);
    await lock.commit();
    return steps;
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** git's reflog lines (`old new who time\tcommit: subject`) for the branch and for HEAD. */
async function appendReflog(gitDir: string, ref: string | undefined, from: string | undefined, steps: RefStep[]): Promise<void> {
  let old = from ?? ZERO;
  const lines: string[] = [];
  for (const s of steps) {
    const kind = old === ZERO ? "commit (initial)" : "commit";
    lines.push(`${old} ${s.oid} ${signatureLine(s.who)}\t${kind}: ${s.subject.replace(/\s+/g, " ").trim()}\n`);
    old = s.oid;
  }
  const text = lines.join("");
  for (const log of ref ? [ref, "HEAD"] : ["HEAD"]) {
    const path = join(gitDir, "logs", log);
    await inItsFolder(path, () => appendFile(path, text));
  }
}

/**
 * `write` (which creates `path`), with `path`'s folder made first only when it says
 * ENOENT: a ref's or reflog's folder is missing only for a new branch name or after
 * someone removed it, and probing it at every commit was three mkdirs, each a trip
 * through the thread pool.
 */
async function inItsFolder<T>(path: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await mkdir(dirname(path), { recursive: true });
    return write();
  }
}
