// A person's git operations that stop half-way or change the index's form, while tasks
// stream in: a revert that stops on a conflict (its markers in rewards.md), `git add -N`
// (an index version 3 entry), `feature.manyFiles` (index version 4) and a split index.
// Nothing may be lost or dead-lettered, no conflict marker committed, and the index keeps
// the form the person chose; checked with git log, git status and git fsck --strict.
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { eventually, fsckStrict, git } from "./support/harness.js";
import { agent, block, queue, repo, runtimeHarness, yaml } from "./support/iac.js";
import { startLlmServer } from "./support/llm-server.js";

const llm = await startLlmServer({ latencyMs: 5 });
const h = runtimeHarness(llm);

const person = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.org", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const taskCommits = (dir: string) => git(dir, "log", "--format=%s", "main").split("\n").filter((s) => s.startsWith("orion(task):"));
const deadLetters = (data: string) => {
  const dir = join(data, "shared", "iac", "dead_letters");
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).filter((n) => String(n).endsWith(".md")) : [];
};
const indexVersion = (dir: string) => readFileSync(join(dir, ".git", "index")).readUInt32BE(4);

async function started() {
  const data = h.dataDir(yaml([agent("orion", "fast")]));
  await h.start(data);
  return { data, dir: repo(data, "orion") };
}

async function tasks(data: string, prefix: string, n: number) {
  for (let i = 0; i < n; i++) {
    appendFileSync(queue(data, "orion"), block(`${prefix}-${i}`, `Task ${prefix} ${i}.`));
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("a person's git operation in the agent's repository", () => {
  it("waits while a revert stops on a conflict, runs nothing meanwhile, and commits no conflict marker after the abort", async () => {
    const { data, dir } = await started();
    await tasks(data, "a", 5);
    await eventually(() => taskCommits(dir).length === 5, 20_000, "first tasks committed");
    // Reverting the oldest task commit conflicts in rewards.md (later tasks changed the same
    // lines). The oldest in history, not a-0: tasks run side by side, a-0 may commit last.
    const early = git(dir, "log", "--reverse", "--format=%H", "--grep", "(task):", "--fixed-strings", "main").trim().split("\n")[0]!;
    expect(() => person(dir, "revert", "--no-edit", early)).toThrow();
    expect(existsSync(join(dir, ".git", "REVERT_HEAD"))).toBe(true);
    await tasks(data, "b", 10);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(taskCommits(dir)).toHaveLength(5); // none committed under the person's conflict
    person(dir, "revert", "--abort");
    await eventually(() => taskCommits(dir).length === 15, 40_000, "every task committed after the abort");
    expect(deadLetters(data)).toEqual([]);
    const markers = spawnSync("git", ["-C", dir, "grep", "-n", "<<<<<<<", "HEAD"], { encoding: "utf8" });
    expect([markers.status, markers.stdout]).toEqual([1, ""]); // 1: no match anywhere in HEAD
    await eventually(() => git(dir, "status", "--porcelain") === "", 5_000, "clean status");
    fsckStrict(dir);
  }, 90_000);

  it("keeps a `git add -N` file staged (index version 3) and an index in version 4, committing every task", async () => {
    const { data, dir } = await started();
    writeFileSync(join(dir, "draft.md"), "a draft\n");
    person(dir, "add", "-N", "draft.md");
    expect(indexVersion(dir)).toBe(3);
    await tasks(data, "c", 8);
    await eventually(() => taskCommits(dir).length === 8, 20_000, "tasks committed with a version 3 index");
    await eventually(() => git(dir, "status", "--porcelain") === " A draft.md\n", 5_000, "the intent-to-add file still staged");
    person(dir, "update-index", "--index-version", "4");
    await tasks(data, "d", 8);
    await eventually(() => taskCommits(dir).length === 16, 20_000, "tasks committed with a version 4 index");
    await eventually(() => git(dir, "status", "--porcelain") === " A draft.md\n", 5_000, "still staged");
    expect(indexVersion(dir)).toBe(4);
    expect(git(dir, "ls-files").split("\n")).toEqual(expect.arrayContaining(["draft.md", "rewards.md", "persona.md"]));
    expect(deadLetters(data)).toEqual([]);
    fsckStrict(dir);
  }, 60_000);

  it("waits, saying why, while the index is split (core.splitIndex), and goes on once it is not", async () => {
    const { data, dir } = await started();
    person(dir, "update-index", "--split-index");
    await tasks(data, "e", 4);
    // Two probes of the paused agent (5 s, then 10 s): the model is not asked again at each.
    await new Promise((r) => setTimeout(r, 11_000));
    expect(taskCommits(dir)).toHaveLength(0);
    const asked = [0, 1, 2, 3].reduce((n, i) => n + llm.requestsFor(`e-${i}`).length, 0);
    expect(asked, "model requests while the index is split").toBeLessThanOrEqual(4);
    person(dir, "update-index", "--no-split-index");
    await eventually(() => taskCommits(dir).length === 4, 40_000, "tasks committed once the index is whole");
    expect(deadLetters(data)).toEqual([]);
    await eventually(() => git(dir, "status", "--porcelain") === "", 5_000, "clean status");
    fsckStrict(dir);
  }, 90_000);
});
