// Where the time of a task goes: runs tasks one by one on a fresh agent in this
// process. Run it under the V8 profiler and summarise:
//   node --cpu-prof --cpu-prof-dir=/tmp/agentos-prof bench/profile.mjs [tasks]
//   node bench/profile.mjs --summarise /tmp/agentos-prof/<file>.cpuprofile
import { readFileSync, writeFileSync } from "node:fs";
import { append, block, cleanup, dataDir, queuePath, sleep, startLlmServer, startLlmServerProcess, startRuntime } from "./lib.mjs";

if (process.argv[2] === "--summarise") {
  const prof = JSON.parse(readFileSync(process.argv[3], "utf8"));
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const byModule = new Map();
  const byFn = new Map();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time in native code (fsync, stat, zlib, ...) goes to the nearest JS caller of ours or of a package.
  const owner = (n) => {
    for (let x = n; x; x = byId.get(parent.get(x.id))) if (/\/(dist|node_modules)\//.test(x.callFrame.url)) return x;
    return n;
  };
  let total = 0;
  for (const self of prof.nodes) {
    const us = dt.get(self.id) ?? 0;
    if (self.callFrame.functionName === "(idle)") continue;
    total += us;
    const n = owner(self);
    const url = n.callFrame.url || `(${n.callFrame.functionName || "native"})`;
    const mod = url.includes("node_modules/") ? url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, "$1") : url.includes("/dist/") ? url.replace(/.*\/dist\//, "dist/") : url.startsWith("node:") ? url : url.replace(/.*\//, "");
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    const fn = `${n.callFrame.functionName || "(anonymous)"} ${mod}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`).join("\n");
  console.log(`busy time (not idle) by module, native calls counted to their JS caller (total ${(total / 1000).toFixed(0)} ms):\n${top(byModule, 15)}\n\nby function:\n${top(byFn, 25)}`);
  process.exit(0);
}

// `--drain N`: N blocks already in queue.md at start, as bench/drain.mjs does.
const drainMode = process.argv[2] === "--drain";
const N = Number(process.argv[drainMode ? 3 : 2] ?? (drainMode ? 1000 : 100));
// Drain: the model in its own process (as in bench/drain.mjs), so the profile is the runtime alone.
const server = drainMode ? await startLlmServerProcess({ latencyMs: 0 }) : await startLlmServer({ latencyMs: 0 });
const dir = dataDir([{ name: "prof" }]);
const waiting = new Map();
let done = 0;
const events = { taskDone: (_a, info) => { done++; waiting.get(info.id)?.(); } };
if (drainMode) {
  await (await startRuntime(dir, server.url)).stop();
  writeFileSync(queuePath(dir, "prof"), Array.from({ length: N }, (_, i) => block(`drain-${i}`)).join(""));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const rt = await startRuntime(dir, server.url, events);
  while (done < N) await sleep(20);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${N} tasks in ${s.toFixed(2)} s: ${(N / s).toFixed(0)} tasks/s, CPU ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms/task`);
  await rt.stop();
} else {
  const rt = await startRuntime(dir, server.url, events);
  for (let i = 0; i < N; i++) {
    const id = `prof-${i}`;
    const finished = new Promise((r) => waiting.set(id, r));
    append(queuePath(dir, "prof"), block(id));
    await finished;
    await sleep(60);
  }
  await rt.stop();
}
await server.close();
cleanup();
