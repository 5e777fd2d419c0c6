// 5. Many agents: 1,000 agents in one `agentos run` process: start-up (first run,
// which bootstraps 1,000 repositories, and a restart), RSS and CPU while idle, and
// pickup latency with 1,000 watched queues. Baselines in the same run: the same CLI
// with one agent, and the seed-style poller over the same 1,000 agents (idle CPU).
import { mkdirSync } from "node:fs";
import { QUICK, append, block, cleanup, dataDir, now, procUsage, queuePath, report, round, sleep, startCli, startLlmServer, startNode, stats, until } from "./lib.mjs";

const AGENTS = QUICK ? 200 : 1_000;
const IDLE_S = QUICK ? 15 : 60;
const PICKUPS = QUICK ? 60 : 200;

async function idle(pid, seconds) {
  await sleep(3_000); // let start-up work (reconcile, first heartbeats) settle
  const a = procUsage(pid);
  await sleep(seconds * 1000);
  const b = procUsage(pid);
  return { rssMb: b.rssMb, cpuS: b.cpuS - a.cpuS };
}

const server = await startLlmServer({ latencyMs: 0 });
// Baseline: one agent, the same CLI.
const oneDir = dataDir([{ name: "solo" }]);
await startCli(oneDir, server.url).then((c) => c.stop()); // bootstrap
const one = await startCli(oneDir, server.url);
const oneIdle = await idle(one.child.pid, 3);
await one.stop();

const agents = Array.from({ length: AGENTS }, (_, i) => ({ name: `m${String(i).padStart(4, "0")}`, cls: "slow" }));
const dir = dataDir(agents);
const cold = await startCli(dir, server.url);
await cold.stop();
const cli = await startCli(dir, server.url);
const manyIdle = await idle(cli.child.pid, IDLE_S);
// Pickup with every queue watched.
const sent = new Map();
for (let i = 0; i < 5; i++) append(queuePath(dir, agents[i].name), block(`warm-${i}`));
await until(() => server.requests.length >= 5, 30_000, "warm-up");
await sleep(300);
for (let i = 0; i < PICKUPS; i++) {
  await sleep(50 + Math.random() * 100);
  const id = `many-${i}`;
  sent.set(id, now());
  append(queuePath(dir, agents[Math.floor(Math.random() * AGENTS)].name), block(id));
}
await until(() => server.requests.filter((r) => sent.has(r.taskId)).length >= PICKUPS, 60_000, "pickups");
const pick = stats(server.requests.filter((r) => sent.has(r.taskId)).map((r) => r.at - sent.get(r.taskId)));
await cli.stop();

// Baseline for idle CPU: the seed-style poller over the same number of agents.
const pollDir = dataDir(agents);
for (const a of agents) mkdirSync(`${pollDir}/agents/${a.name}`, { recursive: true });
const poller = startNode("poller.mjs", [pollDir, server.url, agents.map((a) => a.name).join(","), "5"]);
const pollIdle = await idle(poller.child.pid, IDLE_S);
await poller.stop();
await server.close();

const rows = [
  { metric: `start-up, ${AGENTS} agents, first run (bootstraps every repo)`, value: round(cold.startupMs / 1000, 2), unit: "s", baseline: round(one.startupMs / 1000, 2), baselineLabel: "start-up, 1 agent (restart)", ratio: round(cold.startupMs / one.startupMs, 0), ratioLabel: "×", goal: "≤ 10 s", pass: cold.startupMs <= 10_000 },
  { metric: `start-up, ${AGENTS} agents, restart`, value: round(cli.startupMs / 1000, 2), unit: "s", baseline: round(one.startupMs / 1000, 2), baselineLabel: "start-up, 1 agent (restart)", ratio: round(cli.startupMs / one.startupMs, 0), ratioLabel: "×", goal: "≤ 10 s", pass: cli.startupMs <= 10_000 },
  { metric: `RSS idle, ${AGENTS} agents`, value: round(manyIdle.rssMb, 0), unit: "MB", baseline: round(oneIdle.rssMb, 0), baselineLabel: "RSS idle, 1 agent", ratio: round(manyIdle.rssMb / oneIdle.rssMb, 1), ratioLabel: "×", goal: "≤ 400 MB", pass: manyIdle.rssMb <= 400 },
  { metric: `CPU over ${IDLE_S} s idle, ${AGENTS} agents`, value: round(manyIdle.cpuS, 2), unit: "CPU s", baseline: round(pollIdle.cpuS, 2), baselineLabel: `seed-style 5 s poller, ${AGENTS} agents, same ${IDLE_S} s`, ratio: round(manyIdle.cpuS / pollIdle.cpuS, 2), ratioLabel: "× poller", goal: "≈ 0 (no polling)", pass: manyIdle.cpuS <= 0.05 * IDLE_S },
  { metric: `pickup p99 with ${AGENTS} watched queues (n=${pick.n})`, value: round(pick.p99, 1), unit: "ms", baseline: 4950, baselineLabel: "5 s poller p99 (analytic)", ratio: round(4950 / pick.p99, 0), ratioLabel: "× faster", goal: "≤ 100 ms", pass: pick.p99 <= 100 },
  { metric: `pickup p50 with ${AGENTS} watched queues`, value: round(pick.p50, 1), unit: "ms", baseline: 2500, baselineLabel: "5 s poller p50 (analytic)", ratio: round(2500 / pick.p50, 0), ratioLabel: "× faster" },
];
report("many", rows, { agents: AGENTS, idleSeconds: IDLE_S, oneIdle, manyIdle, pollIdle, pick, coldStartupMs: cold.startupMs, restartMs: cli.startupMs });
cleanup();
process.exit(0);
