// HEAD and the branch it names: read directly (HEAD, the loose ref, then packed-refs),
// and moved after a commit.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

const isOid = (s: string | undefined): s is string => /^[0-9a-f]{40}$/.test(s ?? "");

/**
 * The commit HEAD points at (undefined before the first commit). Read directly:
 * isomorphic-git's resolveRef probes about ten candidate paths, and this runs for every
 * commit and for every agent at start.
 */
export async function readHead(gitDir: string): Promise<string | undefined> {
  const head = (await readFile(join(gitDir, "HEAD"), "utf8").catch(() => "")).trim();
  const ref = /^ref: (refs\/\S+)$/.exec(head)?.[1];
  if (!ref) return isOid(head) ? head : undefined;
  const loose = (await readFile(join(gitDir, ref), "utf8").catch(() => "")).trim();
  if (isOid(loose)) return loose;
  const packed = await readFile(join(gitDir, "packed-refs"), "utf8").catch(() => "");
  for (const line of packed.split("\n")) {
    const [oid, name] = line.trim().split(" ");
    if (name === ref && isOid(oid)) return oid;
  }
  return undefined;
}

/** Moves the branch HEAD names (or a detached HEAD) to `oid`. */
export async function updateHead(gitDir: string, oid: string): Promise<void> {
  const head = await readFile(join(gitDir, "HEAD"), "utf8");
  const branch = /^ref: (refs\/\S+)/.exec(head)?.[1];
  const ref = join(gitDir, branch ?? "HEAD");
  if (branch) await mkdir(join(ref, ".."), { recursive: true });
  const tmp = `${ref}.lock`;
  await writeFile(tmp, `${oid}\n`);
  await rename(tmp, ref);
}
