// The old IAC set-up, kept only so branches written against it still run: blocks, agents.yaml
// and paths are in data.ts, commits in checker.ts, starting runtimes in runtime.ts.
import { afterAll, afterEach } from "vitest";
import { dataDir } from "./data.js";
import type { LlmServer } from "./llm-server.js";
import { runCli, scriptedEnv, startRun, startRuntime, type RunningCli, type RuntimeStart } from "./runtime.js";
export { agent, yaml, iso, block, queue, inbox, agentDir as repo } from "./data.js";
export { subjects, committed, lastCommit } from "./checker.js";

function resetting(llm: LlmServer) {
  afterEach(() => llm.reset());
  afterAll(() => llm.close());
}

export function cliHarness(llm: LlmServer) {
  resetting(llm);
  const env = () => scriptedEnv(llm);
  return {
    env,
    run: (data: string, ...agents: string[]): Promise<RunningCli> => startRun(data, env(), agents.length ? ["--agent", ...agents] : []),
    cli: (...args: string[]) => runCli(args, env()),
    dataDir,
    track: (_dir: string) => {},
  };
}

export function runtimeHarness(llm: LlmServer) {
  resetting(llm);
  return { start: (data: string, opts: RuntimeStart = {}) => startRuntime(data, llm, opts), dataDir, track: (_dir: string) => {} };
}
