// Start-up of the CLI as a ratio to `node -e ""` measured in the same run, same Node:
// `--version` (goal ≤ 2×), `status` and `validate` over the seed's six agents (goal ≤ 4×).
// Runs are interleaved (baseline, then each command, round after round) so that a burst of
// load on a shared machine hits all of them alike; medians are compared.
// Also, informational: the same through bin/agentos.cjs on the system Node (AGENTOS_SYSTEM_NODE,
// default the first `node` on PATH outside node_modules), which hands over to the bundled
// Node 24 when it is older, against that Node's own `node -e ""`.
// Usage: node bench/startup.mjs [--quick]
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const QUICK = process.argv.includes("--quick");
const ROUNDS = QUICK ? 5 : 15;
const CLI = join(ROOT, "dist", "cli.js");
const LAUNCHER = join(ROOT, "bin", "agentos.cjs");

const data = mkdtempSync(join(tmpdir(), "agentos-bench-startup-"));
process.on("exit", () => rmSync(data, { recursive: true, force: true }));
copyFileSync(join(ROOT, "fixtures", "agents.yaml"), join(data, "agents.yaml"));

function systemNode() {
  if (process.env.AGENTOS_SYSTEM_NODE) return process.env.AGENTOS_SYSTEM_NODE;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir.includes("node_modules")) continue;
    const p = join(dir, "node");
    if (spawnSync(p, ["--version"]).status === 0) return p;
  }
  return undefined;
}

// The compile cache is what a user gets from the second run on: keep it out of the
// baseline's way (its own dir) and warm it once before measuring.
const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_COMPILE_CACHE: join(data, ".ncc") };

function time(cmd, args) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, cwd: data, encoding: "utf8" });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function measure(node, entry, label) {
  const cases = {
    baseline: ["-e", ""],
    "--version": [entry, "--version"],
    status: [entry, "status", "--data", data],
    validate: [entry, "validate", "--data", data],
  };
  for (const args of Object.values(cases)) time(node, args); // warm the OS and the compile cache
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < ROUNDS; i++) for (const [k, args] of Object.entries(cases)) samples[k].push(time(node, args));
  const base = median(samples.baseline);
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
  return Object.keys(cases)
    .filter((k) => k !== "baseline")
    .map((k) => {
      const value = median(samples[k]);
      const ratio = Math.round((value / base) * 100) / 100;
      const goal = label ? undefined : k === "--version" ? 2 : 4;
      return {
        metric: `${label ?? "dist/cli.js"} ${k} (median of ${ROUNDS})`,
        value: Math.round(value),
        unit: "ms",
        baseline: Math.round(base),
        baselineLabel: `node ${version} -e ""`,
        ratio,
        ratioLabel: "×",
        goal: goal ? `≤ ${goal}×` : undefined,
        pass: goal ? ratio <= goal : undefined,
      };
    });
}

const rows = measure(process.execPath, CLI);
const sys = systemNode();
if (sys) rows.push(...measure(sys, LAUNCHER, "bin/agentos.cjs on the system Node"));
for (const r of rows) process.stderr.write(`${r.metric}: ${r.value} ms, ${r.ratio}× ${r.baselineLabel} (${r.baseline} ms)\n`);
console.log("@@BENCH " + JSON.stringify({ name: "startup", rows }));
