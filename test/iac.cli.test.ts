// IAC across processes, through the real CLI: two `agentos run --agent X` over one
// DATA_DIR (how Compose runs it), shared-segment notes from two processes, and
// `enqueue --no-wait`. TTL and the dead-letters commands are in iac.dead-letters.test.ts.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { committed, eventually, fsckStrict, lastCommit } from "./support/checker.js";
import { agent, agentDir, block, dataDir, deadLetterDir, handoffs, inbox, queue, read, shellAppend, yaml } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { RunningCli, scriptedCli, scriptedEnv } from "./support/runtime.js";

const llm = await scriptedLlm();
const { run, cli } = scriptedCli(llm);

describe("handoffs between two processes over one DATA_DIR", () => {
  it("orion in one process hands off to iris in another; a three-agent chain crosses the processes twice", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris"), agent("lex")]));
    llm.answerWith("orion.cross-3", { handoff: { to: "lex", task: "Check the clause iris found.", priority: "high" } });
    const a = await run(data, "orion", "lex");
    const b = await run(data, "iris");
    shellAppend(queue(data, "orion"), block("cross-2", "What was the p95 latency last week? [handoff:iris]") + block("cross-3", "Start a three-agent chain. [handoff:iris]"));

    await eventually(() => committed(data, "iris", "iris(task): orion.cross-2"), 20_000, "iris's commit for the two-agent chain");
    await eventually(() => committed(data, "lex", "lex(task): iris.orion.cross-3"), 20_000, "lex's commit for the three-agent chain");

    expect(lastCommit(data, "orion", "Task-Id: cross-2")).toContain("Handoff-To: iris");
    const two = lastCommit(data, "iris", "Task-Id: orion.cross-2");
    for (const t of ["Source: handoff", "Handoff-From: orion", "Parent-Task: cross-2"]) expect(two).toContain(t);
    const mid = lastCommit(data, "iris", "Task-Id: orion.cross-3");
    for (const t of ["Handoff-From: orion", "Parent-Task: cross-3", "Handoff-To: lex"]) expect(mid).toContain(t);
    const end = lastCommit(data, "lex", "Task-Id: iris.orion.cross-3");
    for (const t of ["Source: handoff", "Handoff-From: iris", "Parent-Task: orion.cross-3"]) expect(end).toContain(t);

    // Each process ran only its own agents.
    expect(a.output).toMatch(/\[orion\] handing off to iris as orion\.cross-2 \(hop 1\)/);
    expect(a.output).not.toMatch(/\[iris\] Processing task/);
    expect(b.output).toMatch(/\[iris\] handing off to lex as iris\.orion\.cross-3 \(hop 2\)/);
    expect(b.output).not.toMatch(/\[(orion|lex)\] Processing task/);
    for (const id of ["cross-2", "cross-3", "orion.cross-2", "orion.cross-3", "iris.orion.cross-3"]) expect(llm.requestsFor(id)).toHaveLength(1);
    await eventually(() => ["iris", "lex"].every((n) => readdirSync(handoffs(data, n)).length === 0), 5_000, "handoff files removed");
    for (const n of ["orion", "iris", "lex"]) fsckStrict(agentDir(data, n));
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  it("keeps a handoff for an agent whose process is not running until it starts", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris")]));
    await run(data, "orion");
    shellAppend(queue(data, "orion"), block("later-pickup", "A question for iris. [handoff:iris]"));
    const file = join(handoffs(data, "iris"), "orion.later-pickup.md");
    await eventually(() => existsSync(file) && committed(data, "orion", "orion(task): later-pickup"), 15_000, "the handoff file");
    expect(readdirSync(deadLetterDir(data))).toEqual([]);
    await run(data, "iris");
    await eventually(() => committed(data, "iris", "iris(task): orion.later-pickup"), 15_000, "iris's commit");
    await eventually(() => !existsSync(file), 5_000, "the handoff file removed");
  });
});


describe("run --once", () => {
  it("carries a handoff chain through every agent before it exits", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris"), agent("lex")]));
    llm.answerWith("orion.once-chain", { handoff: { to: "lex", task: "Last hop.", priority: "normal" } });
    mkdirSync(agentDir(data, "orion"), { recursive: true });
    writeFileSync(queue(data, "orion"), block("once-chain", "Start. [handoff:iris]"));
    // Not spawnSync: the scripted LLM server lives in this process and must keep answering.
    const r = new RunningCli(["run", "--once", "--data", data], scriptedEnv(llm));
    expect(await r.exited).toBe(0);
    expect(committed(data, "orion", "orion(task): once-chain")).toBe(true);
    expect(committed(data, "iris", "iris(task): orion.once-chain")).toBe(true);
    expect(committed(data, "lex", "lex(task): iris.orion.once-chain")).toBe(true);
    expect(readdirSync(handoffs(data, "lex"))).toEqual([]);
  });
});

describe("shared segments", () => {
  it("notes appended by two processes at once never interleave or get lost", async () => {
    const seg = "    segments: [glossary]\n";
    const data = dataDir(yaml([agent("orion", "fast", seg), agent("iris", "fast", seg)]));
    await run(data, "orion");
    await run(data, "iris");
    const n = 30;
    const ids = (a: string) => Array.from({ length: n }, (_, i) => `${a}-note-${i}`);
    shellAppend(queue(data, "orion"), ids("orion").map((id) => block(id, "Add a glossary note. [share:glossary]")).join(""));
    shellAppend(queue(data, "iris"), ids("iris").map((id) => block(id, "Add a glossary note. [share:glossary]")).join(""));
    const file = join(data, "shared", "segments", "glossary.md");
    await eventually(() => read(file).split("\n").filter((l) => l.startsWith("- ")).length === 2 * n, 30_000, "60 notes");
    const lines = read(file).split("\n").filter((l) => l.trim());
    expect(lines).toHaveLength(2 * n);
    for (const a of ["orion", "iris"]) {
      for (const id of ids(a)) {
        const mine = lines.filter((l) => l.includes(`<!-- ${a}/${id} -->`));
        expect(mine).toHaveLength(1);
        expect(mine[0]).toMatch(new RegExp(`^- note from ${id} \\(${a}, \\S+Z\\) <!-- ${a}/${id} -->$`));
      }
    }
    // The segment is part of the next prompt of every agent that lists it.
    shellAppend(queue(data, "orion"), block("read-glossary", "Use the glossary."));
    const req = await eventually(() => llm.requests.find((x) => x.taskId === "read-glossary"), 10_000, "the next request");
    const prompt = JSON.stringify(req.body.messages);
    for (const id of [...ids("orion"), ...ids("iris")]) expect(prompt).toContain(`note from ${id} `);
  });
});

describe("enqueue --no-wait", () => {
  it("exits 75 with 'queue full' when the agent already holds max_queue_depth tasks, and queues nothing", () => {
    const data = dataDir(yaml([agent("iris", "slow")]));
    mkdirSync(agentDir(data, "iris"), { recursive: true });
    writeFileSync(queue(data, "iris"), [0, 1, 2, 3].map((i) => block(`t-${i}`, `task ${i}`)).join(""));
    expect(cli("enqueue", "iris", "--data", data, "--task", "task 4", "--id", "t-4", "--no-wait").status).toBe(0);
    const full = cli("enqueue", "iris", "--data", data, "--task", "one more", "--id", "t-5", "--no-wait");
    expect(full.status).toBe(75);
    expect(full.stderr).toContain("queue full: iris holds 5 unfinished task(s), its max_queue_depth is 5; try again later");
    expect(read(queue(data, "iris"))).not.toContain("t-5");
    // Without --no-wait the block is accepted and waits in its file.
    expect(cli("enqueue", "iris", "--data", data, "--task", "one more", "--id", "t-5").status).toBe(0);
    expect(read(queue(data, "iris"))).toContain("## t-5\n");
  });

  it("counts what a running agent holds in every file it reads (queue.md, inbox, handoffs), as of now", async () => {
    const data = dataDir(yaml([agent("iris", "slow")]));
    const r = await run(data, "iris");
    // The provider refuses iris (401): it pauses and holds its tasks, however long the CLI takes.
    writeFileSync(join(inbox(data, "iris"), "batch.md"), ["a", "b", "c"].map((x) => block(`in-${x}`, `Inbox task ${x}. [status:401]`)).join("").slice(1));
    writeFileSync(join(handoffs(data, "iris"), "orion.h1.md"), block("orion.h1", "A handoff. [status:401]", { from: "orion", parent: "h1", hops: 1 }).slice(1));
    await r.waitFor(/\[iris\] paused: /);
    expect(cli("enqueue", "iris", "--data", data, "--task", "fifth", "--id", "q-5", "--no-wait").status).toBe(0);
    const full = cli("enqueue", "iris", "--data", data, "--task", "sixth", "--id", "q-6", "--no-wait");
    expect(full.status).toBe(75);
    expect(full.stderr).toContain("queue full: iris holds 5 unfinished task(s), its max_queue_depth is 5");
  });
});
