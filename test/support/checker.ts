// Counts a task's effects the way a person would check them: commits with its
// Task-Id trailer in git (native CLI), its result file, and dead letters.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { git } from "./harness.js";

export interface EffectCount {
  lost: string[];
  duplicated: string[];
  commits: Map<string, number>;
  deadLetters: string[];
}

export function countEffects(agentDir: string, expected: string[], deadLetterDir?: string): EffectCount {
  const commits = new Map<string, number>();
  const out = git(agentDir, "log", "--format=%s%x09%(trailers:key=Task-Id,valueonly,separator=)");
  for (const line of out.split("\n")) {
    const [subject, id] = line.split("\t");
    if (!subject?.includes("(task):") || !id) continue;
    commits.set(id, (commits.get(id) ?? 0) + 1);
  }
  const deadLetters = deadLetterDir && existsSync(deadLetterDir) ? readdirSync(deadLetterDir).filter((f) => f.endsWith(".md")) : [];
  const lost = expected.filter((id) => !commits.has(id) || !existsSync(join(agentDir, "results", `${id}.md`)));
  const duplicated = [...commits].filter(([, n]) => n > 1).map(([id]) => id);
  return { lost, duplicated, commits, deadLetters };
}

export function blocksLeft(queueFile: string): string[] {
  if (!existsSync(queueFile)) return [];
  return [...readFileSync(queueFile, "utf8").matchAll(/^## (\S+)/gm)].map((m) => m[1]!);
}
