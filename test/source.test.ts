// Task files on their own (real temp files): compaction takes handled blocks out of
// queue.md without losing what a concurrent writer appends, a crash in the middle is
// recovered from the spool, and the lease keeper beats, steps back and releases.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LeaseKeeper } from "../src/agent/lease-keeper.js";
import { createLogger } from "../src/log.js";
import { recoverSpools } from "../src/source/spool-recovery.js";
import { blockKey, TaskSource } from "../src/source/task-source.js";
import { acquireLease, readLease } from "../src/store/lease.js";
import { removeDir, tempDir } from "./support/harness.js";

const block = (id: string) => `\n## ${id}\ntask: Do ${id}.\ncreated: 2026-04-29T10:05:00Z\n`;
const ids = (text: string) => [...text.matchAll(/^## (\S+)/gm)].map((m) => m[1]);
const dirs: string[] = [];
function folder(): { dir: string; queue: string; spool: string } {
  const dir = tempDir("agentos-source-");
  dirs.push(dir);
  const spool = join(dir, ".agentos", "spool");
  mkdirSync(spool, { recursive: true });
  return { dir, queue: join(dir, "queue.md"), spool };
}
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

describe("compaction of queue.md", () => {
  it("removes handled blocks, keeps the text before the first block and the pending ones, and reports the keys", async () => {
    const { queue, spool } = folder();
    writeFileSync(queue, "<!-- my notes -->\n" + block("one") + block("two") + block("three"));
    const src = new TaskSource(queue, "queue", "orion", 0);
    const read = await src.read();
    expect(read.blocks.map(blockKey)).toEqual(["one", "two", "three"]);
    const handled = new Set(["one", "three"]);
    const removed = await src.compact((b) => handled.has(blockKey(b)), spool, (k) => handled.has(k));
    expect(removed).toEqual(["one", "three"]);
    const after = readFileSync(queue, "utf8");
    expect(after.startsWith("<!-- my notes -->\n")).toBe(true);
    expect(ids(after)).toEqual(["two"]);
    expect(src.knownBlocks.map(blockKey)).toEqual(["two"]);
  });

  it("carries over what a writer holding the old file appended after the swap", async () => {
    const { queue, spool } = folder();
    writeFileSync(queue, block("done-1") + block("pending-1"));
    const src = new TaskSource(queue, "queue", "orion", 0);
    await src.read();
    // A shell's `>>` opened before the compaction renames the new file into place.
    const fd = openSync(queue, "a");
    await src.compact((b) => blockKey(b) === "done-1", spool, (k) => k === "done-1");
    writeSync(fd, block("late-append"));
    closeSync(fd);
    await src.checkSpools((k) => k === "done-1");
    expect(ids(readFileSync(queue, "utf8"))).toEqual(["pending-1", "late-append"]);
  });

  it("after a crash mid-compaction puts every pending block of a left-over spool file back, once", async () => {
    const { queue, spool } = folder();
    // The crash left the old file's second name in the spool; queue.md was already rewritten.
    writeFileSync(join(spool, "queue-1-abc.md"), block("handled") + block("still-pending") + block("also-in-queue"));
    writeFileSync(queue, block("also-in-queue"));
    const restored = await recoverSpools(queue, spool, (k) => k === "handled");
    expect(restored).toBe(1);
    expect(ids(readFileSync(queue, "utf8"))).toEqual(["also-in-queue", "still-pending"]);
    expect(readdirSync(spool)).toEqual([]);
  });

  it("leaves a file alone while its last line is half written", async () => {
    const { queue, spool } = folder();
    writeFileSync(queue, block("a") + block("b"));
    const src = new TaskSource(queue, "queue", "orion", 0);
    await src.read();
    writeFileSync(queue, readFileSync(queue, "utf8") + "\n## c\ntask: half a li");
    const removed = await src.compact((b) => blockKey(b) === "a", spool, (k) => k === "a");
    expect(removed).toBeUndefined();
    expect(readFileSync(queue, "utf8")).toContain("task: half a li");
  });
});

describe("LeaseKeeper", () => {
  const log = createLogger({ level: "error", format: "text", write: () => {} });

  it("takes the lease, refuses a second keeper naming the owner, beats by moving the mtime, and releases to 1970", async () => {
    const { dir } = folder();
    const path = join(dir, "lease.json");
    const lost: unknown[] = [];
    const keeper = new LeaseKeeper(path, "orion", log, () => new Date(), (by) => lost.push(by));
    await keeper.acquire();
    expect(keeper.held).toBe(true);
    const text = readFileSync(path, "utf8");
    utimesSync(path, new Date(Date.now() - 5_000), new Date(Date.now() - 5_000));
    const before = statSync(path).mtimeMs;
    await keeper.beat();
    expect(statSync(path).mtimeMs).toBeGreaterThan(before);
    expect(readFileSync(path, "utf8")).toBe(text); // a beat never rewrites the file
    const second = await acquireLease(path, "orion");
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.message).toMatch(new RegExp(`already run by pid ${process.pid} on host`));
    await keeper.release();
    expect(statSync(path).mtimeMs).toBe(0);
    expect(lost).toEqual([]);
  });

  it("steps back, once, when another runtime replaced its lease", async () => {
    const { dir } = folder();
    const path = join(dir, "lease.json");
    const lost: { pid: number }[] = [];
    const keeper = new LeaseKeeper(path, "orion", log, () => new Date(), (by) => lost.push(by));
    await keeper.acquire();
    const mine = await readLease(path);
    // Another runtime's takeover replaces the file (a new inode) with its own token.
    writeFileSync(path + ".new", JSON.stringify({ ...mine, pid: 4242, token: "someone-else" }));
    const { renameSync } = await import("node:fs");
    renameSync(path + ".new", path);
    await keeper.beat();
    await keeper.beat();
    expect(lost.map((l) => l.pid)).toEqual([4242]);
    expect(keeper.held).toBe(false);
    await keeper.release();
    expect((await readLease(path))?.token).toBe("someone-else"); // not ours to release
    expect(statSync(path).mtimeMs).toBeGreaterThan(0);
  });
});
