// 2. Runtime overhead per task: task wall time minus time inside the LLM call, on a
// fresh repository and on one with a 10,000-commit / 10,000-result-file history.
// Baseline: native `git add && git commit` of the same change, in a copy of the same
// repository, interleaved task by task in the same run.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DIST, QUICK, append, block, cleanup, dataDir, git, queuePath, report, round, sleep, startLlmServer, startRuntime, stats, tempDir, until } from "./lib.mjs";

// Where the runtime under test keeps a task's result (fan-out folders since HISTORY; flat before).
const { resultFile = (id) => `results/${id}.md` } = await import(join(DIST, "store/layout.js"));

const N = QUICK ? 60 : 200;
const HISTORY = 10_000;

/**
 * Adds `count` task commits on top of HEAD with git fast-import, so that HEAD tracks
 * `count` result files, laid out as the runtime under test lays them out. Every commit is a task commit with its trailers; to keep
 * the set-up to seconds (a tree of k files per commit makes fast-import O(n²)), the
 * first commits each change one line of notes.md and the last 100 add the result files,
 * `count / 100` per commit. Per-commit cost depends on HEAD's tracked files, not on how
 * they got there.
 */
function buildHistory(repo, count) {
  const head = git(repo, "rev-parse", "HEAD").trim();
  const chunks = [];
  const t0 = 1_700_000_000;
  const adders = Math.min(100, count);
  const perAdder = Math.ceil(count / adders);
  let file = 0;
  for (let i = 0; i < count; i++) {
    const id = `hist-${String(i).padStart(5, "0")}`;
    const msg = `h(task): ${id}\n\nHistory task ${id}.\n\nTask-Id: ${id}\nSource: queue\nReward: 1\nModel: scripted\nAttempt: 1\n`;
    chunks.push(`commit refs/heads/main\nauthor h <h@agentos.local> ${t0 + i} +0000\ncommitter h <h@agentos.local> ${t0 + i} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}`);
    if (i === 0) chunks.push(`from ${head}\n`);
    if (i < count - adders) {
      const note = `last history task: ${id}\n`;
      chunks.push(`M 100644 inline notes.md\ndata ${Buffer.byteLength(note)}\n${note}\n`);
    } else {
      for (let k = 0; k < perAdder && file < count; k++, file++) {
        const rid = `hist-${String(file).padStart(5, "0")}`;
        const body = `# ${rid}\n\nScripted answer for ${rid}: done as asked.\n\n- reward: 1\n`;
        chunks.push(`M 100644 inline ${resultFile(rid)}\ndata ${Buffer.byteLength(body)}\n${body}\n`);
      }
    }
  }
  const r = spawnSync("git", ["-C", repo, "fast-import", "--quiet"], { input: chunks.join(""), maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`fast-import: ${r.stderr}`);
  git(repo, "reset", "--hard", "-q", "main");
}

/** Replays the commits the runtime made (prev..HEAD) in the native copy; returns ms spent in git. */
function nativeReplay(src, dst, prev) {
  let ms = 0;
  let cpu = 0;
  const commits = git(src, "rev-list", "--reverse", `${prev}..HEAD`).trim().split("\n").filter(Boolean);
  for (const c of commits) {
    const changes = git(src, "diff-tree", "--no-commit-id", "--name-status", "-r", c).trim().split("\n").filter(Boolean);
    const msg = git(src, "log", "-1", "--format=%B", c);
    const paths = [];
    for (const line of changes) {
      const [status, path] = line.split("\t");
      paths.push(path);
      if (status !== "D") {
        mkdirSync(dirname(join(dst, path)), { recursive: true });
        writeFileSync(join(dst, path), git(src, "show", `${c}:${path}`));
      }
    }
    const t = performance.now();
    const cpuBefore = childCpuMs();
    const add = spawnSync("git", ["-C", dst, "add", "-A", "--", ...paths]);
    const commit = spawnSync("git", ["-C", dst, "-c", "user.name=native", "-c", "user.email=native@bench", "commit", "-q", "-m", msg]);
    ms += performance.now() - t;
    cpu += childCpuMs() - cpuBefore;
    if (add.status !== 0 || commit.status !== 0) throw new Error(`native commit failed: ${add.stderr}${commit.stderr}`);
  }
  return { ms, cpu };
}

/** CPU time (user + system, ms) of this process's finished children, from /proc (10 ms ticks). */
function childCpuMs() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) * 10;
}

async function run(label, history) {
  const server = await startLlmServer({ latencyMs: 0 });
  const dir = dataDir([{ name: "h" }]);
  const repo = join(dir, "agents", "h");
  // Bootstrap, then (optionally) grow the history while the runtime is down.
  let rt = await startRuntime(dir, server.url);
  await rt.stop();
  let buildMs = 0;
  if (history) {
    const t = performance.now();
    buildHistory(repo, history);
    buildMs = performance.now() - t;
  }
  const native = join(tempDir(), "h");
  cpSync(repo, native, { recursive: true });
  const done = new Map();
  const waiting = new Map();
  let cpu0;
  rt = await startRuntime(dir, server.url, {
    taskDone: (_a, info) => {
      const c = process.cpuUsage(cpu0);
      done.set(info.id, { ...info, cpuMs: (c.user + c.system) / 1000 });
      waiting.get(info.id)?.();
    },
  });
  const overhead = [];
  const nativeMs = [];
  const cpuMs = [];
  const nativeCpu = [];
  try {
    for (let i = -5; i < N; i++) {
      const id = `ovh-${i < 0 ? `warm${-i}` : i}`;
      const prev = git(repo, "rev-parse", "HEAD").trim();
      const finished = new Promise((r) => waiting.set(id, r));
      cpu0 = process.cpuUsage();
      append(queuePath(dir, "h"), block(id));
      await Promise.race([finished, sleep(30_000)]);
      if (!done.has(id)) throw new Error(`task ${id} did not finish in 30 s`);
      await until(() => git(repo, "rev-parse", "HEAD").trim() !== prev, 5_000, "commit");
      const info = done.get(id);
      const n = nativeReplay(repo, native, prev);
      if (i >= 0) {
        overhead.push((info.seconds - info.llmSeconds) * 1000);
        cpuMs.push(info.cpuMs);
        nativeMs.push(n.ms);
        nativeCpu.push(n.cpu);
      }
      await sleep(60); // let the queue.md compaction of this task happen between tasks
    }
  } finally {
    await rt.stop();
    await server.close();
  }
  const fsck = spawnSync("git", ["-C", repo, "fsck", "--strict", "--no-progress"], { encoding: "utf8" });
  const status = git(repo, "status", "--porcelain").trim();
  return { label, overhead: stats(overhead), native: stats(nativeMs), cpu: stats(cpuMs), nativeCpu: stats(nativeCpu), buildMs, fsckOk: fsck.status === 0, statusClean: status === "", tracked: Number(git(repo, "ls-files").split("\n").length - 1) };
}

const fresh = await run("fresh repo", 0);
const big = await run(`${HISTORY.toLocaleString("en")}-commit history`, HISTORY);
const rows = [];
for (const r of [fresh, big]) {
  for (const p of ["p50", "p99"]) {
    rows.push({
      metric: `overhead/task, ${r.label} ${p} (n=${r.overhead.n})`,
      value: round(r.overhead[p], 1),
      unit: "ms",
      baseline: round(r.native[p], 1),
      baselineLabel: `native git add+commit of the same change ${p}`,
      ratio: round(r.overhead[p] / r.native[p], 2),
      ratioLabel: "× native",
      goal: p === "p50" ? "≤ 15 ms" : undefined,
      pass: p === "p50" ? r.overhead.p50 <= 15 : undefined,
    });
  }
}
for (const r of [fresh, big]) {
  rows.push({
    metric: `CPU/task (whole process: append → done), ${r.label}, mean`,
    value: round(r.cpu.mean, 1),
    unit: "ms",
    baseline: round(r.nativeCpu.mean, 1),
    baselineLabel: "native git add+commit CPU, mean",
    ratio: round(r.cpu.mean / r.nativeCpu.mean, 2),
    ratioLabel: "× native",
  });
}
rows.push({
  metric: "overhead growth p50, 10k history / fresh",
  value: round(big.overhead.p50 / fresh.overhead.p50, 2),
  unit: "×",
  baseline: round(big.native.p50 / fresh.native.p50, 2),
  baselineLabel: "native git growth p50, 10k / fresh",
  goal: "≤ 1.2×",
  pass: big.overhead.p50 / fresh.overhead.p50 <= 1.2,
});
report("overhead", rows, { fresh, big, checks: `fsck --strict: ${fresh.fsckOk && big.fsckOk}, git status clean: ${fresh.statusClean && big.statusClean}` });
cleanup();
process.exit(0);
