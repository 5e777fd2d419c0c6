// AgentRepo's group commit against the native git CLI: what `git log`, `git status`
// and `git fsck --strict` show after commitAll, including a folder big enough that its
// tree is stored uncompressed, and a replay that skips commits git already has.
import { spawn } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentRepo } from "../src/commit/git/repo.js";
import { createLogger } from "../src/log.js";
import { resultFile } from "../src/store/layout.js";
import { fsckStrict, git } from "./support/checker.js";
import { tempDir } from "./support/data.js";

async function freshRepo(): Promise<{ dir: string; repo: AgentRepo }> {
  const dir = tempDir();
  const repo = new AgentRepo(dir, { name: "orion", email: "orion@agentos.local" });
  await repo.init();
  await repo.commitAll([{ subject: "init: agent filesystem", files: { "rewards.md": "# Rewards\n" }, at: new Date("2026-04-29T10:00:00Z") }]);
  return { dir, repo };
}

const plan = (id: string, rewards: string, extra: Record<string, string | null> = {}) => ({
  subject: `orion(task): ${id}`,
  trailers: { "Task-Id": id, Reward: "1" },
  files: { "rewards.md": rewards, [`results/${id}.md`]: `# ${id}\n`, ...extra },
  at: new Date("2026-04-29T10:05:00Z"),
});

describe("AgentRepo.commitAll", () => {
  it("makes one commit per plan in order, each with its own tree, and leaves the work tree and index matching the last", async () => {
    const { dir, repo } = await freshRepo();
    const oids = await repo.commitAll([plan("a", "# Rewards\n- a\n"), plan("b", "# Rewards\n- a\n- b\n"), plan("c", "# Rewards\n- a\n- b\n- c\n")]);
    expect(oids).toHaveLength(3);
    expect(git(dir, "log", "--format=%s|%(trailers:key=Task-Id,valueonly,separator=)").trim().split("\n")).toEqual([
      "orion(task): c|c",
      "orion(task): b|b",
      "orion(task): a|a",
      "init: agent filesystem|",
    ]);
    // Each commit holds the state as of its task, not the group's end state.
    expect(git(dir, "show", `${oids[0]}:rewards.md`)).toBe("# Rewards\n- a\n");
    expect(git(dir, "ls-tree", "--name-only", `${oids[1]}`, "results/")).toBe("results/a.md\nresults/b.md\n");
    expect(readFileSync(join(dir, "rewards.md"), "utf8")).toBe("# Rewards\n- a\n- b\n- c\n");
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("deletes a path one plan removes, and replays an intent without repeating the commits git already has", async () => {
    const { dir, repo } = await freshRepo();
    const plans = [plan("a", "# Rewards\n- a\n", { "skills/x.md": "x\n" }), plan("b", "# Rewards\n- a\n- b\n", { "skills/x.md": null, "skills/archive/x.md": "x\n" })];
    await repo.commitAll(plans);
    const before = git(dir, "rev-parse", "HEAD").trim();
    // A restart after the branch moved: both commits are there, only files are written again.
    await repo.commitAll(plans, { skip: () => true });
    expect(git(dir, "rev-parse", "HEAD").trim()).toBe(before);
    expect(git(dir, "ls-files", "skills")).toBe("skills/archive/x.md\n");
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("writes objects of every size around the stored/deflated bounds so that native git reads each byte back and fsck accepts them", async () => {
    const { dir, repo } = await freshRepo();
    const sizes = [0, 1, 2, 255, 256, 511, 512, 513, 1_000, 4_096, 4_097, 70_000];
    // Text that hardly compresses (pseudo-random printable characters) and text that does.
    let x = 7;
    const noise = (n: number) => Array.from({ length: n }, () => String.fromCharCode(32 + (((x = (x * 1103515245 + 12345) >>> 0) >>> 16) % 95))).join("");
    const files: Record<string, string> = {};
    for (const n of sizes) {
      files[`results/noise-${n}.md`] = noise(n);
      files[`results/text-${n}.md`] = "ab".repeat(n).slice(0, n);
    }
    await repo.commitAll([{ subject: "orion(task): sizes", trailers: { "Task-Id": "sizes" }, files }]);
    for (const [path, text] of Object.entries(files)) expect(git(dir, "show", `HEAD:${path}`), path).toBe(text);
    fsckStrict(dir);
  });

  it("stores a big tree (2,000 results) uncompressed, which native git reads and fsck accepts", async () => {
    const { dir, repo } = await freshRepo();
    const files: Record<string, string> = {};
    for (let i = 0; i < 2_000; i++) files[`results/t-${i}.md`] = `# t-${i}\n`;
    await repo.commitAll([{ subject: "orion(task): many", trailers: { "Task-Id": "many" }, files }]);
    await repo.commitAll([plan("one-more", "# Rewards\n- one-more\n")]);
    expect(git(dir, "ls-tree", "--name-only", "HEAD", "results/").trim().split("\n")).toHaveLength(2_001);
    const size = Number(git(dir, "cat-file", "-s", "HEAD:results").trim());
    expect(size).toBeGreaterThan(64 * 1024);
    const oid = git(dir, "rev-parse", "HEAD:results").trim();
    // Stored (zlib level 0) in the commit's pack: its entry is no smaller than the tree itself.
    // 2,000 objects start a background repack: read the packs once it is over (it raced this read).
    await repo.packed;
    const packDir = join(dir, ".git", "objects", "pack");
    const idx = readdirSync(packDir).filter((f) => f.endsWith(".idx")).map((f) => join(packDir, f));
    const entry = git(dir, "verify-pack", "-v", ...idx).split("\n").find((l) => l.startsWith(`${oid} `));
    expect(Number(entry?.trim().split(/\s+/)[3])).toBeGreaterThanOrEqual(size);
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("keeps the runtime's temp files out of git status and git add -A, and writes a reflog entry per commit", async () => {
    const { dir, repo } = await freshRepo();
    // The first commit went into one pack (with its index), not a loose object per file and tree.
    const counts = git(dir, "count-objects", "-v");
    expect(counts).toMatch(/^count: 0$/m);
    expect(counts).toMatch(/^packs: 1$/m);
    expect(git(dir, "verify-pack", "-v", ...readdirSync(join(dir, ".git", "objects", "pack")).filter((f) => f.endsWith(".idx")).map((f) => join(dir, ".git", "objects", "pack", f)))).toMatch(/non delta: 3 objects/);
    writeFileSync(join(dir, ".rewards.md.4242.0badc0de.tmp"), "half written\n");
    git(dir, "add", "-A");
    expect(git(dir, "status", "--porcelain", "--untracked-files=all")).toBe("");
    await repo.commitAll([plan("a", "# Rewards\n- a\n"), plan("b", "# Rewards\n- a\n- b\n")]);
    expect(git(dir, "reflog", "--format=%gs", "main").trim().split("\n")).toEqual(["commit: orion(task): b", "commit: orion(task): a", "commit (initial): init: agent filesystem"]);
    expect(git(dir, "reflog", "--format=%H", "HEAD").trim().split("\n")[0]).toBe(git(dir, "rev-parse", "HEAD").trim());
    fsckStrict(dir);
  });

  it("makes the branch's and the reflog's folders again when someone removed them", async () => {
    const { dir, repo } = await freshRepo();
    // After `git pack-refs` the branch lives in packed-refs; its empty folder may go too.
    git(dir, "pack-refs", "--all");
    rmSync(join(dir, ".git", "refs", "heads"), { recursive: true, force: true });
    rmSync(join(dir, ".git", "logs"), { recursive: true });
    await repo.commitAll([plan("a", "# Rewards\n- a\n")]);
    expect(git(dir, "log", "--format=%s", "main").trim().split("\n")).toEqual(["orion(task): a", "init: agent filesystem"]);
    expect(git(dir, "reflog", "--format=%gs", "main").trim()).toBe("commit: orion(task): a");
    expect(git(dir, "reflog", "--format=%gs", "HEAD").trim()).toBe("commit: orion(task): a");
    fsckStrict(dir);
  });

  it("stores each group commit as one pack, merges the small packs in the background once a thousand objects piled up, while commits go on, and git reads every one", async () => {
    const { dir, repo } = await freshRepo();
    const packs = () => readdirSync(join(dir, ".git", "objects", "pack")).filter((f) => f.endsWith(".pack")).length;
    let rewards = "# Rewards\n";
    const plans = Array.from({ length: 200 }, (_, i) => plan(`p-${i}`, (rewards += `- p-${i}\n`)));
    // Groups of 5, as a busy agent commits: a pack each, no loose objects.
    for (let i = 0; i < 100; i += 5) await repo.commitAll(plans.slice(i, i + 5));
    expect(packs()).toBe(21); // bootstrap's and 20 groups'
    expect(git(dir, "count-objects", "-v")).toMatch(/^count: 0$/m);
    // A pack is held out of a person's repacks (.keep) only until the branch points at it; one a
    // killed runtime left (another pid's) goes before the next repack, a person's own stays.
    const packDir = join(dir, ".git", "objects", "pack");
    const keeps = () => readdirSync(packDir).filter((f) => f.endsWith(".keep")).sort();
    expect(keeps()).toEqual([]);
    const [first, second] = readdirSync(packDir).filter((f) => f.endsWith(".pack")).map((f) => f.replace(/\.pack$/, ".keep"));
    writeFileSync(join(packDir, first!), "agentos 999999999\n");
    writeFileSync(join(packDir, second!), "kept by hand\n");
    for (let i = 100; i < 190; i += 5) await repo.commitAll(plans.slice(i, i + 5)); // crosses the threshold: a repack starts
    const during = repo.commitAll(plans.slice(190)); // and commits go on beside it
    await during;
    await repo.packed;
    const counts = Object.fromEntries(git(dir, "count-objects", "-v").trim().split("\n").map((l) => l.split(": ") as [string, string]));
    expect(Number(counts["in-pack"])).toBeGreaterThan(1_000);
    expect(Number(counts.count)).toBe(0);
    // Merged: the ~40 packs before the repack are a few now (geometric: each at least twice the ones after it).
    expect(packs()).toBeLessThan(7);
    expect(keeps()).toEqual([second]);
    await repo.commitAll([plan("after", `${rewards}- after\n`)]);
    expect(git(dir, "rev-list", "--count", "HEAD").trim()).toBe("202");
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  }, 120_000);

  it("once the objects written double, repacks the whole history with deltas while commits go on, losing none of them", async () => {
    const dir = tempDir();
    const repo = new AgentRepo(dir, { name: "orion", email: "orion@agentos.local" }, { fullRepackFirst: 1_500 });
    await repo.init();
    let rewards = "# Rewards\n";
    const plans = Array.from({ length: 400 }, (_, i) => plan(`w-${i}`, (rewards += `- reward: 1 | task: w-${i} | audit: 1 | reason: done as asked\n`)));
    // Groups of 5: the background repacks (geometric, then whole at 1,500 objects) run
    // beside the next groups, which are never awaited against them.
    for (let i = 0; i < plans.length; i += 5) await repo.commitAll(plans.slice(i, i + 5));
    await repo.packed;
    expect(git(dir, "rev-list", "--count", "HEAD").trim()).toBe("400");
    // As compact as git makes it from scratch (`repack -adf` of a copy); merging the small
    // packs alone left it 1.4–1.6 times that here.
    const packBytes = (d: string) => readdirSync(join(d, ".git", "objects", "pack")).filter((f) => f.endsWith(".pack")).reduce((n, f) => n + statSync(join(d, ".git", "objects", "pack", f)).size, 0);
    const copy = join(tempDir(), "copy");
    cpSync(dir, copy, { recursive: true });
    git(copy, "repack", "-adfq");
    expect(packBytes(dir)).toBeLessThan(1.2 * packBytes(copy));
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  }, 120_000);

  it("keeps at most treeFolders folders' trees in memory and reads a dropped one back: results in 100 fan-out folders, all in HEAD", async () => {
    const { dir } = await freshRepo();
    const repo = new AgentRepo(dir, { name: "orion", email: "orion@agentos.local" }, { treeFolders: 16 });
    const ids = Array.from({ length: 300 }, (_, i) => `f-${i}`);
    for (let i = 0; i < ids.length; i += 30) {
      await repo.commitAll(ids.slice(i, i + 30).map((id) => ({ subject: `orion(task): ${id}`, trailers: { "Task-Id": id }, files: { [resultFile(id)]: `# ${id}\n` } })));
    }
    const listed = git(dir, "ls-tree", "-r", "--name-only", "HEAD", "results").trim().split("\n");
    expect(listed).toHaveLength(300);
    expect(new Set(listed.map((p) => p.split("/")[1])).size).toBeGreaterThan(16);
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("goes on committing while native git repacks beside it without pause: no commit fails, git reads every one", { timeout: 120_000 }, async () => {
    const { dir, repo } = await freshRepo();
    // Repacks one after another, as fast as git can: each one writes a .tmp pack, deletes
    // the loose objects it packed and the emptied object folders, and merges packs.
    let repacking = true;
    let repacks = 0;
    const loop = (async () => {
      while (repacking) {
        await new Promise<void>((resolve) => spawn("git", ["-C", dir, "-c", "gc.auto=0", "repack", "-d", "-q", "--geometric=2"], { stdio: "ignore" }).on("exit", () => resolve()));
        repacks++;
      }
    })();
    const ids = Array.from({ length: 600 }, (_, i) => `r-${i}`);
    const failures: string[] = [];
    try {
      // Results in more fan-out folders than the tree cache keeps: commits read trees back from git.
      for (let i = 0; i < ids.length; i += 6) {
        const group = ids.slice(i, i + 6);
        await repo.commitAll(group.map((id) => ({ subject: `orion(task): ${id}`, trailers: { "Task-Id": id }, files: { [resultFile(id)]: `# ${id}\n`, "rewards.md": `# Rewards\n- ${id}\n` } }))).catch((err: Error) => failures.push(`${group[0]}: ${err.message}`));
      }
    } finally {
      repacking = false;
      await loop;
    }
    expect(failures).toEqual([]);
    expect(repacks, "git repack ran beside the commits").toBeGreaterThan(3);
    expect(git(dir, "rev-list", "--count", "HEAD").trim()).toBe(String(ids.length + 1));
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "results").trim().split("\n")).toHaveLength(ids.length);
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("never deletes a file a person changed since it was committed: it stays, with their text, and the log says so", async () => {
    const { dir } = await freshRepo();
    const lines: string[] = [];
    const repo = new AgentRepo(dir, { name: "orion", email: "orion@agentos.local" }, { log: createLogger({ level: "info", write: (l) => lines.push(l) }) });
    await repo.commitAll([plan("a", "# Rewards\n- a\n"), plan("b", "# Rewards\n- a\n- b\n")]);
    writeFileSync(join(dir, "results/a.md"), "# a\n\nMy own notes on this answer.\n"); // a person's edit, not committed
    writeFileSync(join(dir, "results/b.md"), readFileSync(join(dir, "results/b.md"))); // rewritten as it was: not an edit
    await repo.commitAll([plan("c", "# Rewards\n- c\n", { "results/a.md": null, "results/b.md": null })]);
    expect(readFileSync(join(dir, "results/a.md"), "utf8")).toBe("# a\n\nMy own notes on this answer.\n");
    expect(git(dir, "ls-files", "results").trim().split("\n").sort()).toEqual(["results/a.md", "results/c.md"]);
    expect(git(dir, "status", "--porcelain")).toBe(" M results/a.md\n"); // still theirs to commit or drop
    expect(lines.join("\n")).toMatch(/kept results\/a\.md: it was changed by hand since it was committed/);
    fsckStrict(dir);
  });
});
