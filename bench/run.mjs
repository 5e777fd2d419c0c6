// `npm run bench [-- <names...>] [-- --quick]`: runs each benchmark in its own Node
// process (so RSS and CPU figures are its own), prints one table and writes
// bench/results/latest.json (a subset run replaces only its own entries there).
// Names: pickup overhead drain concurrency many prompt startup. `--table` prints latest.json.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { ROOT, machine } from "./lib.mjs";

const ALL = ["pickup", "overhead", "drain", "concurrency", "many", "prompt", "startup"];
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const names = args.filter((a) => !a.startsWith("--"));
const unknown = names.filter((n) => !ALL.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(", ")}; expected some of: ${ALL.join(" ")}`);
  process.exit(2);
}
const selected = names.length ? ALL.filter((n) => names.includes(n)) : ALL;

// Every benchmark's data is deleted once, after the last one (lib.mjs cleanup says why).
const trash = mkdtempSync(join(tmpdir(), "agentos-bench-trash-"));
process.on("exit", () => rmSync(trash, { recursive: true, force: true }));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

function runOne(name) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [join(ROOT, "bench", `${name}.mjs`), ...(quick ? ["--quick"] : [])], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, AGENTOS_BENCH_TRASH: trash } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => {
      err += d;
      if (err.length > 200_000) err = err.slice(-100_000);
    });
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("@@BENCH "));
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0 || !line) resolve({ name, error: `exit ${code}: ${err.slice(-2000)}`, seconds });
      else resolve({ ...JSON.parse(line.slice(8)), seconds, warnings: err.split("\n").filter(Boolean).slice(-5) });
    });
  });
}

const fmt = (v) => (v === undefined || v === null ? "" : typeof v === "number" ? String(v) : String(v));
function table(results) {
  const head = ["benchmark", "metric", "value", "baseline (same run)", "ratio", "goal", "ok"];
  const rows = [head];
  for (const r of results) {
    if (r.error) {
      rows.push([r.name, "FAILED", r.error.split("\n")[0], "", "", "", "✗"]);
      continue;
    }
    for (const x of r.rows) {
      rows.push([
        r.name,
        x.metric,
        `${fmt(x.value)} ${x.unit}`,
        x.baseline !== undefined ? `${fmt(x.baseline)} (${x.baselineLabel})` : "",
        x.ratio !== undefined ? `${fmt(x.ratio)}${x.ratioLabel ? " " + x.ratioLabel : ""}` : "",
        x.goal ?? "",
        x.pass === undefined ? "" : x.pass ? "✓" : "✗",
      ]);
    }
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n").replace(/^(\|[^\n]*\n)/, (m) => m + `|${head.map(() => "---").join("|")}|\n`);
}

if (args.includes("--table")) {
  const saved = JSON.parse(readFileSync(join(ROOT, "bench", "results", "latest.json"), "utf8"));
  console.log(table(saved.results));
  process.exit(0);
}

const started = new Date();
const t0 = performance.now();
const results = [];
for (const name of selected) {
  process.stderr.write(`bench: ${name}${quick ? " (quick)" : ""} ...\n`);
  const r = await runOne(name);
  process.stderr.write(`bench: ${name} done in ${r.seconds.toFixed(0)} s${r.error ? " (FAILED)" : ""}\n`);
  results.push(r);
}
const totalSeconds = (performance.now() - t0) / 1000;
for (const r of results) r.at = started.toISOString();
const latest = join(ROOT, "bench", "results", "latest.json");
// A subset run replaces its own entries in latest.json and keeps the others (each says when it ran).
const previous = names.length && existsSync(latest) ? JSON.parse(readFileSync(latest, "utf8")) : undefined;
const merged = previous && previous.quick === quick ? ALL.map((n) => results.find((r) => r.name === n) ?? previous.results.find((r) => r.name === n)).filter(Boolean) : results;
const out = {
  started: previous && previous.quick === quick ? previous.started : started.toISOString(),
  totalSeconds: merged.reduce((n, r) => n + r.seconds, 0),
  quick,
  machine: { ...machine(), cores: cpus().length, memGb: Math.round(totalmem() / 2 ** 30) },
  results: merged,
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(latest, JSON.stringify(out, null, 2) + "\n");
console.log(table(results));
console.log(`\n${selected.length} benchmark(s)${quick ? " (quick)" : ""} in ${totalSeconds.toFixed(0)} s; written to bench/results/latest.json`);
process.exit(results.some((r) => r.error) ? 1 : 0);
