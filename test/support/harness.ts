// The old single harness, kept only so branches written against it still run: its parts
// now live in data.ts (blocks, data dirs), runtime.ts (in-process and CLI), checker.ts
// (git, effects, eventually) and llm-server.ts. Import from those.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
export { ROOT, FIXTURES, tempDir, removeDir, dataDir as dataDirWith, shellAppend, read } from "./data.js";
export { CLI, baseEnv, runCli, runCliAsync, RunningCli, startRun, type CliResult } from "./runtime.js";
export { eventually, git, fsckStrict } from "./checker.js";

export function writeYaml(dir: string, yaml: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "agents.yaml"), yaml);
}
