// Shared pieces of the benchmarks: temp data dirs, task blocks, the runtime (in this
// process or as the real CLI), percentiles, and the result line run.mjs collects.
// Benchmarks talk only to 127.0.0.1, are bounded in count and time, and clean up.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..");

export const QUICK = process.argv.includes("--quick");

// AGENTOS_DIST=<dir> benchmarks another build (e.g. a copy of dist/ from before a change) for A/B runs.
export const DIST = resolve(process.env.AGENTOS_DIST ?? join(ROOT, "dist"));
const dist = (p) => import(join(DIST, p));
export const CLI = join(DIST, "cli.js");
// agent/ since the pipeline layout; runtime/ in builds from before it (A/B runs).
export const { Runtime } = await dist("agent/runtime.js").catch(() => dist("runtime/runtime.js"));
export const { loadEnv } = await dist("config/load.js");
export const { createLogger } = await dist("log.js");
export const { startLlmServer } = await import(join(ROOT, "test", "support", "llm-server.ts"));

const temps = [];
export function tempDir(prefix = "agentos-bench-") {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
/**
 * Under run.mjs, a benchmark's data is moved aside and deleted once all have run: on ext4
 * without a journal (these VMs), each new inode is found by scanning past every inode
 * deleted in the last minutes, so a first start of 1,000 agents right after another
 * benchmark's files were deleted measured that scan, not the runtime (docs/performance.md).
 */
const TRASH = process.env.AGENTOS_BENCH_TRASH;
export function cleanup() {
  for (const d of temps.splice(0)) {
    try {
      if (TRASH) {
        renameSync(d, join(TRASH, basename(d)));
        continue;
      }
    } catch {
      // Another filesystem: deleted now.
    }
    rmSync(d, { recursive: true, force: true });
  }
}
// Also when a benchmark fails or is interrupted: never leave temp repos behind.
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A data dir with agents.yaml for these agents ({name, cls}); returns its path. */
export function dataDir(agents, extraYaml = "") {
  const dir = tempDir();
  const lines = ["agents:"];
  for (const a of agents) {
    lines.push(`  - name: ${a.name}`, `    persona: "Benchmark agent ${a.name}: answers briefly."`, `    domain: "Benchmarks"`);
    lines.push(`    throughput_class: ${a.cls ?? "medium"}`);
  }
  writeFileSync(join(dir, "agents.yaml"), lines.join("\n") + "\n" + extraYaml);
  return dir;
}

export const queuePath = (dir, agent) => join(dir, "agents", agent, "queue.md");

/** A complete task block, as `cat >>` would append it (ends with `created:`). */
export function block(id, text = `Summarise benchmark item ${id} in one line.`) {
  return `\n## ${id}\ntask: ${text}\npriority: normal\ncreated: ${new Date().toISOString().slice(0, 19)}Z\n`;
}

export function append(file, text) {
  appendFileSync(file, text); // one O_APPEND write, like `>>`
}

export function envFor(llmUrl, extra = {}) {
  return { LLM_BASE_URL: llmUrl, LLM_MODEL: "scripted", LLM_API_KEY: "bench", LOG_LEVEL: "warn", SHUTDOWN_GRACE_SECONDS: "10", ...extra };
}

/** The runtime in this process (for the taskDone event: wall and LLM time per task). */
export async function startRuntime(dir, llmUrl, events = {}) {
  const env = loadEnv(envFor(llmUrl));
  if (!env.ok) throw new Error(JSON.stringify(env.problems));
  const rt = new Runtime({ dataDir: dir, env: env.value, log: createLogger({ level: "warn", write: (l) => process.stderr.write(l + "\n") }), events });
  await rt.start();
  return rt;
}

/** The real CLI (`agentos run`) as a child process; resolves once it is watching. */
export async function startCli(dir, llmUrl, extraEnv = {}) {
  const child = spawn(process.execPath, [CLI, "run", "--data", dir], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...envFor(llmUrl, { LOG_LEVEL: "info", ...extraEnv }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const spawnedAt = now();
  let out = "";
  const exited = new Promise((r) => child.on("exit", (code) => r(code)));
  await new Promise((res, rej) => {
    const onData = (d) => {
      out += d.toString();
      if (out.length > 1e6) out = out.slice(-1e5);
      if (/Watching for tasks\./.test(out)) res();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then((code) => rej(new Error(`agentos run exited (${code}):\n${out.slice(-3000)}`)));
  });
  const readyAt = now();
  child.stdout.removeAllListeners("data");
  child.stderr.removeAllListeners("data");
  child.stdout.resume();
  child.stderr.resume();
  return {
    child,
    startupMs: readyAt - spawnedAt,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * The scripted LLM server in a process of its own, as a real provider is: its CPU (HTTP,
 * JSON, the requests it records) is then not counted as the runtime's, and does not
 * share the runtime's event loop.
 */
export async function startLlmServerProcess({ latencyMs = 0 } = {}) {
  const child = spawn(process.execPath, [join(ROOT, "test", "support", "llm-server.ts"), "--port", "0", "--latency", String(latencyMs)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((r) => child.on("exit", (code) => r(code)));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /server at (http\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`scripted LLM server exited (${code}) before it listened`)));
  });
  return {
    url,
    pid: child.pid,
    close: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A child node process running a bench helper script (e.g. the poller). */
export function startNode(script, args, env = {}) {
  const child = spawn(process.execPath, [join(ROOT, "bench", script), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise((r) => child.on("exit", (code) => r(code)));
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** RSS (MB) and CPU seconds (user + system) of a process, from /proc. */
export function procUsage(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssMb: rssKb / 1024, cpuS: ticks / 100 };
}

/** Resolves when pred() is true; polls every `every` ms (bench-side waiting only). */
export async function until(pred, timeoutMs, what, every = 5) {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(every);
  }
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), mean, min: s[0], max: s[s.length - 1] };
}

/** The native git CLI (for baselines and checks). */
export function git(dir, ...args) {
  const r = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

export function machine() {
  const os = process.platform;
  const cpus = (() => {
    try {
      return readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1];
    } catch {
      return undefined;
    }
  })();
  return { os, node: process.version, cpu: cpus, git: spawnSync("git", ["--version"], { encoding: "utf8" }).stdout.trim() };
}

/**
 * One benchmark's result: rows of {metric, value, unit, baseline, baselineLabel, ratio,
 * goal, pass}. Printed as one marked JSON line that run.mjs collects.
 */
export function report(name, rows, meta = {}) {
  process.stdout.write(`\n@@BENCH ${JSON.stringify({ name, rows, meta })}\n`);
}

export function mkdirp(p) {
  mkdirSync(p, { recursive: true });
}

export const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
