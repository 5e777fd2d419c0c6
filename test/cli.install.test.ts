// `agentos` outside the clone: installed globally (`npm install -g .`, into a temp prefix)
// and run from another folder on the system Node, as a new user does; and what each
// command loads (a module hook records every package imported).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, ROOT, read, removeDir, tempDir } from "./support/data.js";
import { CLI } from "./support/runtime.js";
import { resultFile } from "../src/store/layout.js";

/** PATH without node_modules/.bin: `node` is whatever the machine has (Node 20 here). */
const systemPath = (process.env.PATH ?? "").split(delimiter).filter((d) => !d.includes("node_modules")).join(delimiter);
const systemNode = spawnSync("node", ["--version"], { env: { PATH: systemPath }, encoding: "utf8" }).stdout?.trim();

let prefix: string;
let elsewhere: string;
const bin = () => join(prefix, "bin");
const env = (extra: Record<string, string> = {}) => ({ PATH: `${bin()}${delimiter}${systemPath}`, HOME: elsewhere, npm_config_prefix: prefix, npm_config_update_notifier: "false", LOG_LEVEL: "info", ...extra });
const agentos = (args: string[], extra: Record<string, string> = {}) => spawnSync("agentos", args, { cwd: elsewhere, env: env(extra), encoding: "utf8", timeout: 120_000 });

beforeAll(() => {
  prefix = tempDir("agentos-prefix-");
  elsewhere = tempDir("agentos-elsewhere-");
  // --ignore-scripts: `prepare` would rebuild dist/ under the other test files running it.
  const r = spawnSync("npm", ["install", "-g", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund", ROOT], { env: { PATH: systemPath, HOME: elsewhere }, encoding: "utf8", timeout: 240_000 });
  if (r.status !== 0) throw new Error(`npm install -g failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}, 300_000);
afterAll(() => {
  removeDir(prefix);
  removeDir(elsewhere);
});

describe("agentos installed globally", () => {
  it("runs from another folder on the system Node, through every step of the walk-through", () => {
    expect(systemNode).toMatch(/^v\d+\./);
    const version = agentos(["--version"]);
    expect(version.stderr).toBe("");
    expect(version.stdout.trim()).toBe(JSON.parse(read(join(ROOT, "package.json"))).version);

    const init = agentos(["init", "--data", "data"]);
    expect(init.status).toBe(0);
    expect(init.stdout).toContain(`wrote ${join(elsewhere, "data", "agents.yaml")}`);
    expect(agentos(["validate", "--data", "data"]).stdout).toMatch(/^ok: 1 file\(s\), 0 task\(s\)/m);

    const yaml = "agents:\n  - name: orion\n    persona: \"Backend engineer.\"\n";
    writeFileSync(join(elsewhere, "data", "agents.yaml"), yaml);
    mkdirSync(join(elsewhere, "data", "agents", "orion"), { recursive: true });
    writeFileSync(join(elsewhere, "data", "agents", "orion", "queue.md"), read(join(FIXTURES, "tasks", "orion.md")));
    const run = agentos(["run", "--once", "--offline", "--data", "data"]);
    expect(run.stdout).toMatch(/INFO \[agentos\] AgentOS running with 1 agent\(s\)\. Watching for tasks\./);
    expect(run.stdout).toMatch(/run --once: 3 task\(s\) done, 0 dead-lettered/);
    expect(run.status).toBe(0);
    expect(existsSync(join(elsewhere, "data", "agents", "orion", resultFile("first-task")))).toBe(true);
    expect(agentos(["status", "--data", "data"]).stdout).toMatch(/^orion {2}stopped {2}pending 0 {2}in flight 0 {2}done 3/m);
  }, 180_000);

  it("is found by npx from another folder", () => {
    const r = spawnSync("npx", ["agentos", "--version"], { cwd: elsewhere, env: env(), encoding: "utf8", timeout: 120_000 });
    expect(r.stdout.trim()).toBe(JSON.parse(read(join(ROOT, "package.json"))).version);
    expect(r.status).toBe(0);
  }, 120_000);

  it("says in one line which Node it needs when no suitable one is there", () => {
    // dist/cli.js run directly by an old Node (no launcher to pick a newer one).
    if (!systemNode || Number(systemNode.slice(1).split(".")[0]) >= 22) {
      const r = spawnSync(process.execPath, ["-e", "process.exit(0)"]);
      expect(r.status).toBe(0); // this machine's Node is new enough: nothing to show here
      return;
    }
    const r = spawnSync("node", [CLI, "status"], { cwd: elsewhere, env: env(), encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^agentos: needs Node\.js 22\.22 or newer; this is Node 20\.\d+\.\d+ .*npx agentos/);
  });
});

describe("what a command loads", () => {
  // Records every module URL resolved, through Node's synchronous module hooks.
  const hook = `data:text/javascript,${encodeURIComponent(`
    import { registerHooks } from "node:module"; import { writeSync } from "node:fs";
    const seen = new Set();
    registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.add(r.url); return r; } });
    process.on("exit", () => writeSync(2, "@@LOADED " + JSON.stringify([...seen]) + "\\n"));`)}`;
  const packagesLoadedBy = (args: string[]): string[] => {
    const r = spawnSync(process.execPath, ["--import", hook, CLI, ...args], { cwd: elsewhere, env: { PATH: process.env.PATH, HOME: elsewhere }, encoding: "utf8" });
    const line = r.stderr.split("\n").find((l) => l.startsWith("@@LOADED "));
    if (!line) throw new Error(`no module list: ${r.stderr}`);
    const urls = JSON.parse(line.slice(9)) as string[];
    return [...new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => !!p))].sort();
  };

  it("--version loads commander only", () => {
    expect(packagesLoadedBy(["--version"])).toEqual(["commander"]);
  });

  it("status and validate load no HTTP server, HTTP client, git or watcher", () => {
    const data = tempDir();
    writeFileSync(join(data, "agents.yaml"), read(join(FIXTURES, "agents.yaml")));
    for (const cmd of ["status", "validate"]) {
      const loaded = packagesLoadedBy([cmd, "--data", data]);
      expect(loaded).toContain("zod"); // agents.yaml is validated
      for (const heavy of ["fastify", "undici", "isomorphic-git", "chokidar", "p-queue", "prom-client"]) expect(loaded, cmd).not.toContain(heavy);
    }
    removeDir(data);
  });
});
