// 3. Drain: N blocks already in one queue.md when the runtime starts, zero-latency
// model: tasks/s and total time, 1,000 vs 10,000 blocks (linear: ≤ 12× the time).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { QUICK, block, cleanup, dataDir, git, queuePath, report, round, startLlmServerProcess, startRuntime, until } from "./lib.mjs";

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
    await rt.stop();
    await server.close();
  }
  const totalMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const cpuMs = (c.user + c.system) / 1000;
  const repo = join(dir, "agents", "d");
  const commits = Number(git(repo, "rev-list", "--count", "HEAD").trim());
  const gitMb = Number(spawnSync("du", ["-sm", join(repo, ".git")], { encoding: "utf8" }).stdout.split("\t")[0]);
  const clean = git(repo, "status", "--porcelain").trim() === "";
  return { n, totalMs, startMs, firstTaskMs: firstAt - t0, tasksPerS: n / (totalMs / 1000), cpuMsPerTask: cpuMs / n, commits, gitMb, statusClean: clean };
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
    goal: "≥ 150 tasks/s",
    pass: big.tasksPerS >= 150,
  },
  {
    metric: `drain ${BIG.toLocaleString("en")} blocks: total time`,
    value: round(big.totalMs / 1000, 1),
    unit: "s",
    baseline: round(small.totalMs / 1000, 2),
    baselineLabel: `drain ${SMALL.toLocaleString("en")} blocks: total time`,
    ratio: round(big.totalMs / small.totalMs, 1),
    ratioLabel: `× time for ${BIG / SMALL}× blocks`,
    goal: `≤ ${(BIG / SMALL) * 1.2}× time`,
    pass: big.totalMs / small.totalMs <= (BIG / SMALL) * 1.2,
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
    metric: `drain ${BIG.toLocaleString("en")}: .git size after (loose objects, never packed)`,
    value: big.gitMb,
    unit: "MB",
    baseline: small.gitMb,
    baselineLabel: `same with ${SMALL.toLocaleString("en")} blocks`,
    ratio: round(big.gitMb / small.gitMb, 0),
    ratioLabel: "×",
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
