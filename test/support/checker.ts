// Looking at what AgentOS did the way a person would, now or once it has happened: git
// history through the native CLI (and `git fsck --strict`), a task's commits and result
// file, what is left in a queue, dead letters.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listDeadLetters, type StoredDeadLetter } from "../../src/store/dead-letters.js";
import { resultFile } from "../../src/store/layout.js";
import { agentDir, deadLetterDir, read } from "./data.js";

/** Polls until fn returns a truthy value, and returns it; the error names `what`. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 20_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ── git ─────────────────────────────────────────────────────────────────────

/** The native git CLI, for checking what a person would see. */
export function git(dir: string, ...args: string[]): string {
  const r = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

export function fsckStrict(dir: string): void {
  git(dir, "fsck", "--strict", "--no-progress");
}

/** An agent's commit subjects, newest first. */
export const subjects = (data: string, name: string) => git(agentDir(data, name), "log", "--format=%s").trim().split("\n");
export const committed = (data: string, name: string, subject: string) => subjects(data, name).includes(subject);
/** The whole message of the newest commit whose message matches `grep`. */
export const lastCommit = (data: string, name: string, grep: string) => git(agentDir(data, name), "log", "-1", `--grep=${grep}`, "--format=%B");

// ── a task's effects ────────────────────────────────────────────────────────

export interface EffectCount {
  lost: string[];
  duplicated: string[];
  commits: Map<string, number>;
  deadLetters: string[];
}

/**
 * Commits per Task-Id trailer (native git), and which expected tasks lack a commit or a
 * result: in the work tree, or — for one that left it (results/ keeps the newest
 * `tasks.keep_results`) — in the commit of its task.
 */
export function countEffects(agentDir: string, expected: string[], deadLetterDir?: string): EffectCount {
  const commits = new Map<string, number>();
  const commitOf = new Map<string, string>();
  const out = git(agentDir, "log", "--format=%H%x09%s%x09%(trailers:key=Task-Id,valueonly,separator=)");
  for (const line of out.split("\n")) {
    const [oid, subject, id] = line.split("\t");
    if (!subject?.includes("(task):") || !id) continue;
    commits.set(id, (commits.get(id) ?? 0) + 1);
    commitOf.set(id, oid!);
  }
  const deadLetters = deadLetterDir && existsSync(deadLetterDir) ? readdirSync(deadLetterDir).filter((f) => f.endsWith(".md")) : [];
  const notInTree = expected.filter((id) => commits.has(id) && !existsSync(join(agentDir, resultFile(id))));
  const inHistory = new Set<string>();
  if (notInTree.length) {
    const r = spawnSync("git", ["-C", agentDir, "cat-file", "--batch-check"], { input: notInTree.map((id) => `${commitOf.get(id)}:${resultFile(id)}`).join("\n") + "\n", encoding: "utf8" });
    r.stdout.trim().split("\n").forEach((l, i) => {
      if (/ blob \d+$/.test(l)) inHistory.add(notInTree[i]!);
    });
  }
  const lost = expected.filter((id) => !commits.has(id) || (!existsSync(join(agentDir, resultFile(id))) && !inHistory.has(id)));
  const duplicated = [...commits].filter(([, n]) => n > 1).map(([id]) => id);
  return { lost, duplicated, commits, deadLetters };
}

/** The ids of the blocks still in a task file. */
export function blocksLeft(queueFile: string): string[] {
  if (!existsSync(queueFile)) return [];
  return [...readFileSync(queueFile, "utf8").matchAll(/^## (\S+)/gm)].map((m) => m[1]!);
}

// ── dead letters ────────────────────────────────────────────────────────────

/** The text of every dead-letter file, as `cat` shows it. */
export function deadLetterTexts(data: string): string[] {
  const dir = deadLetterDir(data);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md") && !f.startsWith("."))
    .map((f) => read(join(dir, f)));
}

/** The dead letters once there are `n` of them (or, without `n`, at least one). */
export function deadLettersEventually(data: string, n?: number, timeoutMs = 10_000): Promise<StoredDeadLetter[]> {
  return eventually(
    async () => {
      const all = await listDeadLetters(deadLetterDir(data));
      return (n === undefined ? all.length > 0 : all.length === n) ? all : undefined;
    },
    timeoutMs,
    n === undefined ? "a dead letter" : `${n} dead letter(s)`,
  );
}
