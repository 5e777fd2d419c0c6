// The group committer on its own: a real temp repository, real isomorphic-git, the real
// ledger and intent files, checked with native git (`log`, `status`, `fsck --strict`).
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Committer, type CommitterContext } from "../src/commit/committer.js";
import type { TaskIntent } from "../src/commit/intent.js";
import { AgentRepo } from "../src/commit/git/repo.js";
import { createLogger } from "../src/log.js";
import { Ledger } from "../src/store/ledger.js";
import { fsckStrict, git } from "./support/checker.js";
import { tempDir } from "./support/data.js";

interface Setup {
  dir: string;
  committer: Committer;
  ledger: Ledger;
  durable: [string, string][];
  groups: number[];
  intentsDir: string;
  /** The crash point that throws next (once), like a disk error there. */
  failAt: { point?: string };
}

async function setup(): Promise<Setup> {
  const dir = tempDir();
  const repo = new AgentRepo(dir, { name: "orion", email: "orion@agentos.local" });
  await repo.init();
  await repo.commitAll([{ subject: "init: agent filesystem", files: { "rewards.md": "# Rewards\n", ".gitignore": ".agentos/\n" } }]);
  const state = join(dir, ".agentos");
  const intentsDir = join(state, "intents");
  mkdirSync(intentsDir, { recursive: true });
  const ledger = new Ledger(join(state, "ledger.log"));
  ledger.load();
  const durable: [string, string][] = [];
  const groups: number[] = [];
  const failAt: { point?: string } = {};
  const ctx: CommitterContext = {
    repo,
    ledger,
    repoDir: dir,
    intentsDir,
    log: createLogger({ level: "error", write: () => {} }),
    now: () => new Date("2026-04-29T10:05:00Z"),
    crash: (point) => {
      if (failAt.point === point) {
        failAt.point = undefined;
        throw new Error(`disk error at ${point}`);
      }
    },
    exclusive: (fn) => fn(),
    readFile: (path) => readFile(path, "utf8").catch(() => undefined),
    onDurable: (id, how) => durable.push([id, how]),
    onGroup: (n) => groups.push(n),
  };
  return { dir, committer: new Committer(ctx), ledger, durable, groups, intentsDir, failAt };
}

/** A task outcome as the agent's apply step makes it: one commit appending to rewards.md, one result. */
function outcome(id: string, rewards: string, extra: Record<string, string | null> = {}): TaskIntent {
  return {
    taskId: id,
    at: "2026-04-29T10:05:00Z",
    commits: [{ subject: `orion(task): ${id}`, body: `Task ${id}.`, trailers: { "Task-Id": id, Source: "queue", Reward: "1" }, files: { "rewards.md": rewards, [`results/${id}.md`]: `# ${id}\n`, ...extra } }],
    external: [],
  };
}

/** Applies outcomes the way the agent does: each on top of what `read` shows (the earlier ones, still waiting). */
async function applyAll(s: Setup, ids: string[]): Promise<Promise<void>[]> {
  const committed: Promise<void>[] = [];
  for (const id of ids) {
    const { committed: c } = await s.committer.apply(async () => {
      const before = (await s.committer.read("rewards.md")) ?? "";
      return { task: outcome(id, `${before}- ${id}\n`) };
    });
    committed.push(c);
  }
  return committed;
}

describe("Committer", () => {
  it("layers outcomes applied while a group commits, and makes each one commit of its own, in order, with its trailers", async () => {
    const s = await setup();
    const committed = await applyAll(s, ["a", "b", "c", "d"]);
    // Before anything is durable, the next apply already sees every earlier outcome.
    expect(await s.committer.read("rewards.md")).toBe("# Rewards\n- a\n- b\n- c\n- d\n");
    await Promise.all(committed);
    await s.committer.drain();
    expect(git(s.dir, "log", "--format=%s|%(trailers:key=Task-Id,valueonly,separator=)").trim().split("\n")).toEqual([
      "orion(task): d|d",
      "orion(task): c|c",
      "orion(task): b|b",
      "orion(task): a|a",
      "init: agent filesystem|",
    ]);
    expect(git(s.dir, "show", "HEAD~2:rewards.md")).toBe("# Rewards\n- a\n- b\n");
    expect(readFileSync(join(s.dir, "rewards.md"), "utf8")).toBe("# Rewards\n- a\n- b\n- c\n- d\n");
    expect(s.durable).toEqual([["a", "committed"], ["b", "committed"], ["c", "committed"], ["d", "committed"]]);
    expect(s.groups.reduce((a, b) => a + b, 0)).toBe(4);
    expect(s.groups.length).toBeLessThan(4); // b, c and d waited for a's group and went together
    expect(["a", "b", "c", "d"].every((id) => s.ledger.state(id) === "done")).toBe(true);
    expect(readdirSync(s.intentsDir)).toEqual([]);
    expect(s.committer.pendingPaths("results")).toEqual([]);
    expect(git(s.dir, "status", "--porcelain")).toBe("");
    fsckStrict(s.dir);
  });

  it("keeps a recorded outcome whose commit failed, and finishes it from its intent: one commit, marked done", async () => {
    const s = await setup();
    s.failAt.point = "after-commit-object";
    const [committed] = await applyAll(s, ["e"]);
    await expect(committed).rejects.toThrow(/disk error at after-commit-object/);
    expect(s.committer.isUnfinished("e")).toBe(true);
    expect(readdirSync(s.intentsDir)).toHaveLength(1);
    // Still applied in memory: the next outcome builds on it.
    expect(await s.committer.read("results/e.md")).toBe("# e\n");
    await s.committer.finishIntents("recovered");
    expect(s.durable).toEqual([["e", "recovered"]]);
    expect(s.committer.isUnfinished("e")).toBe(false);
    expect(s.ledger.state("e")).toBe("done");
    expect(git(s.dir, "log", "--format=%s").trim().split("\n")).toEqual(["orion(task): e", "init: agent filesystem"]);
    expect(readdirSync(s.intentsDir)).toEqual([]);
    expect(git(s.dir, "status", "--porcelain")).toBe("");
    fsckStrict(s.dir);
  });

  it("finishes an outcome recorded just before its group failed, first thing in the next group", async () => {
    const s = await setup();
    s.failAt.point = "after-intent";
    const [first] = await applyAll(s, ["f"]);
    await expect(first).rejects.toThrow(/disk error/);
    // Recorded before the failure: finished by the next group, not lost.
    const [second] = await applyAll(s, ["g"]);
    await second;
    await s.committer.drain();
    expect(git(s.dir, "log", "--format=%s").trim().split("\n")).toEqual(["orion(task): g", "orion(task): f", "init: agent filesystem"]);
    expect(s.durable).toEqual([["f", "finished"], ["g", "committed"]]);
    fsckStrict(s.dir);
  });

  it("sets aside an intent that keeps failing, names it, and commits the next outcome", async () => {
    const s = await setup();
    const { committed } = await s.committer.apply(async () => ({ task: outcome("bad", "# Rewards\n- bad\n", { "../outside.md": "x\n" }) }));
    await expect(committed).rejects.toThrow(/not a path inside the agent's repository/);
    // Tried again by each finishIntents (a later group or a retry); the fifth failure in a row sets it aside.
    for (let i = 0; i < 5; i++) await s.committer.finishIntents("finished").catch(() => {});
    expect(s.durable).toEqual([["bad", "stuck"]]);
    expect(readdirSync(join(s.intentsDir, "stuck"))).toHaveLength(1);
    expect(existsSync(join(s.dir, "..", "outside.md"))).toBe(false);
    const [next] = await applyAll(s, ["good"]);
    await next;
    expect(git(s.dir, "log", "-1", "--format=%s")).toBe("orion(task): good\n");
    expect(git(s.dir, "status", "--porcelain")).toBe("");
    fsckStrict(s.dir);
  });
});
