// Test harness: temp data dirs, the real CLI as a child process, and waiting for
// what a person would look at (log lines, files, git history). No mocks.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const CLI = join(ROOT, "dist", "cli.js");
export const FIXTURES = join(ROOT, "fixtures");

export function tempDir(prefix = "agentos-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A data dir with agents.yaml (the given YAML, or the seed fixtures). */
export function dataDirWith(yaml?: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, "agents.yaml"), yaml ?? readFileSync(join(FIXTURES, "agents.yaml"), "utf8"));
  return dir;
}

export function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "info", SHUTDOWN_GRACE_SECONDS: "5", ...extra };
  return env;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = baseEnv(), input?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, input, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export class RunningCli {
  readonly child: ChildProcess;
  output = "";
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    const onData = (d: Buffer) => {
      this.output += d.toString();
      this.waiters = this.waiters.filter((w) => {
        const m = this.output.match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
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

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

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

/** Polls until fn returns a truthy value. */
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

/** The native git CLI, for checking what a person would see. */
export function git(dir: string, ...args: string[]): string {
  const r = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

export function fsckStrict(dir: string): void {
  git(dir, "fsck", "--strict", "--no-progress");
}

/** Appends like a shell user does: `cat >> file << 'EOF'`. */
export function shellAppend(file: string, text: string): void {
  const r = spawnSync("sh", ["-c", `cat >> "$1"`, "sh", file], { input: text });
  if (r.status !== 0) throw new Error(`cat >> ${file} failed`);
}

export function read(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

export function writeYaml(dir: string, yaml: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "agents.yaml"), yaml);
}

/** Like runCli, without blocking this process (needed when this process hosts the scripted LLM server). */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = baseEnv()): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => resolve({ status: code, stdout, stderr }));
  });
}
