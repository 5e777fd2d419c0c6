// Shared by the IAC tests: agents.yaml snippets, message blocks and what to look at in
// an agent's repository and mail folders.
import { join } from "node:path";
import { afterAll, afterEach } from "vitest";
import { baseEnv, dataDirWith, git, removeDir, runCli, startRun, type RunningCli } from "./harness.js";
import type { LlmServer } from "./llm-server.js";
import { Env } from "../../src/config/schema.js";
import { createLogger } from "../../src/log.js";
import type { AgentEvents } from "../../src/agent/agent.js";
import { Runtime } from "../../src/agent/runtime.js";

export const agent = (name: string, cls = "medium", segments = "") =>
  `  - name: ${name}\n    persona: "${name} persona."\n    throughput_class: ${cls}\n${segments}`;
export const yaml = (agents: string[], extra = "") => `agents:\n${agents.join("")}tasks:\n  settle_ms: 100\n${extra}`;

export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
export function block(id: string, task: string, fields: Record<string, string | number> = {}, created = iso(Date.now())): string {
  const extra = Object.entries(fields).map(([k, v]) => `${k}: ${v}\n`).join("");
  return `\n## ${id}\ntask: ${task}\n${extra}created: ${created}\n`;
}

export const repo = (data: string, name: string) => join(data, "agents", name);
export const queue = (data: string, name: string) => join(repo(data, name), "queue.md");
export const inbox = (data: string, name: string) => join(data, "shared", "iac", "inbox", name);
export const subjects = (data: string, name: string) => git(repo(data, name), "log", "--format=%s").trim().split("\n");
export const committed = (data: string, name: string, subject: string) => subjects(data, name).includes(subject);
export const lastCommit = (data: string, name: string, grep: string) => git(repo(data, name), "log", "-1", `--grep=${grep}`, "--format=%B");

/** Data dirs made (or tracked) by a test, removed by its harness after it. */
function tempDirs(dirs: string[]) {
  return {
    dataDir(y: string): string {
      const d = dataDirWith(y);
      dirs.push(d);
      return d;
    },
    /** Removes this folder after the test too. */
    track(dir: string): void {
      dirs.push(dir);
    },
  };
}

/**
 * The CLI-level IAC suites' set-up: the scripted server's lifecycle, `agentos run` processes
 * and data dirs stopped and removed after each test (their output printed on failure with
 * IAC_DEBUG=1).
 */
export function cliHarness(llm: LlmServer) {
  const runs: RunningCli[] = [];
  const dirs: string[] = [];
  afterEach(async (ctx) => {
    if (process.env.IAC_DEBUG && ctx.task.result?.state === "fail") for (const r of runs) console.log(r.output);
    llm.script(undefined);
    await Promise.all(runs.splice(0).map((r) => r.stop()));
    for (const d of dirs.splice(0)) removeDir(d);
  });
  afterAll(async () => {
    await llm.close();
  });
  const env = () => baseEnv({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted" });
  return {
    env,
    async run(data: string, ...agents: string[]): Promise<RunningCli> {
      const r = await startRun(data, env(), agents.length ? ["--agent", ...agents] : []);
      runs.push(r);
      return r;
    },
    cli: (...args: string[]) => runCli(args, env()),
    ...tempDirs(dirs),
  };
}

/** The in-process IAC suites' set-up: runtimes (log lines kept) and data dirs cleaned up after each test. */
export function runtimeHarness(llm: LlmServer) {
  const running: { rt: Runtime; lines: string[] }[] = [];
  const dirs: string[] = [];
  afterEach(async (ctx) => {
    if (process.env.IAC_DEBUG && ctx.task.result?.state === "fail") for (const s of running) console.log(s.lines.join("\n"));
    llm.script(undefined);
    await Promise.all(running.splice(0).map((s) => s.rt.stop()));
    for (const d of dirs.splice(0)) removeDir(d);
  });
  afterAll(async () => {
    await llm.close();
  });
  return {
    async start(data: string, opts: { only?: string[]; now?: () => Date; events?: AgentEvents } = {}) {
      const lines: string[] = [];
      const log = createLogger({ level: "info", write: (l) => lines.push(l) });
      const env = Env.parse({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "10" });
      const rt = new Runtime({ dataDir: data, env, log, ...opts });
      const s = { rt, lines };
      running.push(s);
      await rt.start();
      return s;
    },
    ...tempDirs(dirs),
  };
}
