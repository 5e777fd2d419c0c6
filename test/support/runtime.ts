// Starting AgentOS in a test, the two ways there are:
// - in-process (`startRuntime`): the Runtime class from src/ (vitest compiles it), with an
//   injectable clock, events and the log lines kept;
// - as the real CLI (`startRun`, `runCli`, `runCliAsync`, `RunningCli`): dist/cli.js, which
//   `npm test` builds with tsc first. Only tests of what the CLI itself does spawn it.
// Either way what a test starts is stopped when the test ends (before its data dir goes),
// and with AGENTOS_TEST_DEBUG=1 a failed test prints what its runtimes logged.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { Env } from "../../src/config/schema.js";
import { createLogger } from "../../src/log.js";
import type { AgentEvents } from "../../src/agent/agent.js";
import { Runtime } from "../../src/agent/runtime.js";
import { ROOT, whenTestEnds } from "./data.js";
import type { LlmServer } from "./llm-server.js";

export const CLI = join(ROOT, "dist", "cli.js");
const DEBUG = !!(process.env.AGENTOS_TEST_DEBUG || process.env.IAC_DEBUG);

// ── environment ─────────────────────────────────────────────────────────────

/** A clean environment for the CLI: no provider settings leak in from the developer's shell. */
export function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "info", SHUTDOWN_GRACE_SECONDS: "5", ...extra };
}

/** The CLI's environment with the scripted server as its provider (model `scripted`, key `k`). */
export function scriptedEnv(llm: LlmServer, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return baseEnv({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", ...extra });
}

// ── in-process ──────────────────────────────────────────────────────────────

export interface StartedRuntime {
  rt: Runtime;
  /** Every log line so far, as the CLI would print them. */
  lines: string[];
}

export interface RuntimeStart {
  only?: string[];
  /** The runtime's clock, also used for the log's timestamps. */
  now?: () => Date;
  events?: AgentEvents;
  level?: "debug" | "info" | "warn" | "error";
  /** Environment variables on top of the scripted provider's. */
  env?: Record<string, string>;
  /** Called with each log line as it is written (synchronously, as the runtime logs it). */
  onLine?: (line: string) => void;
}

/** A Runtime over `data` whose provider is the scripted server (or any URL), started; stopped when the test ends. */
export async function startRuntime(data: string, llm: Pick<LlmServer, "url">, opts: RuntimeStart = {}): Promise<StartedRuntime> {
  const lines: string[] = [];
  const log = createLogger({ level: opts.level ?? "info", write: (l) => (lines.push(l), opts.onLine?.(l)), ...(opts.now ? { now: opts.now } : {}) });
  const env = Env.parse({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "10", ...opts.env });
  const rt = new Runtime({ dataDir: data, env, log, only: opts.only, now: opts.now, events: opts.events });
  whenTestEnds(async (failed) => {
    if (failed && DEBUG) console.log(lines.join("\n"));
    await rt.stop();
  });
  await rt.start();
  return { rt, lines };
}

// ── the real CLI ────────────────────────────────────────────────────────────

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

let checkedBuild = false;
/** Spawned tests run dist/: fail at once, saying why, if it is older than src/ (vitest run without tsc). */
function assertBuilt(): void {
  if (checkedBuild) return;
  const src = join(ROOT, "src");
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  for (const file of walk(src).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))) {
    const out = join(ROOT, "dist", relative(src, file).replace(/\.ts$/, ".js"));
    const built = statSync(out, { throwIfNoEntry: false });
    if (!built || built.mtimeMs < statSync(file).mtimeMs) {
      throw new Error(`${relative(ROOT, out)} is ${built ? "older than" : "missing for"} ${relative(ROOT, file)}: tests that spawn the CLI run dist/; build it first (npm test does: tsc -p . && vitest run)`);
    }
  }
  checkedBuild = true;
}

/** Runs the CLI to its end. Blocks this process: not while it hosts the scripted server (use runCliAsync). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = baseEnv(), input?: string): CliResult {
  assertBuilt();
  const r = spawnSync(process.execPath, [CLI, ...args], { env, input, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like runCli, without blocking this process (needed when this process hosts the scripted LLM server). */
export async function runCliAsync(args: string[], env: NodeJS.ProcessEnv = baseEnv()): Promise<CliResult> {
  const r = new RunningCli(args, env);
  const status = await r.exited;
  return { status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI as a child process: its output so far, waiting for a line, stopping it with a signal. */
export class RunningCli {
  readonly child: ChildProcess;
  /** stdout and stderr interleaved as they came. */
  output = "";
  stdout = "";
  stderr = "";
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  /** The exit code, or -1 when a signal ended it. */
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    assertBuilt();
    this.child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    const onData = (stream: "stdout" | "stderr") => (d: Buffer) => {
      const text = d.toString();
      this[stream] += text;
      this.output += text;
      this.waiters = this.waiters.filter((w) => {
        const m = this.output.match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    };
    this.child.stdout!.on("data", onData("stdout"));
    this.child.stderr!.on("data", onData("stderr"));
    // "close", not "exit": all output has been read by then.
    this.exited = new Promise((resolve) => this.child.on("close", (code, signal) => resolve(code ?? (signal ? -1 : null))));
    whenTestEnds(async (failed) => {
      if (failed && DEBUG) console.log(this.output);
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
      await this.stop();
      clearTimeout(killer);
    });
  }

  /** Resolves when the output (so far or later) matches. */
  waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const m = this.output.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in output:\n${this.output}`)), timeoutMs);
      this.waiters.push({ re, resolve: (x) => (clearTimeout(t), resolve(x)) });
    });
  }

  /** Sends `signal` unless it already ended; resolves with how it exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** `agentos run --data DIR` started and watching (or the reason it exited early); stopped when the test ends. */
export async function startRun(dataDir: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<RunningCli> {
  const r = new RunningCli(["run", "--data", dataDir, ...extra], env);
  await Promise.race([
    r.waitFor(/Watching for tasks\./),
    r.exited.then((code) => {
      throw new Error(`agentos run exited early (${code}):\n${r.output}`);
    }),
  ]);
  return r;
}

// ── the REST API of a running CLI ───────────────────────────────────────────

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
  text: string;
}

/** The base URL that `agentos run --http 127.0.0.1:0` printed once it listens. */
export async function apiBase(run: RunningCli): Promise<string> {
  return (await run.waitFor(/REST API listening on (http:\/\/\S+)/))[1]!;
}

/**
 * A client for the REST API at `base`, with fetch: sends `Bearer token` (a header given to
 * a call replaces it: `{ authorization: "" }` sends none), a JSON body (a string is sent
 * as is), and reads the answer as text and JSON. `onAnswer` sees every answer (http.test
 * checks each against /openapi.json).
 */
export function apiClient(base: string, token?: string, onAnswer?: (a: { method: string; url: string; status: number; headers: Headers; text: string }) => void) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    onAnswer?.({ method, url: path, status: res.status, headers: res.headers, text });
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
}

/** The CLI with the scripted server as provider: `run(data, ...agents)` as one Compose container runs it (all agents without names), `cli(...args)` to its end. */
export function scriptedCli(llm: LlmServer) {
  return {
    run: (data: string, ...agents: string[]) => startRun(data, scriptedEnv(llm), agents.length ? ["--agent", ...agents] : []),
    cli: (...args: string[]) => runCli(args, scriptedEnv(llm)),
  };
}
