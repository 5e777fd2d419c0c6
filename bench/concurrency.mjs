// 4. Concurrency by class: a 500 ms model; slow / medium / fast agents (concurrency
// 1 / 2 / 4 by default) run side by side in one process; throughput relative to slow.
import { writeFileSync } from "node:fs";
import { QUICK, block, cleanup, dataDir, queuePath, report, round, startLlmServer, startRuntime, until } from "./lib.mjs";

const LATENCY = 500;
const ROUNDS = QUICK ? 4 : 8; // LLM-call rounds per agent: n = rounds × concurrency
const classes = [
  { name: "slow1", cls: "slow", c: 1 },
  { name: "medium1", cls: "medium", c: 2 },
  { name: "fast1", cls: "fast", c: 4 },
];
const server = await startLlmServer({ latencyMs: LATENCY });
const dir = dataDir(classes);
let rt = await startRuntime(dir, server.url);
await rt.stop();
for (const a of classes) {
  const n = ROUNDS * a.c;
  writeFileSync(queuePath(dir, a.name), Array.from({ length: n }, (_, i) => block(`${a.name}-t${i}`)).join(""));
}
const done = new Map(classes.map((a) => [a.name, []]));
rt = await startRuntime(dir, server.url, { taskDone: (agent) => done.get(agent).push(performance.timeOrigin + performance.now()) });
await until(() => classes.every((a) => done.get(a.name).length >= ROUNDS * a.c), 120_000, "all class tasks", 20);
await rt.stop();
await server.close();
const tput = {};
for (const a of classes) {
  const first = Math.min(...server.requests.filter((r) => r.taskId?.startsWith(`${a.name}-`)).map((r) => r.at));
  const last = Math.max(...done.get(a.name));
  tput[a.cls] = (ROUNDS * a.c) / ((last - first) / 1000);
}
const rows = classes.map((a) => {
  const ratio = tput[a.cls] / tput.slow;
  return {
    metric: `${a.cls} (concurrency ${a.c}): tasks/s with a ${LATENCY} ms model`,
    value: round(tput[a.cls], 2),
    unit: "tasks/s",
    baseline: round(tput.slow, 2),
    baselineLabel: "slow agent, same run",
    ratio: round(ratio, 2),
    ratioLabel: "× slow",
    goal: `${a.c}× ±15 %`,
    pass: Math.abs(ratio - a.c) <= 0.15 * a.c,
  };
});
report("concurrency", rows, { tput, rounds: ROUNDS });
cleanup();
process.exit(0);
