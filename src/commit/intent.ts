// The redo log that makes a task's effect exactly-once across kill -9: the full
// outcome (every file to write, every commit to make, every message to send) is
// written and fsynced before any of it happens, and replayed on restart for the
// parts git does not show yet.
import { readdir, readFile, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import type { TaskIntent } from "../apply/plan.js";
import { appendDurable, ensureDir, inFolderMadeOnDemand, readTextIfExists, writeFileAtomic } from "../store/files.js";
import type { AgentRepo } from "./git/repo.js";

export type { ExternalEffect, TaskIntent } from "../apply/plan.js";

/**
 * One group commit: the tasks whose outcomes are made durable together. Files are
 * named so that their order is the order they were written in: they are replayed in
 * that order, so a state file is never put back to an older text.
 */
export interface Intent {
  tasks: TaskIntent[];
}

let written = 0;

export async function writeIntent(dir: string, intent: Intent): Promise<string> {
  const stamp = `${String(Date.now()).padStart(15, "0")}-${String(written++ % 1_000_000).padStart(6, "0")}`;
  const path = join(dir, `${stamp}-${intent.tasks[0]?.taskId ?? "empty"}.json`);
  await inFolderMadeOnDemand(dir, () => writeFileAtomic(path, JSON.stringify(intent)));
  return path;
}

/** The intents left in `dir`, oldest first. */
export async function readIntents(dir: string): Promise<{ path: string; intent: Intent }[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".json")).sort();
  const out: { path: string; intent: Intent }[] = [];
  for (const n of names) {
    const path = join(dir, n);
    try {
      const parsed = JSON.parse(await readFile(path, "utf8")) as Intent | TaskIntent;
      // One task per file, as runs before group commit wrote them.
      out.push({ path, intent: "tasks" in parsed ? parsed : { tasks: [parsed] } });
    } catch {
      // A torn intent was never acted on (it is written before anything else): drop it.
      await unlink(path).catch(() => {});
    }
  }
  return out;
}

export interface ExecuteOptions {
  repo: AgentRepo;
  /** `Task-Id` and subject of commits git already shows (on recovery): not made again. */
  alreadyCommitted?: Set<string>;
  at: Date;
  crash?: (point: string) => void;
}

export const commitKey = (taskId: string | undefined, subject: string) => `${taskId ?? ""}\0${subject}`;

/** Makes the commits of an intent (skipping those git already has), writes its files, then its messages. */
export async function executeIntent(intent: Intent, o: ExecuteOptions): Promise<string[]> {
  const plans = intent.tasks.flatMap((t) => t.commits.map((c) => ({ ...c, at: t.at ? new Date(t.at) : o.at })));
  for (const plan of plans) {
    for (const rel of Object.keys(plan.files)) {
      if (!isInsideRepo(rel)) throw new Error(`refusing to write '${rel}': not a path inside the agent's repository`);
    }
  }
  const done = o.alreadyCommitted;
  const oids = await o.repo.commitAll(plans, { skip: done ? (i) => done.has(commitKey(plans[i]!.trailers["Task-Id"], plans[i]!.subject)) : undefined, crash: o.crash });
  for (const e of intent.tasks.flatMap((t) => t.external)) {
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
