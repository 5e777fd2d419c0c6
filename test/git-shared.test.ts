// The agent's repository is also a person's: native git commands run beside the runtime
// while it commits a stream of tasks, and nothing is lost on either side — every hand
// commit git reported, every staged change, every task — checked with git log, git status
// and git fsck --strict.
import { execFile } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { eventually, fsckStrict, git } from "./support/harness.js";
import { agent, block, queue, repo, runtimeHarness, yaml } from "./support/iac.js";
import { startLlmServer } from "./support/llm-server.js";

const run = promisify(execFile);
const llm = await startLlmServer({ latencyMs: 5 });
const h = runtimeHarness(llm);

/** A person's git command, run without blocking the runtime (it shares this process); retried while another git process holds a lock, as a person would. */
async function person(dir: string, ...args: string[]): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { stdout } = await run("git", ["-C", dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.org", ...args]);
      return stdout;
    } catch (err) {
      const text = String((err as { stderr?: string }).stderr ?? err);
      // git refuses, and changes nothing, while another process holds index.lock or the
      // branch's lock, or when the branch moved under its commit ("but expected"); and a
      // commit fails when a repack beside it removed the object folder it writes into.
      if (attempt < 50 && /\.lock|cannot lock ref|but expected|unable to create temporary file/i.test(text)) {
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 30));
        continue;
      }
      throw err;
    }
  }
}

describe("a repository shared with a person", () => {
  it("keeps every hand commit, staged change and task while git add, commit, gc, repack and pack-refs run beside the runtime", async () => {
    const data = h.dataDir(yaml([agent("orion", "fast")]));
    await h.start(data);
    const dir = repo(data, "orion");
    const TASKS = 40;
    const handCommits: string[] = [];
    const stream = (async () => {
      for (let i = 0; i < TASKS; i++) {
        appendFileSync(queue(data, "orion"), block(`t-${i}`, `Task number ${i}.`));
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const hands = (async () => {
      mkdirSync(join(dir, "notes"), { recursive: true });
      for (let i = 0; i < 12; i++) {
        appendFileSync(join(dir, "persona.md"), `\nA note by hand, ${i}.\n`);
        writeFileSync(join(dir, "notes", `n-${i}.md`), `note ${i}\n`);
        await person(dir, "add", "persona.md", `notes/n-${i}.md`);
        await person(dir, "commit", "-q", "-m", `hand: note ${i}`);
        handCommits.push(`hand: note ${i}`);
        if (i === 3) await person(dir, "gc", "--quiet");
        if (i === 6) await person(dir, "repack", "-d", "-q");
        if (i === 9) await person(dir, "pack-refs", "--all");
      }
    })();
    await Promise.all([stream, hands]);
    // A change a person staged and has not committed yet: it stays staged while tasks commit.
    writeFileSync(join(dir, "notes", "draft.md"), "a draft\n");
    await person(dir, "add", "notes/draft.md");
    appendFileSync(queue(data, "orion"), block("after-draft", "One more task."));
    await eventually(() => {
      const ids = git(dir, "log", "--format=%(trailers:key=Task-Id,valueonly,separator=)").split("\n").filter(Boolean);
      return ids.length === TASKS + 1;
    }, 60_000, "every task committed");

    const subjects = git(dir, "log", "--format=%s", "main").trim().split("\n");
    for (const c of handCommits) expect(subjects).toContain(c);
    for (let i = 0; i < TASKS; i++) expect(subjects).toContain(`orion(task): t-${i}`);
    expect(subjects).toContain("orion(task): after-draft");
    expect(subjects.filter((s) => s.startsWith("orion(task):"))).toHaveLength(TASKS + 1);
    // Every hand edit is in HEAD; the draft is still staged; nothing else is pending, no temp file shows.
    expect(git(dir, "show", "HEAD:persona.md")).toContain("A note by hand, 11.");
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "notes").trim().split("\n")).toHaveLength(12);
    // (Like git commit, the runtime renames its index in just after the branch moves: wait for that.)
    await eventually(() => git(dir, "status", "--porcelain", "--untracked-files=all") === "A  notes/draft.md\n", 5_000, "only the draft staged");
    // The runtime's moves are in the reflog, beside the person's.
    const reflog = git(dir, "reflog", "--format=%gs", "main");
    expect(reflog).toMatch(/commit: orion\(task\): t-/);
    expect(reflog).toMatch(/commit: hand: note/);
    fsckStrict(dir);
  }, 120_000);

  it("loses no object to a person's git repack -a -d or gc --prune=now run in a loop while tasks and hand commits go on", async () => {
    const data = h.dataDir(yaml([agent("orion", "fast")]));
    await h.start(data);
    const dir = repo(data, "orion");
    const TASKS = 120;
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; i < TASKS; i++) {
        appendFileSync(queue(data, "orion"), block(`r-${i}`, `Task number ${i}.`));
        await new Promise((r) => setTimeout(r, 10));
      }
      await eventually(() => git(dir, "log", "--format=%s").split("\n").filter((s) => s.startsWith("orion(task):")).length >= TASKS, 60_000, "every task committed");
      streaming = false;
    })();
    // What a person's repack does without -k: every pack it finds goes, but for its reachable objects.
    let repacks = 0;
    let handsDone = false;
    const repacking = (async () => {
      while (streaming) {
        // gc --prune=now only once the person's own commits are over: git says it is unsafe
        // beside git's writers (it deletes their fresh loose objects), and it is, here too.
        await person(dir, ...(handsDone && repacks % 3 === 2 ? ["gc", "--quiet", "--prune=now"] : ["repack", "-a", "-d", "-q"]));
        repacks++;
      }
    })();
    // And hand commits, so the runtime's commits are made again on top of them (those
    // objects too must be out of reach of the prune).
    const hands = (async () => {
      for (let i = 0; i < 15; i++) {
        appendFileSync(join(dir, "persona.md"), `\nBy hand ${i}.\n`);
        await person(dir, "commit", "-q", "-m", `hand: ${i}`, "persona.md");
      }
      handsDone = true;
    })();
    await Promise.all([stream, repacking, hands]);
    expect(repacks).toBeGreaterThan(3);
    const subjects = git(dir, "log", "--format=%s", "main").trim().split("\n");
    for (let i = 0; i < TASKS; i++) expect(subjects).toContain(`orion(task): r-${i}`);
    for (let i = 0; i < 15; i++) expect(subjects).toContain(`hand: ${i}`);
    fsckStrict(dir);
    // No pack is held out of repacks once its commit is in: no .keep is left behind.
    await eventually(() => !readdirSync(join(dir, ".git", "objects", "pack")).some((n) => n.endsWith(".keep")), 5_000, "no .keep left");
  }, 120_000);
});
