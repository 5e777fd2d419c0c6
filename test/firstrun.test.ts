// What a new user meets on a first run, through the real CLI: mailboxes that exist before
// their agent ever started, requeues that never vanish, and a lifecycle that says what it
// does (Ctrl-C, a takeover, a lease from another PID namespace).
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { baseEnv, dataDirWith, eventually, read, runCli, runCliAsync, startRun } from "./support/harness.js";
import { scriptedLlm } from "./support/llm-server.js";
import { scriptedEnv } from "./support/runtime.js";

const TWO = `agents:\n  - name: orion\n    persona: "Backend engineer."\n  - name: iris\n    persona: "Data analyst."\n`;
const offline = () => baseEnv({ LLM_MODEL: "offline", SHUTDOWN_GRACE_SECONDS: "5" });
const llm = await scriptedLlm();

describe("a first run", () => {
  it("creates every agent's inbox and handoff folders at start, also of agents another process runs", async () => {
    const data = dataDirWith(TWO);
    const run = await startRun(data, offline(), ["--agent", "orion"]);
    try {
      for (const box of ["inbox", "handoffs"]) for (const a of ["orion", "iris"]) expect(existsSync(join(data, "shared", "iac", box, a)), `${box}/${a}`).toBe(true);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it("runs a message dropped for an agent before it ever started, at its first start, while it keeps running", async () => {
    const data = dataDirWith(TWO);
    const orion = await startRun(data, offline(), ["--agent", "orion"]);
    expect(await orion.stop()).toBe(0);
    expect(existsSync(join(data, "agents", "iris"))).toBe(false);
    writeFileSync(join(data, "shared", "iac", "inbox", "iris", "early.md"), "## early-bird\ntask: Say hello.\n");
    // iris's folder is made by this start (a fresh agent reads its mailboxes after the watcher is up).
    const iris = await startRun(data, offline(), ["--agent", "iris"]);
    try {
      await eventually(() => /Task early-bird done/.test(iris.output), 20_000, "early-bird done");
    } finally {
      expect(await iris.stop()).toBe(0);
    }
    expect(runCli(["result", "early-bird", "--data", data]).stdout).toMatch(/\S/);
    expect(readdirSync(join(data, "shared", "iac", "inbox", "iris"))).toEqual([]);
  });

  it("refuses a second requeue of a dead letter whose first copy already ran, and lists when it was requeued", async () => {
    // One task at a time, so refund-rate waits behind a slow one past its 1 s ttl (counted from arrival: its old `created:` does not matter).
    const data = dataDirWith(TWO + "throughput_classes:\n  medium: { concurrency: 1, max_queue_depth: 10 }\n");
    expect(runCli(["run", "--once", "--offline", "--data", data]).status).toBe(0);
    const inbox = join(data, "shared", "iac", "inbox", "iris");
    const slow = "## long-analysis\ntask: Scan a year of logs. [delay:2500]\n\n";
    writeFileSync(join(inbox, "refund-rate.md"), slow + "## refund-rate\ntask: What share of orders were refunded?\nttl_seconds: 1\ncreated: 2020-01-01T00:00:00Z\n");
    const first = await runCliAsync(["run", "--once", "--data", data], scriptedEnv(llm, { SHUTDOWN_GRACE_SECONDS: "5" }));
    expect(first.stdout).toMatch(/dead letter \(expired\): refund-rate/);
    expect(first.stdout).toMatch(/Task long-analysis done/);
    expect(llm.requestsFor("refund-rate")).toHaveLength(0);
    const [letter] = readdirSync(join(data, "shared", "iac", "dead_letters"));
    const requeue = () => runCliAsync(["dead-letters", "requeue", letter!, "--data", data]);
    const once = await requeue();
    expect(once.stdout).toMatch(/^requeued refund-rate to iris: .*refund-rate-requeued-\d{8}T\d{6}Z\.md$/m);
    // Before it ran: a second requeue has nothing to do.
    const early = await requeue();
    expect(early.status).toBe(3); // a conflict with what is there (ops/errors.ts)
    expect(early.stderr).toMatch(/already requeued at \S+ as .*refund-rate-requeued-.*\.md, which has not run yet; nothing to do/);
    expect(runCli(["run", "--once", "--offline", "--data", data]).stdout).toMatch(/Task refund-rate done/);
    const again = await requeue();
    expect(again.status).toBe(3);
    expect(again.stderr).toMatch(/task 'refund-rate' already ran for iris after its requeue at \S+ .*enqueue it under a new id \(agentos enqueue iris --id refund-rate-2 --task \.\.\.\)/);
    expect(readdirSync(inbox)).toEqual([]);
    const list = runCli(["dead-letters", "list", "--data", data]);
    expect(list.stdout).toMatch(/expired +iris +refund-rate/);
    expect(list.stdout).toMatch(/^ {4}requeued \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to iris as .*refund-rate-requeued-/m);
    expect(list.stdout.match(/requeued /g)).toHaveLength(1);
  }, 180_000);
});

describe("an honest lifecycle", () => {
  it("says on the first Ctrl-C that a second one stops now", async () => {
    const data = dataDirWith(TWO);
    const run = await startRun(data, offline());
    run.child.kill("SIGINT");
    await run.waitFor(/SIGINT received: finishing running tasks \(up to 5 s\), then exiting; Ctrl-C again stops now \(tasks still running then run again at the next start\)/);
    expect(await run.exited).toBe(0);
  });

  it("exits non-zero when every agent it ran was taken over by another runtime", async () => {
    const data = dataDirWith(TWO);
    const run = await startRun(data, offline(), ["--agent", "orion"]);
    // What a takeover leaves: another runtime's lease renamed over this one's.
    const lease = join(data, "agents", "orion", ".agentos", "lease.json");
    writeFileSync(`${lease}.other`, JSON.stringify({ host: "elsewhere", pid: 4242, started: new Date().toISOString(), heartbeat: new Date().toISOString(), token: "another-runtime" }) + "\n");
    renameSync(`${lease}.other`, lease);
    expect(await run.exited).toBe(3);
    expect(run.output).toMatch(/pid 4242 on host elsewhere took over this agent's lease; stopping it here/);
    expect(run.output).toMatch(/ERROR \[agentos\] every agent of this runtime was taken over by another runtime \(orion by pid 4242 on host elsewhere\); nothing left to run here, exiting with status 3/);
  }, 90_000);

  it("calls an agent unknown, and says why, when its fresh lease names a pid it cannot see", () => {
    const data = dataDirWith(TWO);
    const state = join(data, "agents", "orion", ".agentos");
    mkdirSync(state, { recursive: true });
    // A pid no process has here (the kernel's maximum is 2^22): a runtime in another PID namespace.
    writeFileSync(join(state, "lease.json"), JSON.stringify({ host: hostname(), pid: 4194304, started: new Date().toISOString(), heartbeat: new Date().toISOString(), token: "t" }) + "\n");
    const out = runCli(["status", "--data", data]).stdout;
    expect(out).toMatch(/^orion {2}unknown {2}pending 0/m);
    expect(out).toMatch(/^ {2}unknown: its lease \(pid 4194304 on host .*\) has a heartbeat \d+ s old, but no pid 4194304 is visible from here: the runtime may run in another PID namespace/m);
    expect(out).toMatch(/^iris {2}stopped/m);
    expect(JSON.parse(runCli(["status", "--json", "--data", data]).stdout)[0]).toMatchObject({ name: "orion", running: false, unknown: expect.stringContaining("another PID namespace") });
    expect(read(join(state, "lease.json"))).toContain("4194304");
  });
});
