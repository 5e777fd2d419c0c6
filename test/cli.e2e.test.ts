// End to end through the real CLI: real files, real chokidar, real isomorphic-git,
// checked with the native git CLI; the LLM is the scripted server on 127.0.0.1.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deadLetterTexts, eventually, fsckStrict, git } from "./support/checker.js";
import { agentDir, dataDir, FIXTURES, read, shellAppend } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { runCli, scriptedEnv, startRun } from "./support/runtime.js";
import { resultFile } from "../src/store/layout.js";

const llm = await scriptedLlm();
// A key and a model name of its own, so the test can check where each appears (and where not).
const providerEnv = () => scriptedEnv(llm, { LLM_API_KEY: "sk-test-secret-key", LLM_MODEL: "scripted-model" });
const ONE_AGENT = `agents:\n  - name: orion\n    persona: "Backend engineer."\n    goals: ["Handle streaming SSE endpoints robustly"]\n`;

describe("agentos run", () => {
  it("bootstraps with the seed's log lines, idempotently, with one init commit", () => {
    const data = dataDir(ONE_AGENT);
    const first = runCli(["run", "--once", "--offline", "--data", data]);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d INFO \[bootstrap\] Initialised git repo at .*agents\/orion$/m);
    expect(first.stdout).toMatch(/INFO \[agentos\] Agent 'orion' ready at .*agents\/orion$/m);
    expect(first.stdout).toMatch(/INFO \[agentos\] AgentOS running with 1 agent\(s\)\. Watching for tasks\.$/m);
    const dir = agentDir(data, "orion");
    const files = ["persona.md", "constraints.md", "system_prompt.md", "skills.md", "goals.md", "rewards.md", "reflections.md", "queue.md", ".gitignore"];
    const before = Object.fromEntries(files.map((f) => [f, read(join(dir, f))]));
    expect(before["persona.md"]).toContain("throughput_class: medium");
    expect(before["goals.md"]).toContain("- [ ] Handle streaming SSE endpoints robustly");
    expect(before[".gitignore"]).toMatch(/^queue\.md$/m);

    writeFileSync(join(dir, "persona.md"), before["persona.md"] + "\nEdited by a person.\n");
    const second = runCli(["run", "--once", "--offline", "--data", data]);
    expect(second.status).toBe(0);
    expect(second.stdout).not.toMatch(/Initialised git repo/);
    expect(read(join(dir, "persona.md"))).toContain("Edited by a person.");
    expect(git(dir, "log", "--format=%s").trim().split("\n")).toEqual(["init: agent filesystem"]);
    fsckStrict(dir);
  });

  it("picks up a block appended with cat >>, processes it once, commits it with trailers", async () => {
    const data = dataDir(ONE_AGENT);
    const run = await startRun(data, providerEnv());
    try {
      const dir = agentDir(data, "orion");
      shellAppend(join(dir, "queue.md"), readFileSync(join(FIXTURES, "tasks", "revu.md"), "utf8").replace("Provide specific", "[skill:sql-injection-review] Provide specific"));
      await run.waitFor(/orion\] Task review-flask-endpoint done \| reward: 1 \| audit: 1 \| skill: sql-injection-review \(new\)/);
      await eventually(() => !read(join(dir, "queue.md")).includes("review-flask-endpoint"), 5_000, "block removed from queue.md");

      const log = git(dir, "log", "-1", "--format=%an <%ae>%n%B");
      expect(log).toContain("orion <orion@agentos.local>");
      expect(log).toContain("orion(task): review-flask-endpoint");
      expect(log).toContain("## Not a header: this line is part of the task text");
      for (const t of ["Task-Id: review-flask-endpoint", "Source: queue", "Reward: 1", "Audit: 1", "Model: scripted-model", "Attempt: 1"]) expect(log).toContain(t);
      expect(git(dir, "log", "--format=%(trailers:key=Task-Id,valueonly)", "-1").trim()).toBe("review-flask-endpoint");

      const result = read(join(dir, resultFile("review-flask-endpoint")));
      expect(result).toContain("Scripted answer for review-flask-endpoint");
      expect(read(join(dir, "rewards.md"))).toMatch(/^- reward: 1 \| task: review-flask-endpoint \| at: \S+ \| audit: 1 \| reason: /m);
      expect(read(join(dir, "skills.md"))).toMatch(/^### sql-injection-review$/m);
      expect(read(join(dir, "skills", "sql-injection-review.md"))).toContain("1. look at the input");
      expect(git(dir, "status", "--porcelain")).toBe("");
      fsckStrict(dir);

      // Exactly one LLM request for the task, with the key only in the auth header.
      const reqs = llm.requestsFor("review-flask-endpoint");
      expect(reqs).toHaveLength(1);
      expect(reqs[0]!.headers.authorization).toBe("Bearer sk-test-secret-key");
      expect(reqs[0]!.body.response_format.type).toBe("json_schema");
      expect(run.output).not.toContain("sk-test-secret-key");
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it("starts itself again in place with a bounded young generation and a slowly growing old one, keeping its pid and signals (AGENTOS_NODE_FLAGS=0: Node's own sizing)", async () => {
    const data = dataDir(ONE_AGENT);
    const cmdline = (pid: number | undefined) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    // process.execve is Node 23.11+; on an older Node (engines allow 22) `run` keeps Node's own sizing.
    const restarts = typeof (process as { execve?: unknown }).execve === "function";
    const run = await startRun(data, providerEnv());
    try {
      for (const flag of ["--max-semi-space-size=8", "--heap-growing-percent=50"]) expect(cmdline(run.child.pid).includes(flag), flag).toBe(restarts);
      expect(readFileSync(`/proc/${run.child.pid}/environ`, "utf8").split("\0").includes("MALLOC_ARENA_MAX=2")).toBe(restarts);
    } finally {
      expect(await run.stop()).toBe(0); // SIGTERM reached the same process, which stopped cleanly
    }
    const plain = await startRun(data, { ...providerEnv(), AGENTOS_NODE_FLAGS: "0" });
    try {
      expect(cmdline(plain.child.pid).some((a) => a.startsWith("--max-semi-space-size") || a.startsWith("--heap-growing-percent"))).toBe(false);
    } finally {
      expect(await plain.stop()).toBe(0);
    }
  });

  it("runs several agents in one process, each with its own repo", async () => {
    const data = dataDir();
    const run = await startRun(data, providerEnv());
    for (const a of ["orion", "lex", "scribe"]) shellAppend(join(agentDir(data, a), "queue.md"), readFileSync(join(FIXTURES, "tasks", `${a}.md`), "utf8"));
    await eventually(() => ["orion", "lex", "scribe"].every((a) => git(agentDir(data, a), "log", "--format=%s").includes(`${a}(task)`)), 20_000, "commits");
    await eventually(() => git(agentDir(data, "orion"), "log", "--format=%s").split("\n").filter((s) => s.includes("(task)")).length === 3, 20_000, "three orion tasks");
    // high before normal: the two high tasks were committed before first-task only if they were queued together
    for (const a of ["orion", "lex", "scribe", "iris"]) fsckStrict(agentDir(data, a));
    expect(git(agentDir(data, "iris"), "log", "--format=%s").trim()).toBe("init: agent filesystem");
  });
});

describe("bad input", () => {
  it("reports invalid YAML with file:line:column and exits 1", () => {
    const data = dataDir("agents:\n  - name: orion\n    persona: [unclosed\n");
    const r = runCli(["run", "--once", "--offline", "--data", data]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/agents\.yaml:\d+:\d+: invalid YAML/);
  });

  it("names unknown fields, bad values and duplicate agents with their line", () => {
    const data = dataDir(`agents:\n  - name: orion\n    persona: "x"\n    personna: "typo"\n  - name: orion\n    persona: "y"\n    throughput_class: turbo\n`);
    const r = runCli(["validate", "--data", data]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("agents.yaml:4:5: agents[0]: unknown field 'personna'");
    expect(r.stderr).toMatch(/agents\.yaml:7:23: agents\[1\]\.throughput_class: Invalid option: expected one of "slow"\|"medium"\|"fast"/);
    expect(r.stderr).toMatch(/agents\.yaml:5:11: agents\[1\]\.name: Duplicate agent name 'orion'/);
  });

  it("rejects unsafe agent names", () => {
    const r = runCli(["validate", "--data", dataDir(`agents:\n  - name: ../etc\n    persona: x\n`)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/agents\.yaml:2:11: agents\[0\]\.name: Expected an agent name to be 1-63 lowercase letters/);
  });

  it("moves an invalid block to dead letters with its line, and keeps the good ones running", () => {
    const data = dataDir(ONE_AGENT);
    expect(runCli(["run", "--once", "--offline", "--data", data]).status).toBe(0);
    const queue = join(agentDir(data, "orion"), "queue.md");
    const bad = "## broken block\npriority: urgent\n";
    shellAppend(queue, `\n## fine\ntask: A well-formed task that should run normally.\ncreated: 2026-04-29T10:05:00Z\n\n${bad}\n## also-fine\ntask: Another task.\ncreated: 2026-04-29T10:05:00Z\n`);
    const v = runCli(["validate", "--data", data]);
    expect(v.status).toBe(1);
    expect(v.stderr).toMatch(/agents\/orion\/queue\.md:7:4: invalid task id 'broken block'/);
    const r = runCli(["run", "--once", "--offline", "--data", data]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/invalid task block 'broken block': agents\/orion\/queue\.md:7:4/);
    const dead = deadLetterTexts(data);
    expect(dead).toHaveLength(1);
    const letter = dead[0]!;
    expect(letter).toContain("- reason: invalid");
    expect(letter).toContain("- source: agents/orion/queue.md:7");
    expect(letter).toContain(bad);
    const log = git(agentDir(data, "orion"), "log", "--format=%s");
    expect(log).toContain("orion(task): fine");
    expect(log).toContain("orion(task): also-fine");
    expect(read(queue)).not.toContain("broken block");
  });

  it("dead-letters each copy of a repeated broken block: none is dropped in silence", () => {
    const data = dataDir(ONE_AGENT);
    const queue = join(agentDir(data, "orion"), "queue.md");
    const bad = "\n## twice\npriority: high\ncreated: 2026-04-29T10:05:00Z\n";
    expect(runCli(["run", "--once", "--offline", "--data", data]).status).toBe(0); // bootstrap
    shellAppend(queue, bad + bad);
    expect(runCli(["run", "--once", "--offline", "--data", data]).status).toBe(1);
    const letters = deadLetterTexts(data);
    expect(letters).toHaveLength(2);
    expect(letters.every((l) => l.includes("missing field 'task'"))).toBe(true);
    expect(read(queue)).not.toContain("## twice");
  });

  it("refuses to run without a key for the default provider, naming the fix", () => {
    const r = runCli(["run", "--once", "--data", dataDir(ONE_AGENT)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/LLM_API_KEY is not set .* or use --offline/);
  });
});

describe("enqueue, status, validate", () => {
  it("appends a well-formed block, prints the id, and refuses duplicates", () => {
    const data = dataDir(ONE_AGENT);
    const r = runCli(["enqueue", "orion", "--data", data, "--task", "Summarise: the logs\n## with a heading-like line", "--priority", "high"]);
    expect(r.status).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^task-\d{8}-\d{6}-[0-9a-z]{4}$/);
    const queue = read(join(agentDir(data, "orion"), "queue.md"));
    expect(queue).toContain(`## ${id}\ntask: |\n  Summarise: the logs\n  ## with a heading-like line\npriority: high\ncreated: `);
    expect(runCli(["enqueue", "orion", "--data", data, "--task", "x", "--id", "fixed-id"]).status).toBe(0);
    const dup = runCli(["enqueue", "orion", "--data", data, "--task", "x", "--id", "fixed-id"]);
    expect(dup.status).toBe(3);
    expect(dup.stderr).toContain("task id 'fixed-id' is already queued");
    const unknown = runCli(["enqueue", "nobody", "--data", data, "--task", "x"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown agent 'nobody'");
    expect(runCli(["validate", "--data", data]).stdout).toContain("ok: 2 file(s), 2 task(s)");

    const status = runCli(["status", "--data", data, "--json"]);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ name: "orion", pending: 2, done: 0, running: false });
    const run = runCli(["run", "--once", "--offline", "--data", data]);
    expect(run.status).toBe(0);
    const after = JSON.parse(runCli(["status", "--data", data, "--json"]).stdout)[0];
    expect(after).toMatchObject({ pending: 0, done: 2 });
    // Both start at once (the medium class has two slots), so either may finish last; the
    // offline model scores the one-word task "x" 0.
    expect([id, "fixed-id"]).toContain(after.last_reward.task);
    if (after.last_reward.task === "fixed-id") expect(after.last_reward.reward).toBe(0);
    expect(after.goals).toEqual(["Handle streaming SSE endpoints robustly", "Ask for missing detail when a task is underspecified"]);
    expect(runCli(["status", "--data", data]).stdout).toMatch(/^orion {2}stopped {2}pending 0 {2}in flight 0 {2}done 2/m);
  });
});
