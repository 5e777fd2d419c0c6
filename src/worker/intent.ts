// The redo log that makes a task's effect exactly-once across kill -9: the full
// outcome (every file to write, every commit to make, every message to send) is
// written and fsynced before any of it happens, and replayed on restart for the
// parts git does not show yet.
import { readdir, readFile, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import type { CommitPlan } from "../learning/apply.js";
import { appendDurable, ensureDir, readTextIfExists, writeFileAtomic } from "../store/files.js";
import type { AgentRepo } from "../git/repo.js";

/** A file outside the agent's repository: a handoff message or a shared-segment note. */
export interface ExternalEffect {
  path: string;
  content: string;
  mode: "write" | "append";
  /** For appends: a unique marker that shows the note is already there. */
  marker?: string;
}

export interface Intent {
  taskId: string;
  commits: CommitPlan[];
  external: ExternalEffect[];
}

export const intentPath = (dir: string, taskId: string) => join(dir, `${taskId}.json`);

export async function writeIntent(dir: string, intent: Intent): Promise<string> {
  const path = intentPath(dir, intent.taskId);
  await writeFileAtomic(path, JSON.stringify(intent));
  return path;
}

export async function readIntents(dir: string): Promise<{ path: string; intent: Intent }[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".json"));
  const out: { path: string; intent: Intent }[] = [];
  for (const n of names) {
    const path = join(dir, n);
    try {
      out.push({ path, intent: JSON.parse(await readFile(path, "utf8")) as Intent });
    } catch {
      // A torn intent was never acted on (it is written before anything else): drop it.
      await unlink(path).catch(() => {});
    }
  }
  return out;
}

export interface ExecuteOptions {
  repo: AgentRepo;
  repoDir: string;
  /** Subjects of commits for this task already in git (on recovery). */
  alreadyCommitted?: Set<string>;
  at: Date;
  crash?: (point: string) => void;
}

/** Writes the files and makes the commits of an intent, skipping commits git already has. */
export async function executeIntent(intent: Intent, o: ExecuteOptions): Promise<string[]> {
  const oids: string[] = [];
  for (const plan of intent.commits) {
    if (o.alreadyCommitted?.has(plan.subject)) continue;
    const changed: string[] = [];
    const removed: string[] = [];
    // In parallel: the fsyncs of one commit's files then share a journal commit
    // (4 atomic writes: ~12-16 ms one after another, ~2 ms together).
    await Promise.all(
      Object.entries(plan.files).map(async ([rel, content]) => {
        if (!isInsideRepo(rel)) throw new Error(`refusing to write '${rel}': not a path inside the agent's repository`);
        const abs = join(o.repoDir, rel);
        if (content === null) {
          if (await unlink(abs).then(() => true, () => false)) removed.push(rel);
          else if (await o.repo.isTracked(rel)) removed.push(rel);
        } else {
          await ensureDir(dirname(abs));
          await writeFileAtomic(abs, content);
          changed.push(rel);
        }
      }),
    );
    o.crash?.("after-state-files");
    oids.push(
      await o.repo.commit({ subject: plan.subject, body: plan.body, trailers: plan.trailers, changed, removed, at: o.at }),
    );
    o.crash?.("after-commit-object");
  }
  for (const e of intent.external) {
    await ensureDir(dirname(e.path));
    if (e.mode === "write") await writeFileAtomic(e.path, e.content);
    else if (!e.marker || !((await readTextIfExists(e.path)) ?? "").includes(e.marker)) await appendDurable(e.path, e.content);
  }
  return oids;
}


/** A relative path that stays inside the repository (no `..`, not absolute, not into .git). */
export function isInsideRepo(rel: string): boolean {
  const parts = rel.split("/");
  return !isAbsolute(rel) && !parts.includes("..") && !parts.includes("") && parts[0] !== ".git";
}
