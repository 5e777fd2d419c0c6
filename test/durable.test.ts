// DURABLE: nothing is lost and nothing runs twice — concurrent appenders, editors,
// partial writes, kill -9 at named points, LLM faults, shutdown and bad files.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { blocksLeft, countEffects, deadLetterTexts, eventually, fsckStrict, git } from "./support/checker.js";
import { agentDir, block, dataDir, deadLetterDir, read } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { runCliAsync, RunningCli, scriptedEnv, startRun } from "./support/runtime.js";

const STRESS = !!process.env.AGENTOS_STRESS;
const llm = await scriptedLlm();

const YAML = (cls = "fast") => `agents:\n  - name: orion\n    persona: "Backend engineer."\n    throughput_class: ${cls}\ntasks:\n  settle_ms: 200\n`;
const env = (extra: Record<string, string> = {}) => scriptedEnv(llm, extra);

/** N shell processes each running `cat >> queue.md` for its own tasks, as fast as they can. */
function concurrentAppenders(queue: string, writers: number, perWriter: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  const procs: Promise<void>[] = [];
  for (let w = 0; w < writers; w++) {
    const mine = Array.from({ length: perWriter }, (_, i) => `${prefix}-w${w}-${i}`);
    ids.push(...mine);
    const script = mine.map((id) => `cat >> "$Q" <<'EOF'\n${block(id)}EOF`).join("\n");
    procs.push(
      new Promise((resolve, reject) => {
        const p = spawn("sh", ["-c", script], { env: { ...process.env, Q: queue }, stdio: "ignore" });
        p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`appender ${w} exited ${code}`))));
      }),
    );
  }
  return Promise.all(procs).then(() => ids);
}

describe("concurrent appenders", () => {
  it("processes every block appended by 4 concurrent shells exactly once while the runtime compacts queue.md", async () => {
    const data = dataDir(YAML());
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    const queue = join(dir, "queue.md");
    try {
      const ids = await concurrentAppenders(queue, 4, STRESS ? 250 : 40, "ca");
      await eventually(() => countEffects(dir, ids).lost.length === 0, STRESS ? 400_000 : 60_000, "all tasks committed").catch((err: Error) => {
        const c = countEffects(dir, ids);
        throw new Error(`${err.message}: ${c.lost.length} not committed (${c.lost.slice(0, 10).join(", ")}), in queue.md: ${blocksLeft(queue).length}\n${run.output.slice(-3000)}`);
      });
      const c = countEffects(dir, ids, deadLetterDir(data));
      expect(c.lost).toEqual([]);
      expect(c.duplicated).toEqual([]);
      expect(c.deadLetters).toEqual([]);
      await eventually(() => blocksLeft(queue).length === 0, 10_000, "queue.md emptied");
      fsckStrict(dir);
      expect(git(dir, "status", "--porcelain")).toBe("");
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, STRESS ? 600_000 : 60_000);
});

describe("kill -9 anywhere", () => {
  const POINTS = ["before-llm", "after-llm", "after-intent", "after-state-files", "after-commit-object", "after-commit"];

  // One CLI process per round: on a loaded 2-core machine a round can take seconds.
  it("after randomized kill -9 rounds every task's effect exists exactly once and the repo is consistent", { timeout: 240_000 }, async () => {
    const rounds = STRESS ? 120 : 10;
    const tasks = STRESS ? 150 : 24;
    const data = dataDir(YAML("medium").replace("tasks:\n", "tasks:\n  max_attempts: 1000\n"));
    const dir = agentDir(data, "orion");
    const queue = join(dir, "queue.md");
    const ids = Array.from({ length: tasks }, (_, i) => `k-${i}`);
    // Bootstrap once, then queue everything.
    await runOnce(data, env());
    appendFileSync(queue, ids.map((id) => block(id)).join(""));
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const summary: Record<string, number> = {};
    // Tasks committed before each round: kills must land while work is left, not after it is all done.
    const progress: number[] = [];
    // A model that takes a moment, so a round ends (killed) with work still left.
    llm.setLatency(30);
    for (let round = 0; round < rounds; round++) {
      progress.push(countEffects(dir, ids).commits.size);
      const mode = random();
      if (mode < 0.6) {
        const point = POINTS[Math.floor(random() * POINTS.length)]!;
        const nth = 1 + Math.floor(random() * 3);
        summary[point] = (summary[point] ?? 0) + 1;
        await runOnce(data, env({ AGENTOS_CRASH_AT: `${point}@${nth}` }));
      } else if (mode < 0.8) {
        // During the LLM call: kill when the scripted server has the request in hand.
        summary["during-llm"] = (summary["during-llm"] ?? 0) + 1;
        const before = llm.requests.length;
        llm.setLatency(400);
        const p = new RunningCli(["run", "--once", "--data", data], env());
        await eventually(() => llm.requests.length > before || p.child.exitCode !== null, 20_000, "an LLM request");
        await p.stop("SIGKILL");
        llm.setLatency(30);
      } else {
        // Anywhere: kill after a random moment (lands in parsing, commits, compaction...).
        summary["random-time"] = (summary["random-time"] ?? 0) + 1;
        const p = new RunningCli(["run", "--once", "--data", data], env());
        await new Promise((r) => setTimeout(r, 150 + random() * 500));
        await p.stop("SIGKILL");
      }
    }
    llm.setLatency(0);
    const final = await runOnce(data, env());
    expect(final.status, final.stdout + final.stderr).toBe(0);
    const c = countEffects(dir, ids, deadLetterDir(data));
    const withWorkLeft = progress.filter((n) => n < tasks).length;
    console.log(`kill -9 rounds: ${rounds} (${JSON.stringify(summary)}), tasks: ${tasks}, lost: ${c.lost.length}, duplicated: ${c.duplicated.length}; ` +
      `rounds started with work left: ${withWorkLeft}; committed before each round: ${progress.join(" ")}`);
    expect(withWorkLeft).toBeGreaterThanOrEqual(Math.min(rounds, 5));
    expect(c.lost).toEqual([]);
    expect(c.duplicated).toEqual([]);
    expect(c.deadLetters).toEqual([]);
    expect(blocksLeft(queue)).toEqual([]);
    fsckStrict(dir);
    expect(git(dir, "status", "--porcelain")).toBe("");
    expect(readdirSync(join(dir, ".agentos", "intents"))).toEqual([]);
    // rewards.md agrees with git: its totals count every task once
    expect(read(join(dir, "rewards.md"))).toContain(`Totals since start: +1: ${tasks} | 0: 0 | -1: 0`);
  }, STRESS ? 1_800_000 : 60_000);
});

const runOnce = (data: string, e: NodeJS.ProcessEnv) => runCliAsync(["run", "--once", "--data", data], e);

describe("editors and partial writes", () => {
  it("picks up vim, in-place, sed -i, cp and mv saves once each, ignores swap files, and never re-runs a stale buffer", async () => {
    const data = dataDir(YAML());
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    const queue = join(dir, "queue.md");
    const committed = () => countEffects(dir, []).commits;
    try {
      // vim with backups: swap and backup files around, a `4913` probe, then write to a new file + rename.
      writeFileSync(join(dir, ".queue.md.swp"), "\0binary swap\0");
      writeFileSync(join(dir, "queue.md~"), block("from-backup-file"));
      writeFileSync(join(dir, "4913"), "");
      const original = read(queue);
      writeFileSync(join(dir, "queue.md.new"), original + block("vim-rename"));
      renameSync(join(dir, "queue.md.new"), queue);
      await eventually(() => committed().has("vim-rename"), 10_000, "vim-rename");

      // vim with `:set nobackup nowritebackup`: truncate and write in place.
      const stale = read(queue); // an editor buffer that still holds vim-rename
      writeFileSync(queue, read(queue) + block("in-place"));
      await eventually(() => committed().has("in-place"), 10_000, "in-place");

      // sed -i (temp file + rename) appending a block at the end.
      spawnSync("sed", ["-i", `$ a\\\n## sed-inplace\\ntask: Added by sed.\\ncreated: 2026-04-29T10:05:00Z`, queue]);
      await eventually(() => committed().has("sed-inplace"), 10_000, "sed -i");

      // cp and mv of a whole file over queue.md.
      writeFileSync(join(data, "incoming.md"), block("copied-over"));
      spawnSync("cp", [join(data, "incoming.md"), queue]);
      await eventually(() => committed().has("copied-over"), 10_000, "cp");
      writeFileSync(join(data, "moved.md"), block("moved-over"));
      spawnSync("mv", [join(data, "moved.md"), queue]);
      await eventually(() => committed().has("moved-over"), 10_000, "mv");

      // Wait for compaction to take the processed blocks out, then save the stale buffer.
      await eventually(() => !blocksLeft(queue).includes("moved-over"), 10_000, "compaction");
      writeFileSync(queue, stale + block("after-stale-save"));
      await eventually(() => committed().has("after-stale-save"), 10_000, "after-stale-save");
      const letters = deadLetterTexts(data);
      expect(letters.length).toBeGreaterThanOrEqual(1);
      expect(letters.every((l) => l.includes("- reason: duplicate"))).toBe(true);
      expect(letters.some((l) => l.includes("- task: vim-rename"))).toBe(true);

      const c = committed();
      for (const id of ["vim-rename", "in-place", "sed-inplace", "copied-over", "moved-over", "after-stale-save"]) expect(c.get(id), id).toBe(1);
      expect(c.has("from-backup-file")).toBe(false);
      fsckStrict(dir);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- queue.md:\n${read(queue)}\n--- runtime output (tail):\n${run.output.slice(-4000)}`);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it("does not run a block written line by line until it is complete, and never truncated", async () => {
    const data = dataDir(YAML().replace("settle_ms: 200", "settle_ms: 1500"));
    const run = await startRun(data, env());
    const dir = agentDir(data, "orion");
    const queue = join(dir, "queue.md");
    const lines = ["", "## slow-writer", "task: |", "  line one of the task", "", "  line two of the task", "priority: high", "created: 2026-04-29T10:05:00Z"];
    for (const l of lines) {
      // Not run while any line is still missing (the closing `created:` comes last).
      expect(countEffects(dir, []).commits.has("slow-writer")).toBe(false);
      expect(llm.requestsFor("slow-writer")).toHaveLength(0);
      spawnSync("sh", ["-c", `echo "$1" >> "$2"`, "sh", l, queue]);
      await new Promise((r) => setTimeout(r, 250));
    }
    await eventually(() => countEffects(dir, []).commits.has("slow-writer"), 10_000, "slow-writer committed");
    const body = git(dir, "log", "-1", "--format=%B");
    expect(body).toContain("line one of the task\n\nline two of the task");
    const reqs = llm.requestsFor("slow-writer");
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.taskText).toContain("line two of the task");
  });
});
