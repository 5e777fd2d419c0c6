// Throughput classes, backpressure and hot reload of agents.yaml: 100 tasks through a
// slow agent (depth 5) with none lost and the priority order kept, aging against a
// stream of high-priority work, and agents added, removed and re-classed while running.
// The scheduler's own rules (aging, per_minute) are checked on AgentQueue directly.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { AgentEvents } from "../src/agent/agent.js";
import { readAgentStatusFile } from "../src/store/status-file.js";
import type { Runtime } from "../src/agent/runtime.js";
import { AgentQueue, SETTLING_ROOM, type Schedulable } from "../src/schedule/agent-queue.js";
import { listDeadLetters } from "../src/store/dead-letters.js";
import { agentPaths } from "../src/store/layout.js";
import { deadLettersEventually, eventually, fsckStrict, git } from "./support/checker.js";
import { agent, agentDir, block, dataDir, deadLetterDir, inbox, queue, read, shellAppend, yaml } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { startRuntime } from "./support/runtime.js";

const llm = await scriptedLlm();
/** Task ids in the order their commits were made (oldest first). */
const taskOrder = (data: string, name: string) =>
  git(agentDir(data, name), "log", "--reverse", "--format=%s")
    .trim()
    .split("\n")
    .filter((s) => s.startsWith(`${name}(task): `))
    .map((s) => s.slice(`${name}(task): `.length));

describe("backpressure", () => {
  it("runs 100 tasks through a slow agent with depth 5: none lost or repeated, at most 5 admitted, the rest waiting in the file, high before normal before low", async () => {
    const data = dataDir(yaml([agent("iris", "slow")]));
    const prio = (i: number) => (i % 10 === 3 ? "low" : i % 3 === 0 ? "high" : "normal");
    const ids = Array.from({ length: 100 }, (_, i) => `bp-${String(i).padStart(3, "0")}`);
    const samples: { outstanding: number; waiting: number; admitted: number; committing: number; done: number }[] = [];
    let done = 0;
    let rt!: Runtime;
    const events: AgentEvents = {
      taskDone: () => {
        done++;
        const a = rt.agents.get("iris")!;
        const s = a.status();
        samples.push({ outstanding: a.outstanding, waiting: s.waiting, admitted: s.ready + s.in_flight, committing: s.committing ?? 0, done });
      },
    };
    // Everything is in queue.md before the agent starts: one read sees all 100.
    mkdirSync(agentDir(data, "iris"), { recursive: true });
    writeFileSync(queue(data, "iris"), ids.map((id, i) => block(id, `Analyse slice ${i}. [delay:15]`, { priority: prio(i) })).join(""));
    ({ rt } = await startRuntime(data, llm, { events }));
    const iris = rt.agents.get("iris")!;

    await eventually(() => done >= 10, 20_000, "ten tasks done");
    await iris.heartbeat();
    const snapshot = await readAgentStatusFile(agentPaths(data, "iris"));
    expect(snapshot!.waiting).toBeGreaterThan(0);
    expect(snapshot!.ready + snapshot!.in_flight).toBeLessThanOrEqual(5);
    const stillInFile = readFileSync(queue(data, "iris"), "utf8").match(/^## bp-/gm)!.length;
    expect(stillInFile).toBeGreaterThanOrEqual(snapshot!.waiting); // waiting tasks are still in queue.md

    await eventually(() => done === 100, 40_000, "all 100 done");
    expect(samples).toHaveLength(100);
    for (const s of samples) {
      expect(s.admitted).toBeLessThanOrEqual(5);
      // Answered tasks wait for their group commit without counting, up to SETTLING_ROOM of them.
      expect(s.committing).toBeLessThanOrEqual(SETTLING_ROOM);
      expect(s.admitted + s.committing).toBeLessThanOrEqual(5 + SETTLING_ROOM);
      expect(s.outstanding).toBe(100 - s.done); // none lost: every task not done is still held
      expect(s.waiting).toBeGreaterThanOrEqual(s.outstanding - 5 - SETTLING_ROOM);
    }
    const rank = { high: 0, normal: 1, low: 2 } as const;
    // The first five were admitted in file order before the rest arrived; then priority, FIFO within one.
    const expected = [...ids.slice(0, 5), ...ids.slice(5).map((id, j) => ({ id, i: j + 5 })).sort((a, b) => rank[prio(a.i)] - rank[prio(b.i)] || a.i - b.i).map((x) => x.id)];
    expect(taskOrder(data, "iris")).toEqual(expected);
    for (const id of ids) expect(llm.requestsFor(id)).toHaveLength(1);
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]);
    await eventually(() => !read(queue(data, "iris")).includes("## bp-"), 5_000, "queue.md emptied");
    fsckStrict(agentDir(data, "iris"));
  });

  it("serves a low-priority task while a stream of high-priority tasks keeps arriving (aging)", async () => {
    const data = dataDir(yaml([agent("iris", "slow")], "iac:\n  backpressure: { aging_seconds: 3 }\n"));
    // The injected clock moves one second per LLM step, so aging is deterministic in task counts.
    let now = Date.now();
    llm.script(() => {
      now += 1000;
      return undefined;
    });
    let highs = 10;
    let done = 0;
    const events: AgentEvents = {
      taskDone: () => {
        done++;
        if (highs < 94) shellAppend(queue(data, "iris"), block(`hi-${highs++}`, "More urgent work.", { priority: "high" }));
      },
    };
    mkdirSync(agentDir(data, "iris"), { recursive: true });
    writeFileSync(
      queue(data, "iris"),
      [0, 1, 2, 3, 4].map((i) => block(`warm-${i}`, "Warm-up.")).join("") + block("patient", "Low priority, but it must run.", { priority: "low" }) + Array.from({ length: 10 }, (_, i) => block(`hi-${i}`, "Urgent work.", { priority: "high" })).join(""),
    );
    await startRuntime(data, llm, { now: () => new Date(now), events });
    await eventually(() => done === 100, 40_000, "all 100 done");
    const order = taskOrder(data, "iris");
    expect(order).toHaveLength(100);
    const at = order.indexOf("patient");
    // Without aging it would be last (every high outranks it); with aging it overtakes the newer highs.
    const highsAfter = order.slice(at + 1).filter((id) => id.startsWith("hi-"));
    expect(highsAfter.length).toBeGreaterThan(0);
    expect(at).toBeLessThan(99);
    expect(new Set(order).size).toBe(100);
    // Appends raced with compactions of queue.md all along: no block was taken for a duplicate.
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]);
  });
});

describe("hot reload of agents.yaml", () => {
  it("adds an agent, changes a class and removes an agent while running, without losing in-flight or waiting work", async () => {
    const data = dataDir(yaml([agent("orion", "slow")]));
    const { rt, lines } = await startRuntime(data, llm);

    // add iris
    writeFileSync(join(data, "agents.yaml"), yaml([agent("orion", "slow"), agent("iris", "slow")]));
    await eventually(() => rt.agents.has("iris"), 10_000, "iris added");
    shellAppend(queue(data, "iris"), block("iris-first", "Hello iris."));
    await eventually(() => taskOrder(data, "iris").includes("iris-first"), 10_000, "iris ran its first task");

    // orion slow -> fast while a backlog waits: concurrency goes from 1 to 4
    const backlog = Array.from({ length: 12 }, (_, i) => `orion-b${i}`);
    shellAppend(queue(data, "orion"), backlog.map((id) => block(id, "Work. [delay:400]")).join(""));
    const orion = rt.agents.get("orion")!;
    await eventually(() => orion.status().in_flight === 1 && orion.status().waiting > 0, 10_000, "orion busy with a backlog");
    let maxInFlight = 0;
    const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, orion.status().in_flight)), 5);
    writeFileSync(join(data, "agents.yaml"), yaml([agent("orion", "fast"), agent("iris", "slow")]));
    await eventually(() => orion.status().throughput_class === "fast", 10_000, "orion re-classed");
    await eventually(() => backlog.every((id) => taskOrder(data, "orion").includes(id)), 20_000, "the backlog done");
    clearInterval(sampler);
    expect(rt.agents.get("orion")).toBe(orion); // same runtime object: not restarted
    expect(maxInFlight).toBeGreaterThan(1);
    for (const id of backlog) expect(llm.requestsFor(id)).toHaveLength(1);

    // remove iris while one task runs and another waits
    shellAppend(queue(data, "iris"), block("iris-running", "Long. [delay:3000]") + block("iris-waiting", "Next."));
    await eventually(() => llm.requestsFor("iris-running").length === 1, 10_000, "iris-running started");
    writeFileSync(join(data, "agents.yaml"), yaml([agent("orion", "fast")]));
    await eventually(() => !rt.agents.has("iris"), 15_000, "iris removed");
    // The running task finishes and commits before iris stops.
    await eventually(() => lines.some((l) => l.includes("[iris] Task iris-running done")), 15_000, "iris-running committed");
    expect(taskOrder(data, "iris")).toContain("iris-running");
    expect(llm.requestsFor("iris-waiting")).toHaveLength(0);
    expect(read(queue(data, "iris"))).toContain("## iris-waiting\n"); // still in its file
    expect(lines.join("\n")).toMatch(/agent 'iris' left agents\.yaml; stopping it after its running tasks/);

    // a broken agents.yaml keeps the running configuration
    writeFileSync(join(data, "agents.yaml"), "agents:\n  - name: orion\n    persona: [unclosed\n");
    await eventually(() => lines.some((l) => l.includes("agents.yaml has errors; keeping the running configuration")), 10_000, "the reload error");
    expect([...rt.agents.keys()]).toEqual(["orion"]);

    // iris comes back and picks up where it left off
    writeFileSync(join(data, "agents.yaml"), yaml([agent("orion", "fast"), agent("iris", "medium")]));
    await eventually(() => taskOrder(data, "iris").includes("iris-waiting"), 15_000, "iris-waiting ran after iris came back");
    expect(rt.agents.get("iris")!.status().throughput_class).toBe("medium");
    for (const id of ["iris-first", "iris-running", "iris-waiting"]) expect(llm.requestsFor(id)).toHaveLength(1);
    fsckStrict(agentDir(data, "orion"));
    fsckStrict(agentDir(data, "iris"));
  });
});

describe("removing an agent", () => {
  it("finishes its in-flight message and removes the file; messages that arrive for it afterwards go to dead letters as unknown_agent", async () => {
    const extra = "watch:\n  reconcile_seconds: 1\n";
    const data = dataDir(yaml([agent("orion", "medium"), agent("iris", "slow")], extra));
    const { rt } = await startRuntime(data, llm);
    const box = inbox(data, "iris");
    writeFileSync(join(box, "m.md"), block("leaving-msg", "Long. [delay:1500]").slice(1));
    await eventually(() => llm.requestsFor("leaving-msg").length === 1, 10_000, "the message started");
    writeFileSync(join(data, "agents.yaml"), yaml([agent("orion", "medium")], extra));
    await eventually(() => !rt.agents.has("iris") && taskOrder(data, "iris").includes("leaving-msg"), 15_000, "iris stopped after committing");
    await eventually(() => !existsSync(join(box, "m.md")), 5_000, "the finished message file removed");
    writeFileSync(join(box, "late.md"), block("late-msg", "Too late.").slice(1));
    const letters = await deadLettersEventually(data);
    // Give the reconcile scan a turn: the finished message must not come back as a dead letter.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await listDeadLetters(deadLetterDir(data))).map((d) => `${d.reason}:${d.source}`)).toEqual(["unknown_agent:shared/iac/inbox/iris/late.md"]);
    expect(letters[0]!.original).toContain("## late-msg");
    expect(llm.requestsFor("late-msg")).toHaveLength(0);
  });
});

describe("AgentQueue", () => {
  interface T extends Schedulable {}
  const task = (key: string, priority: T["priority"], seq: number, seenAt: number): T => ({ key, priority, seq, seenAt });

  /** A queue whose tasks run until the test releases them. */
  function harness(settings: { concurrency: number; depth: number; agingMs: number; perMinute?: number }, clock: () => number) {
    const started: string[] = [];
    const release = new Map<string, () => void>();
    const q = new AgentQueue<T>(settings, (t) => new Promise<void>((r) => (started.push(t.key), release.set(t.key, r))), clock);
    const finish = async (key: string) => {
      release.get(key)!();
      await new Promise((r) => setTimeout(r, 0));
    };
    return { q, started, finish };
  }

  it("lifts a waiting task one priority level per aging period, so an old low task beats a fresh high one", async () => {
    let now = 0;
    const { q, started, finish } = harness({ concurrency: 1, depth: 1, agingMs: 1000 }, () => now);
    q.offer(task("first", "normal", 0, 0));
    q.offer(task("low", "low", 1, 0));
    q.offer(task("high-1", "high", 2, 0));
    expect(started).toEqual(["first"]);
    expect(q.waiting).toBe(2);
    await finish("first");
    expect(started).toEqual(["first", "high-1"]); // no time has passed: plain priority
    now = 2500;
    q.offer(task("high-2", "high", 3, 2500));
    await finish("high-1");
    // low has waited 2.5 periods: 0 + 2 = 2, the same as a fresh high; the older one wins.
    expect(started).toEqual(["first", "high-1", "low"]);
    await finish("low");
    expect(started).toEqual(["first", "high-1", "low", "high-2"]);
  });

  it("keeps FIFO order within a priority and never admits more than depth", async () => {
    const { q, started, finish } = harness({ concurrency: 2, depth: 3, agingMs: 60_000 }, () => 0);
    for (let i = 0; i < 6; i++) q.offer(task(`n${i}`, "normal", i, 0));
    expect(started).toEqual(["n0", "n1"]);
    expect([q.inFlight, q.ready, q.waiting]).toEqual([2, 1, 3]);
    q.offer(task("n3", "normal", 99, 0)); // offering a waiting key again is a no-op
    expect(q.waiting).toBe(3);
    expect(q.withdraw("n4")).toBe(true);
    expect(q.withdraw("n0")).toBe(false); // already admitted
    await finish("n0");
    await finish("n1");
    expect(started).toEqual(["n0", "n1", "n2", "n3"]);
    await finish("n2");
    await finish("n3");
    expect(started).toEqual(["n0", "n1", "n2", "n3", "n5"]);
  });

  it("starts at most per_minute tasks in any minute (p-queue's interval), and reconfigure changes concurrency in place", async () => {
    vi.useFakeTimers();
    try {
      const started: string[] = [];
      const q = new AgentQueue<T>({ concurrency: 4, depth: 10, agingMs: 60_000, perMinute: 2 }, async (t) => void started.push(t.key), () => 0);
      for (let i = 0; i < 5; i++) q.offer(task(`r${i}`, "normal", i, 0));
      await vi.advanceTimersByTimeAsync(10);
      expect(started).toEqual(["r0", "r1"]);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(started).toEqual(["r0", "r1", "r2", "r3"]);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(started).toHaveLength(5);
    } finally {
      vi.useRealTimers();
    }
    const { q, started } = harness({ concurrency: 1, depth: 10, agingMs: 60_000 }, () => 0);
    for (let i = 0; i < 4; i++) q.offer(task(`c${i}`, "normal", i, 0));
    expect(started).toEqual(["c0"]);
    q.reconfigure({ concurrency: 3, depth: 10, agingMs: 60_000 });
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual(["c0", "c1", "c2"]);
    expect(() => new AgentQueue<T>({ concurrency: 0, depth: 1, agingMs: 1 }, async () => {})).toThrow("Expected `concurrency` to be a number from 1 and up, got `0`");
  });
});
