// The scheduler's parts on their own: the queue's admission, events and idle
// promise, and the task table's states (every move checked).
import { describe, expect, it } from "vitest";
import { AgentQueue, SETTLING_ROOM, type Schedulable } from "../src/schedule/agent-queue.js";
import { IllegalTransition, TaskTable, type TrackedTask } from "../src/schedule/task-table.js";
import type { TaskSource } from "../src/source/task-source.js";

interface T extends Schedulable {}
const task = (key: string, priority: T["priority"] = "normal", seq = 0): T => ({ key, priority, seq, seenAt: 0 });

/** A queue whose tasks run until the test releases them. */
function gated(settings = { concurrency: 1, depth: 2, agingMs: 60_000 }) {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const q = new AgentQueue<T>(settings, (t) => new Promise<void>((r) => (started.push(t.key), gates.set(t.key, r))), () => 0);
  const admitted: string[] = [];
  q.on("admitted", (t) => admitted.push(t.key));
  const finish = async (key: string) => {
    gates.get(key)!();
    await new Promise((r) => setTimeout(r, 5));
  };
  return { q, started, admitted, finish };
}

describe("AgentQueue events and idle", () => {
  it("admits up to its depth, says so with `admitted` before the task starts, and keeps the rest waiting", async () => {
    const { q, started, admitted } = gated();
    const order: string[] = [];
    q.on("admitted", (t) => order.push(`admitted ${t.key} (started: ${started.includes(t.key)})`));
    for (const k of ["a", "b", "c"]) q.offer(task(k));
    await new Promise((r) => setTimeout(r, 5));
    expect(admitted).toEqual(["a", "b"]);
    expect(order[0]).toBe("admitted a (started: false)");
    expect(started).toEqual(["a"]);
    expect(q.waiting).toBe(1);
    expect(q.admitted).toBe(2);
  });

  it("lets answered tasks wait for their commit beyond the depth, up to SETTLING_ROOM of them (or the depth, if more)", async () => {
    for (const depth of [2, 40]) {
      const commits: (() => void)[] = [];
      // Each task is answered at once (release) and then waits for its commit.
      const q = new AgentQueue<T>({ concurrency: 2, depth, agingMs: 60_000 }, (_t, release) => new Promise<void>((r) => (release(), commits.push(r))), () => 0);
      for (let i = 0; i < depth + SETTLING_ROOM + 20; i++) q.offer(task(`t${i}`));
      await new Promise((r) => setTimeout(r, 20));
      const room = Math.max(depth, SETTLING_ROOM);
      // Answered ones wait, `depth` more may be admitted on top: never more in all.
      expect(q.admitted).toBe(depth + room);
      expect(q.waiting).toBe(depth + SETTLING_ROOM + 20 - (depth + room));
      // A group commit frees room: as many are admitted again.
      for (const done of commits.splice(0, 5)) done();
      await new Promise((r) => setTimeout(r, 20));
      expect(q.admitted).toBe(depth + room);
      expect(q.waiting).toBe(Math.max(0, depth + SETTLING_ROOM + 20 - (depth + room) - 5));
      q.stop();
      for (const done of commits) done();
    }
  });

  it("resolves onIdle at once when nothing is admitted, and only after the last task is done otherwise", async () => {
    const { q, finish } = gated();
    await expect(q.onIdle()).resolves.toBeUndefined();
    q.offer(task("a"));
    q.offer(task("b"));
    let idle = false;
    const p = q.onIdle().then(() => (idle = true));
    await finish("a");
    expect(idle).toBe(false);
    await finish("b");
    await p;
    expect(idle).toBe(true);
    expect(q.admitted).toBe(0);
  });

  it("on stop drops what was admitted but not started, and is idle once the running task ends", async () => {
    const { q, started, finish } = gated();
    for (const k of ["a", "b", "c"]) q.offer(task(k));
    await new Promise((r) => setTimeout(r, 5));
    q.stop();
    const idle = q.onIdle();
    await finish("a");
    await idle;
    expect(started).toEqual(["a"]);
    expect(q.admitted).toBe(0);
  });

  it("runs nothing while paused and picks up where it left off on resume", async () => {
    const { q, started, finish } = gated({ concurrency: 1, depth: 5, agingMs: 60_000 });
    q.pause();
    q.offer(task("a"));
    await new Promise((r) => setTimeout(r, 5));
    expect(started).toEqual([]);
    q.resume();
    await new Promise((r) => setTimeout(r, 5));
    expect(started).toEqual(["a"]);
    await finish("a");
  });

  it("refuses a concurrency below 1 with what it expected and what it got", () => {
    expect(() => new AgentQueue<T>({ concurrency: 0, depth: 1, agingMs: 1 }, async () => {})).toThrow("Expected `concurrency` to be a number from 1 and up, got `0`");
  });
});

describe("TaskTable", () => {
  const src = { path: "/data/agents/a/queue.md", kind: "queue" } as TaskSource;
  const track = (table: TaskTable, key: string) =>
    table.add({ key, priority: "normal", seenAt: 0, block: { id: key, raw: `## ${key}\n`, line: 1 } as TrackedTask["block"], source: src, firstSeen: new Date(0), bornAt: 0 });

  it("walks a task through waiting, admitted, running, settling and done, counting each state", () => {
    const table = new TaskTable();
    const t = track(table, "a");
    const seen: string[] = [];
    table.on("left", (x) => seen.push(x.key));
    expect(t.state).toBe("waiting");
    for (const s of ["admitted", "running", "settling"] as const) {
      table.move(t, s);
      expect(table.count(s)).toBe(1);
    }
    expect(table.count("waiting") + table.count("admitted") + table.count("running")).toBe(0);
    table.move(t, "done");
    expect(table.get("a")).toBeUndefined();
    expect(table.size).toBe(0);
    expect(seen).toEqual(["a"]);
  });

  it("refuses a move the pipeline cannot make, naming the task, both states and the legal ones", () => {
    const table = new TaskTable();
    const t = track(table, "b");
    expect(() => table.move(t, "settling")).toThrow(IllegalTransition);
    expect(() => table.move(t, "settling")).toThrow("task b: cannot move from waiting to settling (legal: admitted, dead, done)");
    table.move(t, "dead");
    expect(() => table.move(t, "waiting")).toThrow("task b is not tracked here");
  });

  it("retries go back to waiting; a retry timer is cleared when the task leaves retrying", () => {
    const table = new TaskTable();
    const t = track(table, "c");
    table.move(t, "admitted");
    table.move(t, "running");
    table.move(t, "retrying");
    let fired = false;
    t.retryTimer = setTimeout(() => (fired = true), 20);
    table.move(t, "dead");
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(fired).toBe(false);
        resolve();
      }, 40),
    );
  });

  it("forgets a waiting task whose block left its file, and no other", () => {
    const table = new TaskTable();
    const t = track(table, "d");
    const u = track(table, "e");
    table.move(u, "admitted");
    table.forget(t);
    expect(table.get("d")).toBeUndefined();
    expect(() => table.forget(u)).toThrow(IllegalTransition);
    expect(() => track(table, "e")).toThrow("task e is already tracked");
  });

  it("reports the earliest expiry among tasks a sweep may expire (not running or settling)", () => {
    const table = new TaskTable();
    const mk = (key: string, expiresAt: number) =>
      table.add({ key, priority: "normal", seenAt: 0, block: { id: key, raw: "", line: 1 } as TrackedTask["block"], source: src, firstSeen: new Date(0), bornAt: 0, expiresAt });
    const soon = mk("soon", 100);
    mk("later", 500);
    expect(table.nextExpiry()).toBe(100);
    table.move(soon, "admitted");
    table.move(soon, "running");
    expect(table.nextExpiry()).toBe(500);
  });
});
