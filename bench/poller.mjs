// Baseline: the seed's design, minimal. Every POLL_INTERVAL seconds each agent reads its
// queue.md, takes the first block, calls the LLM, writes the result and rewrites the
// file without the block. One loop per agent with a random phase, as if each agent ran
// in its own container (the seed's Compose set-up). No git, no learning: only what a
// home-made polling loop costs, so the comparison favours the baseline.
// Usage: node bench/poller.mjs <dataDir> <llmUrl> <agent,agent,...> [intervalSeconds]
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";

const [dataDir, llmUrl, agentList, intervalArg] = process.argv.slice(2);
const intervalMs = Number(intervalArg ?? process.env.POLL_INTERVAL ?? 5) * 1000;
const agents = agentList.split(",");
let stopping = false;
const timers = new Set();

async function pollOnce(agent) {
  const dir = join(dataDir, "agents", agent);
  const queue = join(dir, "queue.md");
  const text = await readFile(queue, "utf8").catch(() => "");
  const start = text.search(/^## /m);
  if (start < 0) return;
  const next = text.slice(start + 3).search(/^## /m);
  const end = next < 0 ? text.length : start + 3 + next;
  const block = text.slice(start, end);
  const id = /^## (\S+)/.exec(block)[1];
  const task = /^task: (.*)$/m.exec(block)?.[1] ?? "";
  const res = await fetch(`${llmUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer bench" },
    body: JSON.stringify({ model: "scripted", messages: [{ role: "system", content: `You are ${agent}.` }, { role: "user", content: `## Task ${id}\n\n${task}` }] }),
  });
  const body = await res.json();
  await mkdir(join(dir, "results"), { recursive: true });
  await writeFile(join(dir, "results", `${id}.md`), body.choices?.[0]?.message?.content ?? "");
  // The seed's read-modify-write: loses appends that land in between (see issue DURABLE).
  await writeFile(queue, text.slice(0, start) + text.slice(end));
}

function loop(agent, delay) {
  const t = setTimeout(async () => {
    timers.delete(t);
    if (stopping) return;
    await pollOnce(agent).catch((err) => process.stderr.write(`poller ${agent}: ${err.message}\n`));
    loop(agent, intervalMs);
  }, delay);
  timers.add(t);
}

for (const a of agents) loop(a, Math.random() * intervalMs);
process.stdout.write(`poller ready: ${agents.length} agent(s), every ${intervalMs / 1000} s\n`);
process.on("SIGTERM", () => {
  stopping = true;
  for (const t of timers) clearTimeout(t);
  process.exit(0);
});
