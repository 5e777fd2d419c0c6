// DURABLE: LLM faults, graceful shutdown and bad files. The scripted server plays
// the provider; every fault ends with the task done once or in dead letters, never half-applied.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resultFile } from "../src/store/layout.js";
import { leaseIsLive, readLease } from "../src/store/lease.js";
import { countEffects, deadLetterTexts as deadLetters, eventually, fsckStrict, git } from "./support/checker.js";
import { agentDir, block, dataDir, deadLetterDir, handoffs, inbox, read, shellAppend } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { baseEnv, runCli, runCliAsync, scriptedEnv, startRun, startRuntime } from "./support/runtime.js";

const llm = await scriptedLlm();

const YAML = `agents:
  - name: orion
    persona: "Backend engineer."
    throughput_class: fast
  - name: iris
    persona: "Data analyst."
tasks:
  settle_ms: 200
  retry_delay_ms: 100
  max_attempts: 3
`;
const env = (extra: Record<string, string> = {}) => scriptedEnv(llm, { LLM_MAX_RETRIES: "3", LLM_TIMEOUT: "1", ...extra });

describe("LLM faults", () => {
  it("retries 429 (Retry-After), 5xx, resets, timeouts, garbage and empty choices, then succeeds once", async () => {
    const data = dataDir(YAML);
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    const seen = new Map<string, number>();
    llm.script((req) => {
      const id = req.taskId ?? "";
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      if (n > 2) return undefined;
      switch (id) {
        case "f-reset":
          return { reset: true };
        case "f-timeout":
          return { hang: true };
        case "f-empty":
          return { body: JSON.stringify({ choices: [] }) };
        case "f-429":
          return { status: 429, headers: { "retry-after": "1" }, body: "{}" };
        default:
          return undefined;
      }
    });
    const ids = ["f-429", "f-500", "f-503", "f-reset", "f-timeout", "f-garbage", "f-empty"];
    const texts: Record<string, string> = { "f-500": "[status:500x2] go", "f-503": "[status:503x1] go", "f-garbage": "[garbagex1] go" };
    shellAppend(join(dir, "queue.md"), ids.map((id) => block(id, texts[id] ?? "go")).join(""));
    await eventually(() => countEffects(dir, ids).lost.length === 0, 40_000, "all fault tasks done");
    const c = countEffects(dir, ids, deadLetterDir(data));
    expect(c.duplicated).toEqual([]);
    expect(c.deadLetters).toEqual([]);
    expect(run.output).toMatch(/LLM call failed \(HTTP 429.*retry 1\/3 in 1000 ms/);
    expect(run.output).toMatch(/LLM call failed \(no answer within LLM_TIMEOUT \(1 s\)\)/);
    expect(run.output).toMatch(/model reply was not a valid step .* asking once for a repair/);
    // every task's attempt succeeded inside the client's retries: Attempt 1
    expect(git(dir, "log", "--format=%(trailers:key=Attempt,valueonly,separator=)").trim().split("\n").filter(Boolean).slice(0, 7)).toEqual(Array(7).fill("1"));
    fsckStrict(dir);
  });

  it("dead-letters a task whose replies never fit the schema after max_attempts, with its last error and block verbatim", async () => {
    const data = dataDir(YAML);
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    const raw = block("always-bad", "[bad-schema] this never validates");
    shellAppend(join(dir, "queue.md"), raw);
    await eventually(() => deadLetters(data).length === 1, 30_000, "dead letter");
    const letter = deadLetters(data)[0]!;
    expect(letter).toContain("- reason: delivery_limit");
    expect(letter).toContain("- attempts: 3");
    expect(letter).toMatch(/- last_error: model reply is not a valid step after one repair request/);
    expect(letter).toContain(raw.trim());
    await eventually(() => git(dir, "log", "--format=%s").includes("orion(escalation): always-bad failed 3 times"), 5_000, "escalation commit");
    expect(git(dir, "log", "--format=%s")).not.toContain("orion(task): always-bad");
    expect(read(join(dir, "reflections.md"))).toContain("[escalation] always-bad went to dead letters (delivery_limit)");
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("pauses on a bad key without burning tasks, shows why in status, and resumes by itself", async () => {
    const data = dataDir(YAML);
    let keyFixed = false;
    llm.script(() => (keyFixed ? undefined : { status: 401, body: JSON.stringify({ error: { message: "invalid api key" } }) }));
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    shellAppend(join(dir, "queue.md"), block("waits-for-key"));
    await run.waitFor(/\[orion\] paused: the provider at .* refused the API key \(HTTP 401\): set LLM_API_KEY/);
    await eventually(() => {
      const s = JSON.parse(runCli(["status", "--json", "--data", data], baseEnv()).stdout)[0];
      return s.paused?.reason?.includes("HTTP 401") && s.pending === 1;
    }, 15_000, "status shows paused");
    expect(runCli(["status", "--data", data], baseEnv()).stdout).toMatch(/^orion {2}PAUSED/m);
    keyFixed = true;
    await eventually(() => countEffects(dir, ["waits-for-key"]).lost.length === 0, 20_000, "resumed");
    expect(git(dir, "log", "-1", "--format=%(trailers:key=Attempt,valueonly,separator=)").trim()).toBe("1");
    expect(deadLetters(data)).toEqual([]);
  });
});

describe("graceful shutdown", () => {
  it("on SIGTERM finishes within the grace period, aborts the rest, exits 0, and the task runs again after restart", async () => {
    const data = dataDir(YAML);
    const run = await startRun(data, env({ SHUTDOWN_GRACE_SECONDS: "1", LLM_TIMEOUT: "30" }));
    const dir = agentDir(data, "orion");
    shellAppend(join(dir, "queue.md"), block("slow-one", "[delay:5000] take your time"));
    await eventually(() => llm.requestsFor("slow-one").length > 0, 10_000, "request in flight");
    const started = Date.now();
    expect(await run.stop("SIGTERM")).toBe(0);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(run.output).toMatch(/still running after the grace period; aborting them/);
    expect(git(dir, "log", "--format=%s")).not.toContain("slow-one");
    expect(read(join(dir, "queue.md"))).toContain("## slow-one");
    const again = await runCliAsync(["run", "--once", "--data", data], env({ LLM_TIMEOUT: "30" }));
    expect(again.status, again.stdout + again.stderr).toBe(0);
    expect(git(dir, "log", "-1", "--format=%s%n%(trailers:key=Attempt,valueonly,separator=)")).toBe("orion(task): slow-one\n1\n");
  });
});

describe("bad files", () => {
  it("reports binary, oversized, invalid UTF-8 and directory queue files by name, deletes nothing, and the other agent keeps working", async () => {
    // A short reconcile interval: the safety-net scan also reports what the watcher coalesced away.
    const data = dataDir(YAML + "watch:\n  reconcile_seconds: 1\n");
    const run = await startRun(data, env());
    const orion = agentDir(data, "orion");
    const iris = agentDir(data, "iris");
    const queue = join(orion, "queue.md");
    try {
      writeFileSync(queue, Buffer.from([0x23, 0x23, 0x20, 0x00, 0xff, 0x10, 0x0a]));
      await run.waitFor(/agents\/orion\/queue\.md: line 1: contains a NUL byte; this looks like a binary file/);
      shellAppend(join(iris, "queue.md"), block("iris-still-works"));
      await eventually(() => countEffects(iris, ["iris-still-works"]).lost.length === 0, 10_000, "iris task");

      writeFileSync(queue, Buffer.concat([Buffer.from("## ok\ntask: caf"), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]));
      await run.waitFor(/agents\/orion\/queue\.md: line 2: invalid UTF-8 at byte 15/);

      writeFileSync(queue, "");
      truncateSync(queue, 50 * 1024 * 1024);
      await run.waitFor(/agents\/orion\/queue\.md: is 50\.0 MB, over the 16 MB limit/);
      expect(statSync(queue).size).toBe(50 * 1024 * 1024);

      rmSync(queue);
      mkdirSync(queue);
      await run.waitFor(/agents\/orion\/queue\.md: is a directory, expected a markdown file/);
      rmSync(queue, { recursive: true });

      shellAppend(queue, block("after-repair"));
      await eventually(() => countEffects(orion, ["after-repair"]).lost.length === 0, 10_000, "orion recovers");
      await run.waitFor(/agents\/orion\/queue\.md is readable again/);
      fsckStrict(orion);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });
});

describe("watching by polling", () => {
  it("picks up tasks with --poll (NFS, Docker Desktop bind mounts)", async () => {
    const data = dataDir(YAML);
    const run = await startRun(data, env({ AGENTOS_WATCH_POLL: "1" }));
    const dir = agentDir(data, "orion");
    shellAppend(join(dir, "queue.md"), block("polled"));
    await eventually(() => countEffects(dir, ["polled"]).lost.length === 0, 10_000, "polled task");
    expect(countEffects(dir, ["polled"]).commits.get("polled")).toBe(1);
    expect(read(join(dir, resultFile("polled")))).toContain("Scripted answer for polled");
    expect(llm.requestsFor("polled")).toHaveLength(1);
    // Compaction sees the file by polling too: the handled block leaves queue.md.
    await eventually(() => !read(join(dir, "queue.md")).includes("## polled"), 10_000, "queue.md compacted");
    expect(await run.stop()).toBe(0);
  });
});

describe("one runtime per agent", () => {
  it("refuses a second `agentos run` for the same agent, naming the owner, and takes over a dead one's lease", async () => {
    const data = dataDir(YAML);
    const first = await startRun(data, env());
    try {
      const second = await runCliAsync(["run", "--data", data, "--agent", "orion"], env());
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`agent 'orion' is already run by pid ${first.child.pid} on host \\S+ \\(since .*\\); stop that runtime first`));
      // A runtime for the other agent is fine.
      const other = await startRun(data, env(), ["--agent", "iris"]).catch((e: Error) => e);
      expect(other).toBeInstanceOf(Error); // iris is owned by the first runtime too
    } finally {
      first.child.kill("SIGKILL");
      await first.exited;
    }
    const after = await startRun(data, env());
    expect(await after.stop()).toBe(0);
  });

  it("beats by touching the lease (not rewriting it), steps back when another runtime replaces it, and releases it on stop", async () => {
    const data = dataDir(YAML);
    const { rt, lines } = await startRuntime(data, llm);
    const orionLease = join(agentDir(data, "orion"), ".agentos", "lease.json");
    const irisLease = join(agentDir(data, "iris"), ".agentos", "lease.json");
    try {
      const text = read(orionLease);
      const ino = statSync(orionLease).ino;
      const old = new Date(Date.now() - 20_000);
      utimesSync(orionLease, old, old);
      await rt.agents.get("orion")!.heartbeat();
      expect(Date.now() - statSync(orionLease).mtimeMs).toBeLessThan(5_000);
      expect([read(orionLease), statSync(orionLease).ino]).toEqual([text, ino]);
      expect(leaseIsLive((await readLease(orionLease))!)).toBe(true);

      // Another runtime takes iris over the way acquireLease does: a new file renamed over it.
      const theirs = { host: "elsewhere", pid: 1, started: new Date().toISOString(), heartbeat: new Date().toISOString(), token: "someone-else" };
      writeFileSync(`${irisLease}.new`, JSON.stringify(theirs));
      renameSync(`${irisLease}.new`, irisLease);
      await rt.agents.get("iris")!.heartbeat();
      expect(lines.join("\n")).toMatch(/pid 1 on host elsewhere took over this agent's lease; stopping it here/);
    } finally {
      await rt.stop();
    }
    // Released: the next runtime need not wait for the heartbeat to go stale. iris's is not ours to touch.
    expect(statSync(orionLease).mtimeMs).toBe(0);
    expect(leaseIsLive((await readLease(orionLease))!)).toBe(false);
    expect(JSON.parse(read(irisLease)).token).toBe("someone-else");
    expect(statSync(irisLease).mtimeMs).toBeGreaterThan(0);
  });
});

describe("a commit that fails", () => {
  it("is finished from the recorded outcome on retry: one LLM call, one reward line, one commit", async () => {
    const data = dataDir(YAML);
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    const lock = join(dir, ".git", "refs", "heads", "main.lock");
    try {
      mkdirSync(lock); // git cannot update the branch while this is here
      shellAppend(join(dir, "queue.md"), block("commit-fails-once"));
      await run.waitFor(/task commit-fails-once failed \(attempt 1\/3\)/);
      rmSync(lock, { recursive: true });
      await run.waitFor(/finished task commit-fails-once from its recorded outcome/);
      expect(llm.requestsFor("commit-fails-once")).toHaveLength(1);
      expect(read(join(dir, "rewards.md")).match(/task: commit-fails-once/g)).toHaveLength(1);
      expect(countEffects(dir, ["commit-fails-once"]).commits.get("commit-fails-once")).toBe(1);
      expect(git(dir, "status", "--porcelain")).toBe("");
      fsckStrict(dir);
    } finally {
      rmSync(lock, { recursive: true, force: true });
      await run.stop();
    }
  });
});

describe("group commit", () => {
  it("makes tasks that finish together durable in one group, still one commit per task with its own trailers, in order", async () => {
    const data = dataDir(YAML); // orion is fast: four model calls at once, so answers pile up behind a commit
    const run = await startRun(data, env({ LOG_LEVEL: "debug" }));
    const dir = agentDir(data, "orion");
    const ids = Array.from({ length: 60 }, (_, i) => `g-${i}`);
    shellAppend(join(dir, "queue.md"), ids.map((id) => block(id)).join(""));
    await eventually(() => countEffects(dir, ids).lost.length === 0, 30_000, "all 60 committed");
    const c = countEffects(dir, ids);
    expect(c.duplicated).toEqual([]);
    const groupsLogged = () => [...run.output.matchAll(/group commit: (\d+) task\(s\)/g)].map((m) => Number(m[1]));
    // The log lines may trail the commits a little (a pipe between us).
    await eventually(() => groupsLogged().reduce((a, b) => a + b, 0) >= 60, 5_000, "group commit log lines");
    const groups = groupsLogged();
    expect(groups.reduce((a, b) => a + b, 0)).toBe(60);
    expect(Math.max(...groups)).toBeGreaterThan(1);
    expect(groups.length).toBeLessThan(60);
    // One commit per task, each with its own trailers, and the reward lines in the same order.
    const subjects = git(dir, "log", "--reverse", "--format=%s").split("\n").filter((l) => l.includes("(task):"));
    expect(subjects).toHaveLength(60);
    const order = subjects.map((l) => l.replace(/.*\(task\): /, ""));
    const rewardLines = [...read(join(dir, "rewards.md")).matchAll(/task: (g-\d+)/g)].map((m) => m[1]);
    expect(rewardLines).toEqual(order.slice(-rewardLines.length));
    expect(read(join(dir, "rewards.md"))).toContain("Totals since start: +1: 60 | 0: 0 | -1: 0");
    for (const id of ids) expect(git(dir, "log", "-1", "--format=%B", `--grep=^Task-Id: ${id}$`)).toContain(`Reward: 1`);
    expect(readdirSync(join(dir, ".agentos", "intents"))).toEqual([]);
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });
});

describe("an outcome that cannot be carried out", () => {
  it("is retried from its intent, then set aside and dead-lettered, and the agent's other tasks go on", async () => {
    const data = dataDir(YAML);
    const irisMail = handoffs(data, "iris");
    const run = await startRun(data, env(), ["--agent", "orion"]);
    const dir = agentDir(data, "orion");
    // iris's handoff folder is a file: orion's handoff can never be written.
    rmSync(irisMail, { recursive: true, force: true });
    writeFileSync(irisMail, "not a folder\n");
    shellAppend(join(dir, "queue.md"), block("stuck-handoff", "Ask the analyst. [handoff:iris]"));
    await run.waitFor(/task\(s\) stuck-handoff: its recorded outcome could not be carried out after 5 tries/, 30_000);
    await eventually(() => deadLetters(data).some((l) => l.includes("- task: stuck-handoff") && l.includes("- reason: delivery_limit")), 10_000, "its dead letter");
    expect(readdirSync(join(dir, ".agentos", "intents", "stuck"))).toHaveLength(1);
    expect(llm.requestsFor("stuck-handoff")).toHaveLength(1); // never asked again
    // The agent goes on: a later task commits, and git is consistent.
    shellAppend(join(dir, "queue.md"), block("after-stuck"));
    await eventually(() => countEffects(dir, ["after-stuck"]).lost.length === 0, 15_000, "after-stuck committed");
    expect(countEffects(dir, ["stuck-handoff"]).commits.get("stuck-handoff")).toBe(1);
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });
});

describe("message files", () => {
  it("does not delete an inbox file that gained a block while its first one ran", async () => {
    const data = dataDir(YAML);
    const run = await startRun(data, env());
    const file = join(inbox(data, "orion"), "note.md");
    writeFileSync(file, block("m-first", "[delay:600] slow one").replace(/^\n/, ""));
    await eventually(() => llm.requestsFor("m-first").length > 0, 10_000, "first running");
    shellAppend(file, block("m-second", "added while the first ran"));
    const dir = agentDir(data, "orion");
    await eventually(() => countEffects(dir, ["m-first", "m-second"]).lost.length === 0, 20_000, "both ran").catch((err: Error) => {
      throw new Error(`${err.message}\n${run.output}`);
    });
    // The second block was not deleted with the file after the first one ran: both ran, once each.
    const c = countEffects(dir, ["m-first", "m-second"], deadLetterDir(data));
    expect([c.commits.get("m-first"), c.commits.get("m-second")]).toEqual([1, 1]);
    expect(c.deadLetters).toEqual([]);
    expect(llm.requestsFor("m-second")).toHaveLength(1);
    await eventually(() => !readdirSync(inbox(data, "orion")).includes("note.md"), 10_000, "file removed once both are done");
    expect(readdirSync(inbox(data, "orion"))).toEqual([]);
  });
});
