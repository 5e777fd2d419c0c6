// The processed ledger (.agentos/ledger.log) on its own: what it remembers across a
// restart, how it compacts, what it adopts from git, and what a crash can leave of its
// file. Real files in a temp dir; the last test runs the real runtime on a repo whose
// ledger was deleted.
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Ledger, readLedger } from "../src/store/ledger.js";
import { countEffects, eventually } from "./support/checker.js";
import { agent, agentDir, block, dataDir, queue, read, shellAppend, tempDir, yaml } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { startRuntime } from "./support/runtime.js";

const llm = await scriptedLlm();

/** A ledger at a fresh path, loaded; `text` is what the file held before. */
function ledgerAt(text?: string): { path: string; ledger: Ledger } {
  const path = join(tempDir(), "ledger.log");
  if (text !== undefined) writeFileSync(path, text);
  const ledger = new Ledger(path);
  ledger.load();
  return { path, ledger };
}

/** What a restart sees: the same file, loaded by a new Ledger. */
function reopened(path: string): Ledger {
  const ledger = new Ledger(path);
  ledger.load();
  return ledger;
}

describe("the processed ledger", () => {
  it("starts empty when there is no file, and creates it", async () => {
    const { path, ledger } = ledgerAt();
    expect([ledger.size, ledger.isHandled("a"), ledger.state("a"), ledger.isRemoved("a"), ledger.attemptsOf("a")]).toEqual([0, false, undefined, false, 0]);
    expect(readFileSync(path, "utf8")).toBe("");
    await ledger.close();
  });

  it("never opens its file through a link planted after the careful read found none", () => {
    const path = join(tempDir(), "ledger.log");
    const target = join(tempDir(), "elsewhere.txt");
    writeFileSync(target, "keep\n");
    symlinkSync(target, path);
    expect(() => new Ledger(path).loadText(undefined)).toThrow(/ELOOP/);
    expect(readFileSync(target, "utf8")).toBe("keep\n");
  });

  it("remembers done, dead and removed tasks across a restart", async () => {
    const { path, ledger } = ledgerAt();
    ledger.mark("a", "done");
    ledger.markAll(["b", "c"], "dead");
    ledger.markRemoved(["a", "b"]);
    await ledger.close();
    const again = reopened(path);
    expect(again.size).toBe(3);
    expect(["a", "b", "c", "d"].map((k) => again.state(k))).toEqual(["done", "dead", "dead", undefined]);
    expect(["a", "b", "c"].map((k) => again.isRemoved(k))).toEqual([true, true, false]);
    await again.close();
  });

  it("writes every mark to the file before it returns, so the CLI and a restart see it at once, and says when it is fsynced", async () => {
    const { path, ledger } = ledgerAt();
    const synced = ledger.mark("a", "done");
    expect(readFileSync(path, "utf8")).toBe("done\ta\n");
    await expect(synced).resolves.toBeUndefined();
    ledger.markAll(["b", "c"], "done");
    ledger.markAttempt("d", 1);
    expect(readFileSync(path, "utf8")).toBe("done\ta\ndone\tb\ndone\tc\nattempt\td\t1\n");
    // Marking a removed block again writes nothing: compaction repeats itself after a crash.
    ledger.markRemoved(["a"]);
    ledger.markRemoved(["a"]);
    ledger.markAll([], "done");
    expect(readFileSync(path, "utf8").split("\n").filter((l) => l.startsWith("removed"))).toEqual(["removed\ta"]);
    await ledger.close();
  });

  it("counts attempts until the task is handled, then forgets them", async () => {
    const { path, ledger } = ledgerAt();
    ledger.markAttempt("flaky", 1);
    ledger.markAttempt("flaky", 2);
    ledger.markAttempt("other", 1);
    await ledger.close();
    const again = reopened(path);
    expect([again.attemptsOf("flaky"), again.attemptsOf("other"), again.attemptsOf("never")]).toEqual([2, 1, 0]);
    again.mark("flaky", "done");
    expect(again.attemptsOf("flaky")).toBe(0);
    await again.close();
    // The next load compacts the count away; the unfinished task's stays.
    const third = reopened(path);
    expect([third.attemptsOf("flaky"), third.attemptsOf("other")]).toEqual([0, 1]);
    await third.close();
    expect(readFileSync(path, "utf8")).toBe("done\tflaky\nattempt\tother\t1\n");
  });

  it("compacts on load: one line per task, attempts of handled tasks and zero counts dropped, junk lines ignored", async () => {
    const before = [
      "attempt\ta\t1",
      "attempt\ta\t2",
      "done\ta",
      "attempt\tb\t1",
      "attempt\tb\t3",
      "removed\ta",
      "removed\ta",
      "attempt\tc\t0",
      "dead\td",
      "",
      "not a ledger line",
      "done",
      "attempt\te\tlots",
      "",
    ].join("\n");
    const { path, ledger } = ledgerAt(before);
    expect(readFileSync(path, "utf8")).toBe("done\ta\ndead\td\nremoved\ta\nattempt\tb\t3\n");
    expect([ledger.state("a"), ledger.state("d"), ledger.attemptsOf("b"), ledger.attemptsOf("c"), ledger.attemptsOf("e")]).toEqual(["done", "dead", 3, 0, 0]);
    // Appends go on after the compacted text.
    ledger.mark("b", "done");
    await ledger.close();
    expect(readFileSync(path, "utf8")).toBe("done\ta\ndead\td\nremoved\ta\nattempt\tb\t3\ndone\tb\n");
  });

  it("leaves a file that is already compact alone (no rewrite, same inode)", async () => {
    const { path, ledger } = ledgerAt("done\ta\nremoved\ta\nattempt\tb\t2\n");
    await ledger.close();
    const ino = statSync(path).ino;
    reopened(path).close();
    expect(statSync(path).ino).toBe(ino);
    // A file that needed compacting was replaced by a new one (written aside, then renamed).
    const { path: other, ledger: l2 } = ledgerAt("done\ta\ndone\ta\n");
    await l2.close();
    const ino2 = statSync(other).ino;
    writeFileSync(other, "done\ta\ndone\ta\n", { flag: "a" });
    reopened(other).close();
    expect(statSync(other).ino).not.toBe(ino2);
  });

  it("survives a crash in the middle of compaction: a half-written ledger.log.tmp is ignored and replaced", async () => {
    const dir = tempDir();
    const path = join(dir, "ledger.log");
    writeFileSync(path, "done\ta\ndone\ta\nattempt\tb\t1\n");
    // What a kill -9 between writing the compacted copy and renaming it leaves behind.
    writeFileSync(`${path}.tmp`, "done\tgarb");
    const ledger = reopened(path);
    expect([ledger.isHandled("a"), ledger.isHandled("garb"), ledger.attemptsOf("b")]).toEqual([true, false, 1]);
    await ledger.close();
    expect(readFileSync(path, "utf8")).toBe("done\ta\nattempt\tb\t1\n");
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  it("adopts the tasks git knows and it does not: marked done, dead ones left dead, counted once", async () => {
    const { path, ledger } = ledgerAt("dead\tbroken\n");
    expect(await ledger.adoptFromGit(["t1", "t2", "broken", "t1"])).toBe(2);
    expect(["t1", "t2", "broken"].map((k) => ledger.state(k))).toEqual(["done", "done", "dead"]);
    expect(await ledger.adoptFromGit(["t1", "t2"])).toBe(0);
    await ledger.close();
    expect(reopened(path).size).toBe(3);
  });

  it("remembers when a task arrived across a restart, without an fsync, until the task is handled", async () => {
    const { path, ledger } = ledgerAt();
    ledger.markSeen("msg-1", 1_800_000_000_000);
    ledger.markSeen("msg-2", 1_800_000_001_000);
    expect(readFileSync(path, "utf8")).toBe("seen\tmsg-1\t1800000000000\nseen\tmsg-2\t1800000001000\n");
    await ledger.close();
    const again = reopened(path);
    expect([again.arrivalOf("msg-1"), again.arrivalOf("msg-2"), again.arrivalOf("never")]).toEqual([1_800_000_000_000, 1_800_000_001_000, undefined]);
    // Handled: the arrival is no longer needed (and a requeued copy must arrive anew).
    again.mark("msg-1", "done");
    expect(again.arrivalOf("msg-1")).toBeUndefined();
    await again.close();
    // The next load compacts the handled task's arrival away; the waiting one's stays.
    const third = reopened(path);
    expect([third.arrivalOf("msg-1"), third.arrivalOf("msg-2")]).toEqual([undefined, 1_800_000_001_000]);
    await third.close();
    expect(readFileSync(path, "utf8")).toBe("done\tmsg-1\nseen\tmsg-2\t1800000001000\n");
    // The read-only view (CLI, REST API) does not count an arrival as anything handled.
    const view = await readLedger(path);
    expect([view.isHandled("msg-2"), view.state("msg-2"), view.done]).toEqual([false, undefined, 1]);
  });

  it("keeps the arrival of a requeued copy (seen after its dead line) and drops the dead-lettered one's", async () => {
    const { path, ledger } = ledgerAt(["seen\told\t1800000000000", "dead\told", "seen\trequeued\t1800000000000", "dead\trequeued", "seen\trequeued\t1800000600000", ""].join("\n"));
    expect([ledger.state("old"), ledger.arrivalOf("old"), ledger.state("requeued"), ledger.arrivalOf("requeued")]).toEqual(["dead", undefined, "dead", 1_800_000_600_000]);
    await ledger.close();
    expect(readFileSync(path, "utf8")).toBe("dead\told\ndead\trequeued\nseen\trequeued\t1800000600000\n");
    // The compacted order still reads the same way on the next start.
    const again = reopened(path);
    expect(again.arrivalOf("requeued")).toBe(1_800_000_600_000);
    await again.close();
  });

  it("forgets an arrival when asked (the block left its file before it ran), across a restart too", async () => {
    const { path, ledger } = ledgerAt();
    ledger.markSeen("gone", 1_800_000_000_000);
    ledger.forgetSeen("gone");
    ledger.forgetSeen("never-seen"); // nothing to forget: nothing written
    expect(readFileSync(path, "utf8")).toBe("seen\tgone\t1800000000000\nunseen\tgone\n");
    await ledger.close();
    const again = reopened(path);
    expect(again.arrivalOf("gone")).toBeUndefined();
    await again.close();
    expect(readFileSync(path, "utf8")).toBe("");
  });

  it("ignores a torn last arrival line (a crash in the middle of its unsynced write): the task arrives again", async () => {
    // `seen\tb\t18` is what is left of `seen\tb\t1800000001000\n`: read as a time it would be 1970.
    const { path, ledger } = ledgerAt("seen\ta\t1800000000000\nattempt\ta\t1\nseen\tb\t18");
    expect([ledger.arrivalOf("a"), ledger.arrivalOf("b"), ledger.attemptsOf("a")]).toEqual([1_800_000_000_000, undefined, 1]);
    // Junk after a complete line is refused too, and appends start on a line of their own.
    ledger.markSeen("c", 1_800_000_002_000);
    await ledger.close();
    expect(readFileSync(path, "utf8")).toBe("attempt\ta\t1\nseen\ta\t1800000000000\nseen\tc\t1800000002000\n");
    const { ledger: junk } = ledgerAt("seen\tx\tsoon\nseen\ty\t-5\nseen\tz\n");
    expect(["x", "y", "z"].map((k) => junk.arrivalOf(k))).toEqual([undefined, undefined, undefined]);
    await junk.close();
  });

  it("refuses to be written before load() (a programmer error)", async () => {
    const ledger = new Ledger(join(tempDir(), "ledger.log"));
    expect(() => ledger.mark("a", "done")).toThrow(/used before load\(\)/);
  });

  it("is rebuilt from the Task-Id trailers in git when ledger.log is deleted: a block done before is not run again", async () => {
    const data = dataDir(yaml([agent("orion")]));
    const dir = agentDir(data, "orion");
    const first = await startRuntime(data, llm);
    shellAppend(queue(data, "orion"), block("before-the-loss", "Summarise the incident."));
    await eventually(() => countEffects(dir, ["before-the-loss"]).lost.length === 0, 15_000, "the first run's commit");
    await first.rt.stop();

    rmSync(join(dir, ".agentos", "ledger.log"));
    const second = await startRuntime(data, llm);
    expect(second.lines.join("\n")).toMatch(/rebuilt the processed ledger from git: 1 task\(s\)/);
    // The same block again (a stale editor buffer, say) is taken out of queue.md, not run again.
    shellAppend(queue(data, "orion"), block("before-the-loss", "Summarise the incident."));
    await eventually(() => !read(queue(data, "orion")).includes("## before-the-loss"), 15_000, "the copy taken out of queue.md");
    expect(llm.requestsFor("before-the-loss")).toHaveLength(1);
    expect(countEffects(dir, ["before-the-loss"]).commits.get("before-the-loss")).toBe(1);
    expect(readFileSync(join(dir, ".agentos", "ledger.log"), "utf8")).toMatch(/^done\tbefore-the-loss$/m);
  });
});
