// The image starts as root so that the article's `docker run -v $(pwd)/data:/data IMAGE`
// works whoever owns that folder on the host; the runtime itself never works as root.
// Before any command runs it takes the identity of the data directory's owner (so host
// files stay theirs). A directory owned by root (made with sudo, or by Docker itself) is
// handed once to the image's unprivileged user; afterwards that user owns it.
// Only when AGENTOS_RUN_AS_DATA_OWNER=1 (set in the image) and started as root.
import { lchownSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "./errors.js";

export interface Identity {
  uid: number;
  gid: number;
}

export interface DataOwnerOutcome extends Identity {
  /** Files and folders handed from root to the unprivileged user (0 when none were). */
  chowned: number;
}

/**
 * Drops root for the owner of `dataDir` (or `fallback` when root owns it, after handing the
 * directory over). Returns who the process is now; undefined when it was not root.
 */
export function runAsDataOwner(dataDir: string, fallback: Identity): DataOwnerOutcome | undefined {
  if (process.getuid?.() !== 0 || !process.setuid || !process.setgid) return undefined;
  let st = statSync(dataDir, { throwIfNoEntry: false });
  if (!st) {
    mkdirSync(dataDir, { recursive: true });
    st = statSync(dataDir);
  }
  let target: Identity = { uid: st.uid, gid: st.gid };
  let chowned = 0;
  if (st.uid === 0) {
    target = fallback;
    try {
      chowned = chownTree(dataDir, fallback);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new UserError(
        `${dataDir} belongs to root and cannot be handed to uid ${fallback.uid}:${fallback.gid} (${e.code ?? e.message} on ${e.path ?? dataDir}), ` +
          `and agentos does not run as root. Run with --user "$(id -u):$(id -g)" over a directory you own, or chown it on the host: sudo chown -R ${fallback.uid}:${fallback.gid} <dir>`,
      );
    }
  }
  // Groups first: once the uid is dropped, the process may no longer change them.
  process.setgroups?.([]);
  process.setgid(target.gid);
  process.setuid(target.uid);
  // Root's HOME is not readable by the new user; nothing needs one, but tools look there.
  if (process.env.HOME === "/root") process.env.HOME = "/tmp";
  return { ...target, chowned };
}

/** lchown of every entry below root-owned `dir` (symlinks themselves, never their targets). */
function chownTree(dir: string, to: Identity): number {
  let n = 0;
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.uid === 0) {
      lchownSync(p, to.uid, to.gid);
      n++;
    }
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name));
  };
  visit(dir);
  return n;
}
