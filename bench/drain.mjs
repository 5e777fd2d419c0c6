// 3. Drain: N blocks already in one queue.md when the runtime starts, zero-latency
// model: tasks/s and total time, 1,000 vs 10,000 blocks (linear: ≤ 10.5× the time),
// peak RSS, and .git afterwards against native `git repack -adf` of a copy.
import { spawnSync } from "node:child_process";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DIST, QUICK, block, cleanup, dataDir, git, queuePath, report, round, startLlmServerProcess, startRuntime, tempDir, until } from "./lib.mjs";

// The runtime as `agentos run` runs it: with the Node flags it starts itself with
// (src/cli/service-node.ts; a build from before them runs with Node's own, as it did).
(await import(join(DIST, "cli", "service-node.js")).catch(() => undefined))?.startAsService();

const SMALL = QUICK ? 200 : 1_000;
const BIG = QUICK ? 2_000 : 10_000;

async function drain(n) {
  // The model in its own process, like a real provider: this process is the runtime alone.
  const server = await startLlmServerProcess({ latencyMs: 0 });
  const dir = dataDir([{ name: "d" }]);
  // Bootstrap first, so the drain measures tasks, not repository creation.
  let rt = await startRuntime(dir, server.url);
  await rt.stop();
  const blocks = [];
  for (let i = 0; i < n; i++) blocks.push(block(`drain-${i}`));
  writeFileSync(queuePath(dir, "d"), blocks.join(""));
  let done = 0;
  // Peak RSS of this process (the runtime; the model runs in its own) while it drains.
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  const t0 = performance.now();
  let firstAt;
  const cpu0 = process.cpuUsage();
  rt = await startRuntime(dir, server.url, {
    taskDone: () => {
      firstAt ??= performance.now();
      done++;
    },
  });
  const startMs = performance.now() - t0;
  try {
    await until(() => done >= n, 1_800_000, `${n} tasks`, 20);
  } finally {
    clearInterval(sampler);
    await rt.stop();
    await server.close();
  }
  const totalMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const cpuMs = (c.user + c.system) / 1000;
  const repo = join(dir, "agents", "d");
  const commits = Number(git(repo, "rev-list", "--count", "HEAD").trim());
  const duMb = (d) => Number(spawnSync("du", ["-sk", d], { encoding: "utf8" }).stdout.split("\t")[0]) / 1024;
  const gitMb = duMb(join(repo, ".git"));
  const clean = git(repo, "status", "--porcelain").trim() === "";
  // Baseline: what native git packs the same history into, in a copy.
  const copy = join(tempDir(), "copy");
  cpSync(repo, copy, { recursive: true });
  // -f: deltas found from scratch. Plain -ad reuses the runtime's own packs as they are,
  // so it would measure the runtime against itself (22.8 MB with -ad, ~12 with -adf).
  git(copy, "repack", "-adfq");
  git(copy, "prune", "--expire=now");
  const repackedMb = duMb(join(copy, ".git"));
  const fsckOk = spawnSync("git", ["-C", repo, "fsck", "--strict", "--no-progress"]).status === 0;
  return { n, totalMs, startMs, firstTaskMs: firstAt - t0, tasksPerS: n / (totalMs / 1000), cpuMsPerTask: cpuMs / n, commits, gitMb, repackedMb, peakRssMb: peakRss / 2 ** 20, statusClean: clean, fsckOk };
}

const small = await drain(SMALL);
const big = await drain(BIG);
const rows = [
  {
    metric: `drain ${BIG.toLocaleString("en")} blocks: tasks/s`,
    value: round(big.tasksPerS, 0),
    unit: "tasks/s",
    baseline: round(small.tasksPerS, 0),
    baselineLabel: `drain ${SMALL.toLocaleString("en")} blocks: tasks/s`,
    ratio: round(big.tasksPerS / small.tasksPerS, 2),
    ratioLabel: "× of small",
    goal: "≥ 200 tasks/s",
    pass: big.tasksPerS >= 200,
  },
  {
    metric: `drain ${BIG.toLocaleString("en")} blocks: total time`,
    value: round(big.totalMs / 1000, 1),
    unit: "s",
    baseline: round(small.totalMs / 1000, 2),
    baselineLabel: `drain ${SMALL.toLocaleString("en")} blocks: total time`,
    ratio: round(big.totalMs / small.totalMs, 1),
    ratioLabel: `× time for ${BIG / SMALL}× blocks`,
    goal: `≤ ${(BIG / SMALL) * 1.05}× time`,
    pass: big.totalMs / small.totalMs <= (BIG / SMALL) * 1.05,
  },
  {
    metric: `drain ${BIG.toLocaleString("en")}: CPU per task (whole process)`,
    value: round(big.cpuMsPerTask, 1),
    unit: "ms",
    baseline: round(small.cpuMsPerTask, 1),
    baselineLabel: `same with ${SMALL.toLocaleString("en")} blocks`,
    ratio: round(big.cpuMsPerTask / small.cpuMsPerTask, 2),
    ratioLabel: "×",
  },
  {
    metric: `drain ${BIG.toLocaleString("en")}: .git size after`,
    value: round(big.gitMb, 1),
    unit: "MB",
    baseline: round(big.repackedMb, 1),
    baselineLabel: "native `git repack -adf` of a copy",
    ratio: round(big.gitMb / big.repackedMb, 2),
    ratioLabel: "× repacked",
    goal: "≤ 3×",
    pass: big.gitMb / big.repackedMb <= 3,
  },
  {
    metric: `drain ${BIG.toLocaleString("en")}: peak RSS (runtime process)`,
    value: round(big.peakRssMb, 0),
    unit: "MB",
    baseline: round(small.peakRssMb, 0),
    baselineLabel: `same with ${SMALL.toLocaleString("en")} blocks`,
    ratio: round(big.peakRssMb / small.peakRssMb, 2),
    ratioLabel: "×",
    goal: "≤ 200 MB",
    pass: big.peakRssMb <= 200,
  },
  {
    metric: `drain ${BIG.toLocaleString("en")}: start → first task done`,
    value: round(big.firstTaskMs, 0),
    unit: "ms",
    baseline: round(small.firstTaskMs, 0),
    baselineLabel: `same with ${SMALL.toLocaleString("en")} blocks`,
    ratio: round(big.firstTaskMs / small.firstTaskMs, 1),
    ratioLabel: "×",
  },
];
report("drain", rows, { small, big });
cleanup();
process.exit(0);
