// 6. Prompt size: tokens sent per task at task 50 vs task 1,000, with learning state
// growing (skills, rewards, reflections, goals): the prompt must stay bounded.
import { writeFileSync } from "node:fs";
import { block, cleanup, dataDir, queuePath, report, round, startLlmServer, startRuntime, until } from "./lib.mjs";

const N = 1_000;
const server = await startLlmServer({ latencyMs: 0 });
const dir = dataDir([{ name: "p" }]);
let rt = await startRuntime(dir, server.url);
await rt.stop();
const text = (i) => {
  const d = [`Work item ${i}: review module m${i % 17} and report.`];
  if (i % 3 === 0) d.push(`[skill:topic-${i % 40}]`);
  if (i % 10 === 0) d.push(`[reflect:check inputs of m${i % 17} first]`);
  if (i % 25 === 0) d.push(`[goal:cover module m${i % 17}]`);
  if (i % 7 === 0) d.push("[reward:0]");
  return d.join(" ");
};
writeFileSync(queuePath(dir, "p"), Array.from({ length: N }, (_, i) => block(`prompt-${i + 1}`, text(i + 1))).join(""));
const tokens = [];
rt = await startRuntime(dir, server.url, { taskDone: (_a, info) => tokens.push(info.promptTokens) });
await until(() => tokens.length >= N, 900_000, `${N} tasks`, 20);
await rt.stop();
await server.close();
// Bytes of the request bodies the server saw, by order of arrival.
const bytes = server.requests.map((r) => JSON.stringify(r.body.messages).length);
const at50 = tokens[49];
const at1000 = tokens[N - 1];
const rows = [
  {
    metric: "prompt tokens at task 1,000",
    value: at1000,
    unit: "tokens",
    baseline: at50,
    baselineLabel: "prompt tokens at task 50",
    ratio: round(at1000 / at50, 2),
    ratioLabel: "× task 50",
    goal: "within 10 %",
    pass: Math.abs(at1000 / at50 - 1) <= 0.1,
  },
  {
    metric: "prompt tokens at task 1,000 vs task 200 (state at its caps)",
    value: at1000,
    unit: "tokens",
    baseline: tokens[199],
    baselineLabel: "prompt tokens at task 200",
    ratio: round(at1000 / tokens[199], 2),
    ratioLabel: "× task 200",
    goal: "within 10 %",
    pass: Math.abs(at1000 / tokens[199] - 1) <= 0.1,
  },
  {
    metric: "prompt bytes sent at task 1,000",
    value: bytes[N - 1],
    unit: "bytes",
    baseline: bytes[49],
    baselineLabel: "prompt bytes at task 50",
    ratio: round(bytes[N - 1] / bytes[49], 2),
    ratioLabel: "× task 50",
  },
];
const at = Object.fromEntries([1, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000].map((k) => [k, tokens[k - 1]]));
report("prompt", rows, { max: Math.max(...tokens), min: Math.min(...tokens), maxTokensSetting: 6000, tokensAt: at });
cleanup();
process.exit(0);
