// IAC in one process: handoff chains, TTL with an injected clock, dead letters,
// unknown agents and inbox drops. Real files, real chokidar, real isomorphic-git
// checked with native `git fsck --strict`; the scripted LLM server is the only stand-in.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { requeueDeadLetter } from "../src/ops/dead-letters.js";
import { listDeadLetters } from "../src/store/dead-letters.js";
import { committed, deadLettersEventually, eventually, fsckStrict, git, lastCommit, subjects } from "./support/checker.js";
import { agent, agentDir, block, dataDir, deadLetterDir, handoffs, inbox, iso, queue, read, ROOT, shellAppend, tempDir, yaml } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { startRuntime } from "./support/runtime.js";
import { resultFile } from "../src/store/layout.js";

const llm = await scriptedLlm();

describe("handoffs", () => {
  it("hands a data question from orion to iris: an atomic handoff file with from, parent, hops, created and ttl; both git logs show the chain", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris")]));
    // orion alone first, so the handoff file can be read before iris takes it.
    const orion = await startRuntime(data, llm, { only: ["orion"] });
    shellAppend(queue(data, "orion"), block("hourly-errors", "Which hour had the most 5xx errors yesterday? Ask the data analyst. [handoff:iris]"));
    const file = join(handoffs(data, "iris"), "orion.hourly-errors.md");
    await eventually(() => committed(data, "orion", "orion(task): hourly-errors") && existsSync(file), 15_000, "orion's commit and the handoff file");

    expect(read(file)).toMatch(
      /^## orion\.hourly-errors\ntask: Follow-up of hourly-errors: please check the result\.\npriority: normal\nttl_seconds: 300\nfrom: orion\nparent: hourly-errors\nhops: 1\ncreated: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/,
    );
    // Written by rename: no temp file is left next to it.
    expect(readdirSync(handoffs(data, "iris"))).toEqual(["orion.hourly-errors.md"]);
    const sent = lastCommit(data, "orion", "Task-Id: hourly-errors");
    expect(sent).toContain("Handoff-To: iris");
    expect(sent).toContain("Source: queue");
    expect(read(join(agentDir(data, "orion"), resultFile("hourly-errors")))).toContain("- handoff: iris (normal)");

    await startRuntime(data, llm, { only: ["iris"] });
    await eventually(() => committed(data, "iris", "iris(task): orion.hourly-errors"), 15_000, "iris's commit");
    const got = lastCommit(data, "iris", "Task-Id: orion.hourly-errors");
    for (const t of ["Source: handoff", "Handoff-From: orion", "Parent-Task: hourly-errors", "Attempt: 1"]) expect(got).toContain(t);
    expect(read(join(agentDir(data, "iris"), resultFile("orion.hourly-errors")))).toContain("- from: orion");
    await eventually(() => !existsSync(file), 5_000, "the handoff file removed after its commit");
    expect(llm.requestsFor("orion.hourly-errors")).toHaveLength(1);
    expect(orion.lines.join("\n")).toMatch(/handing off to iris as orion\.hourly-errors \(hop 1\)/);
    fsckStrict(agentDir(data, "orion"));
    fsckStrict(agentDir(data, "iris"));
  });

  it("runs a three-agent chain orion -> iris -> lex in one process, with hops counted along the way", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris"), agent("lex")]));
    llm.answerWith("orion.chain-start", { handoff: { to: "lex", task: "Is this data retention clause compliant?", priority: "high" } });
    await startRuntime(data, llm);
    shellAppend(queue(data, "orion"), block("chain-start", "Start the chain. [handoff:iris]"));
    await eventually(() => committed(data, "lex", "lex(task): iris.orion.chain-start"), 20_000, "lex's commit");

    expect(lastCommit(data, "orion", "Task-Id: chain-start")).toContain("Handoff-To: iris");
    const mid = lastCommit(data, "iris", "Task-Id: orion.chain-start");
    for (const t of ["Handoff-From: orion", "Parent-Task: chain-start", "Handoff-To: lex"]) expect(mid).toContain(t);
    const end = lastCommit(data, "lex", "Task-Id: iris.orion.chain-start");
    for (const t of ["Source: handoff", "Handoff-From: iris", "Parent-Task: orion.chain-start"]) expect(end).toContain(t);
    expect(end).toContain("Is this data retention clause compliant?");
    // The chain can be followed back from lex by its trailers alone.
    const parentOfEnd = git(agentDir(data, "lex"), "log", "-1", "--grep=Task-Id: iris.orion.chain-start", "--format=%(trailers:key=Parent-Task,valueonly)").trim();
    expect(git(agentDir(data, "iris"), "log", "-1", `--grep=Task-Id: ${parentOfEnd}`, "--format=%(trailers:key=Parent-Task,valueonly)").trim()).toBe("chain-start");
    await eventually(() => readdirSync(handoffs(data, "lex")).length === 0 && readdirSync(handoffs(data, "iris")).length === 0, 5_000, "handoff files removed");
    for (const a of ["orion", "iris", "lex"]) fsckStrict(agentDir(data, a));
  });

  it("dead-letters a handoff beyond iac.max_hops (hop_limit) and one to an agent not in agents.yaml (unknown_agent); the sender's task still commits", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris"), agent("lex")], "iac:\n  max_hops: 1\n"));
    llm.answerWith("orion.too-far", { handoff: { to: "lex", task: "one hop too many", priority: "normal" } });
    await startRuntime(data, llm);
    shellAppend(queue(data, "orion"), block("too-far", "Go two hops. [handoff:iris]") + block("to-ghost", "Ask someone who does not exist. [handoff:ghost]"));
    await eventually(() => committed(data, "iris", "iris(task): orion.too-far") && committed(data, "orion", "orion(task): to-ghost"), 15_000, "both senders' commits");
    const letters = await deadLettersEventually(data, 2, 5_000);
    const hop = letters.find((d) => d.reason === "hop_limit")!;
    expect(hop).toMatchObject({ agent: "iris", taskId: "iris.orion.too-far", source: "handoff from iris/orion.too-far", attempts: 0 });
    expect(hop.lastError).toBe("handoff chain would reach 2 hops, over iac.max_hops 1");
    expect(hop.original).toMatch(/^## iris\.orion\.too-far\ntask: one hop too many\npriority: normal\nttl_seconds: 300\nfrom: iris\nparent: orion\.too-far\nhops: 2\ncreated: \S+\n$/);
    const ghost = letters.find((d) => d.reason === "unknown_agent")!;
    expect(ghost).toMatchObject({ agent: "orion", taskId: "orion.to-ghost" });
    expect(ghost.lastError).toContain("to 'ghost', which is not in agents.yaml");
    expect(existsSync(handoffs(data, "ghost"))).toBe(false);
    // The senders' commits do not claim a handoff that never left.
    expect(lastCommit(data, "orion", "Task-Id: to-ghost")).not.toContain("Handoff-To");
    expect(lastCommit(data, "iris", "Task-Id: orion.too-far")).not.toContain("Handoff-To");
    expect(lastCommit(data, "iris", "Task-Id: orion.too-far")).toContain("Handoff-From: orion");
    expect(existsSync(handoffs(data, "lex")) ? readdirSync(handoffs(data, "lex")) : []).toEqual([]);
    expect(subjects(data, "lex")).toEqual(["init: agent filesystem"]);
  });

  it("dead-letters a handoff file that arrives with hops over the limit instead of running it", async () => {
    const data = dataDir(yaml([agent("iris")], "iac:\n  max_hops: 2\n"));
    await startRuntime(data, llm);
    writeFileSync(join(handoffs(data, "iris"), "loop.md"), block("loop-x", "ping-pong", { from: "orion", parent: "loop-w", hops: 3 }).slice(1));
    const [d] = await deadLettersEventually(data);
    expect(d).toMatchObject({ reason: "hop_limit", agent: "iris", taskId: "loop-x", source: "shared/iac/handoffs/iris/loop.md:1" });
    expect(d!.lastError).toBe("hops 3 is over iac.max_hops 2");
    await eventually(() => !existsSync(join(handoffs(data, "iris"), "loop.md")), 5_000, "the handoff file removed");
    expect(llm.requestsFor("loop-x")).toHaveLength(0);
  });
});

describe("TTL with an injected clock", () => {
  const T0 = Date.parse("2026-05-01T12:00:00Z");
  const WEEK = 7 * 86_400_000;
  const ledgerText = (data: string, name: string) => read(join(agentDir(data, name), ".agentos", "ledger.log"));

  it("runs the docs' example messages as copied, a year after their fixed `created:`: the ttl counts from arrival", async () => {
    // Each example exactly as the docs give it: the heredocs that drop a message into an inbox, and iac.md's format example.
    const gettingStarted = read(join(ROOT, "docs", "getting-started.md"));
    const iac = read(join(ROOT, "docs", "iac.md"));
    const examples: { agent: string; name: string; text: string }[] = [];
    const summary = /cat > \/tmp\/incident-summary\.md << 'EOF'\n([\s\S]*?\n)EOF\n/.exec(gettingStarted)?.[1];
    if (summary) examples.push({ agent: "orion", name: "incident-summary.md", text: summary });
    for (const m of iac.matchAll(/^( *)cat > data\/shared\/iac\/inbox\/(\w+)\/(\S+\.md) << 'EOF'\n([\s\S]*?\n)\1EOF$/gm)) {
      examples.push({ agent: m[2]!, name: m[3]!, text: m[4]!.split("\n").map((l) => l.slice(m[1]!.length)).join("\n") });
    }
    const format = /### Message file[\s\S]*?```markdown\n([\s\S]*?\n)```/.exec(iac)?.[1];
    if (format) examples.push({ agent: "orion", name: "format.md", text: format });
    expect(examples.map((e) => `${e.agent}/${e.name}`)).toEqual(["orion/incident-summary.md", "iris/refund-rate.md", "iris/orders-today.md", "orion/format.md"]);
    const ids = examples.map((e) => /^## (\S+)\n/.exec(e.text)![1]!);
    const created = examples.map((e) => Date.parse(/^created: (\S+)/m.exec(e.text)![1]!));
    expect(created.every(Number.isFinite)).toBe(true);

    const now = Math.max(...created) + 365 * 86_400_000;
    const data = dataDir(yaml([agent("orion"), agent("iris")]));
    await startRuntime(data, llm, { now: () => new Date(now) });
    for (const e of examples) writeFileSync(join(inbox(data, e.agent), e.name), e.text);
    await eventually(() => examples.every((e, i) => committed(data, e.agent, `${e.agent}(task): ${ids[i]}`)), 15_000, "every copied message ran");
    await eventually(() => readdirSync(inbox(data, "orion")).length + readdirSync(inbox(data, "iris")).length === 0, 5_000, "the inbox files removed");
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]);
    // Once each (iac.md's format example and its step 3 share the id refund-rate, for two agents).
    for (const id of ids) expect(llm.requestsFor(id)).toHaveLength(ids.filter((x) => x === id).length);
  });

  it("expires at once on restart a message whose ttl ran out while the runtime was stopped: its arrival is in the ledger; dead letter, escalation commit and reflection; it never reaches the LLM", async () => {
    let now = T0;
    const data = dataDir(yaml([agent("iris", "slow")]));
    const env = { SHUTDOWN_GRACE_SECONDS: "1" };
    const first = await startRuntime(data, llm, { now: () => new Date(now), env });
    shellAppend(queue(data, "iris"), block("busy", "A long analysis. [delay:3000]", {}, iso(T0)));
    await eventually(() => llm.requests.some((r) => r.taskId === "busy"), 10_000, "busy started");
    // Copied from somewhere with a week-old `created:`: that alone does not expire it.
    const copied = block("stale-question", "Count yesterday's orders.", { from: "orion" }, iso(T0 - WEEK)).slice(1);
    writeFileSync(join(inbox(data, "iris"), "old.md"), copied);
    await eventually(() => first.rt.agents.get("iris")!.outstanding === 2, 10_000, "the message held behind busy");
    expect(ledgerText(data, "iris")).toContain(`seen\tstale-question\t${T0}\n`);
    await first.rt.agents.get("iris")!.sweep();
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]);
    await first.rt.stop(); // busy is cut short: it runs again after the restart

    now = T0 + 301_000;
    await startRuntime(data, llm, { now: () => new Date(now), env });
    await eventually(() => committed(data, "iris", "iris(escalation): stale-question expired"), 10_000, "the escalation commit");
    const [d] = await listDeadLetters(deadLetterDir(data));
    // Not a fresh ttl from the restart: 301 s after it first arrived, before the stop.
    expect(d).toMatchObject({ reason: "expired", agent: "iris", taskId: "stale-question", source: "shared/iac/inbox/iris/old.md:1", attempts: 0, at: iso(now), firstSeen: iso(T0) });
    expect(d!.lastError).toBe("expired 301 s after it arrived (ttl 300 s)");
    expect(d!.original).toBe(copied);
    const esc = lastCommit(data, "iris", "Escalation: expired");
    expect(esc).toContain("Task-Id: stale-question");
    expect(esc).toMatch(/Dead letter: shared\/iac\/dead_letters\/\S+-iris-stale-question-\w+\.md/);
    expect(read(join(agentDir(data, "iris"), "reflections.md"))).toContain("[escalation] stale-question went to dead letters (expired): expired 301 s after it arrived (ttl 300 s)");
    await eventually(() => !existsSync(join(inbox(data, "iris"), "old.md")), 5_000, "the inbox file removed");
    await eventually(() => committed(data, "iris", "iris(task): busy"), 15_000, "busy ran after the restart");
    expect(llm.requestsFor("stale-question")).toHaveLength(0);
    // As with git commit, the branch moves a moment before the index is renamed in: a
    // status in between shows the new HEAD against the old index.
    await eventually(() => git(agentDir(data, "iris"), "status", "--porcelain") === "", 5_000, "a clean git status");
    expect(git(agentDir(data, "iris"), "status", "--porcelain")).toBe("");
    fsckStrict(agentDir(data, "iris"));
  });

  it("the sweeper dead-letters messages stuck behind a running task on time from their arrival, ready or waiting, while queue.md tasks without ttl_seconds never expire", async () => {
    let now = T0;
    const data = dataDir(yaml([agent("iris", "slow")], "throughput_classes:\n  slow: { concurrency: 1, max_queue_depth: 2 }\n"));
    const { rt } = await startRuntime(data, llm, { now: () => new Date(now) });
    shellAppend(queue(data, "iris"), block("busy", "A long analysis. [delay:6000]", {}, iso(T0)));
    await eventually(() => llm.requests.some((r) => r.taskId === "busy"), 10_000, "busy started");
    // Behind `busy`: depth 2 admits msg-ready; msg-waiting and an old queue.md task wait in their files.
    // Their `created:` is a week old: the ttl still counts from when they arrive (T0).
    const iris = rt.agents.get("iris")!;
    writeFileSync(join(inbox(data, "iris"), "m1.md"), block("msg-ready", "First message.", { ttl_seconds: 60 }, iso(T0 - WEEK)).slice(1));
    await eventually(() => iris.status().ready === 1, 10_000, "msg-ready admitted");
    writeFileSync(join(inbox(data, "iris"), "m2.md"), block("msg-waiting", "Second message.", { ttl_seconds: 60 }, iso(T0 - WEEK)).slice(1));
    shellAppend(queue(data, "iris"), block("old-queue-task", "No ttl: never expires.", {}, iso(T0 - 10 * 86_400_000)));
    await eventually(() => iris.status().waiting === 2, 10_000, "two waiting");
    expect(iris.status()).toMatchObject({ in_flight: 1, ready: 1, waiting: 2 });

    now = T0 + 59_000;
    await iris.sweep();
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]); // not yet: 59 s after arrival
    now = T0 + 61_000;
    await iris.sweep();
    // Both messages are dead letters while `busy` is still running.
    const letters = await listDeadLetters(deadLetterDir(data));
    expect(letters.map((d) => `${d.reason}:${d.taskId}`).sort()).toEqual(["expired:msg-ready", "expired:msg-waiting"]);
    expect(letters.map((d) => d.lastError)).toEqual(["expired 61 s after it arrived (ttl 60 s)", "expired 61 s after it arrived (ttl 60 s)"]);
    expect(committed(data, "iris", "iris(task): busy")).toBe(false);
    expect(subjects(data, "iris").filter((s) => s.includes("(escalation)")).sort()).toEqual(["iris(escalation): msg-ready expired", "iris(escalation): msg-waiting expired"]);

    await eventually(() => committed(data, "iris", "iris(task): old-queue-task"), 15_000, "the queue.md task without ttl ran");
    expect(subjects(data, "iris").indexOf("iris(task): busy")).toBeGreaterThan(0); // busy is older than old-queue-task
    expect(llm.requestsFor("msg-ready").length + llm.requestsFor("msg-waiting").length).toBe(0);
    await eventually(() => readdirSync(inbox(data, "iris")).length === 0, 5_000, "both message files removed");
    // Handled: their arrivals are no longer needed, and the next load drops them.
    await rt.stop();
    await startRuntime(data, llm, { now: () => new Date(now) });
    expect(ledgerText(data, "iris")).not.toMatch(/^seen\t/m);
    fsckStrict(agentDir(data, "iris"));
  });
  it("the sweeper dead-letters messages held by a paused agent on time", async () => {
    let now = T0;
    const data = dataDir(yaml([agent("iris")]));
    const { rt } = await startRuntime(data, llm, { now: () => new Date(now) });
    const iris = rt.agents.get("iris")!;
    // The provider refuses iris (401): it pauses and keeps its tasks.
    shellAppend(queue(data, "iris"), block("refused", "Anything. [status:401]", {}, iso(T0)));
    await eventually(() => iris.isPaused, 10_000, "iris paused");
    writeFileSync(join(inbox(data, "iris"), "p.md"), block("while-paused", "Still there?", { ttl_seconds: 30 }, iso(T0)).slice(1));
    await eventually(() => iris.outstanding === 2, 10_000, "the message held");
    now = T0 + 31_000;
    await iris.sweep();
    const [d] = await listDeadLetters(deadLetterDir(data));
    expect(d).toMatchObject({ reason: "expired", taskId: "while-paused" });
    expect(iris.isPaused).toBe(true);
    expect(committed(data, "iris", "iris(escalation): while-paused expired")).toBe(true);
    expect(llm.requestsFor("while-paused")).toHaveLength(0);
    expect(read(queue(data, "iris"))).toContain("## refused"); // the paused agent's own task is kept
  });

  it("requeues an expired message under its own id; the requeued copy arrives anew (whatever its `created`), and one that expires again is a new dead letter, not a duplicate", async () => {
    let now = T0;
    const data = dataDir(yaml([agent("iris", "slow")]));
    const { rt } = await startRuntime(data, llm, { now: () => new Date(now) });
    const iris = rt.agents.get("iris")!;
    // `busy` holds iris's only slot while the clock moves; the message waits behind it.
    shellAppend(queue(data, "iris"), block("busy", "A long analysis. [delay:12000]", {}, iso(T0)));
    await eventually(() => llm.requests.some((r) => r.taskId === "busy"), 10_000, "busy started");
    writeFileSync(join(inbox(data, "iris"), "q.md"), block("again", "Which region grew fastest?", {}, iso(T0 - 400_000)).slice(1));
    await eventually(() => iris.outstanding === 2, 10_000, "the message held behind busy");
    now = T0 + 301_000;
    await iris.sweep();
    const letters = (n: number) => deadLettersEventually(data, n);
    const [first] = await letters(1);
    expect(first!.lastError).toBe("expired 301 s after it arrived (ttl 300 s)");
    await eventually(() => readdirSync(inbox(data, "iris")).length === 0, 5_000, "the expired file removed");

    // Requeued with a `created` long past: not the old arrival, not its `created`: it waits its full ttl from now.
    await requeueDeadLetter(data, rt.config, first!.file, undefined, new Date(T0 - 400_000));
    await eventually(() => iris.outstanding === 2, 10_000, "the requeued copy held behind busy");
    expect(ledgerText(data, "iris")).toContain(`seen\tagain\t${now}\n`);
    await iris.sweep();
    expect(await listDeadLetters(deadLetterDir(data))).toHaveLength(1);
    now += 301_000;
    await iris.sweep();
    const two = await letters(2);
    await eventually(() => readdirSync(inbox(data, "iris")).length === 0, 5_000, "the requeued file removed");
    expect(two.map((d) => d.reason)).toEqual(["expired", "expired"]);
    const second = two.find((d) => d.file !== first!.file)!;
    expect(second.source).toMatch(/^shared\/iac\/inbox\/iris\/again-requeued-\d{8}T\d{6}Z\.md:1$/);
    expect(second.lastError).toBe("expired 301 s after it arrived (ttl 300 s)");
    expect(second.firstSeen).toBe(iso(T0 + 301_000));
    expect(two.find((d) => d.file === first!.file)!.requeued).toHaveLength(1);

    // Requeued again: now it runs (once busy is done), once.
    const r = await requeueDeadLetter(data, rt.config, second.file, undefined, new Date(now));
    expect(read(r.target)).toBe(`## again\ntask: Which region grew fastest?\npriority: normal\nttl_seconds: 300\ncreated: ${iso(now)}\n`);
    await eventually(() => committed(data, "iris", "iris(task): again"), 25_000, "the requeued message ran");
    await eventually(() => readdirSync(inbox(data, "iris")).length === 0, 5_000, "the requeued file removed");
    await rt.agents.get("iris")!.reconcile();
    expect((await listDeadLetters(deadLetterDir(data))).map((d) => d.reason)).toEqual(["expired", "expired"]);
    expect(llm.requestsFor("again")).toHaveLength(1);
    expect(subjects(data, "iris").filter((s) => s.includes("again"))).toEqual(["iris(task): again", "iris(escalation): again expired", "iris(escalation): again expired"]);
  });

  it("expires a queue.md task only when it carries ttl_seconds, counted from arrival too", async () => {
    let now = T0;
    const data = dataDir(yaml([agent("orion", "slow")]));
    const { rt } = await startRuntime(data, llm, { now: () => new Date(now) });
    const orion = rt.agents.get("orion")!;
    shellAppend(queue(data, "orion"), block("busy", "A long analysis. [delay:4000]", {}, iso(T0)));
    await eventually(() => llm.requests.some((r) => r.taskId === "busy"), 10_000, "busy started");
    const header = read(queue(data, "orion")).split("\n").length + 1; // the appended block starts with a blank line
    shellAppend(queue(data, "orion"), block("q-ttl", "Has a ttl.", { ttl_seconds: 30 }, iso(T0 - 86_400_000)) + block("q-plain", "No ttl.", {}, iso(T0 - 86_400_000)));
    await eventually(() => orion.outstanding === 3, 10_000, "both held behind busy");
    await orion.sweep();
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]); // a day-old `created:` does not expire it
    now = T0 + 31_000;
    await orion.sweep();
    await eventually(() => committed(data, "orion", "orion(escalation): q-ttl expired") && committed(data, "orion", "orion(task): q-plain"), 15_000, "one expired, one ran");
    const [d] = await listDeadLetters(deadLetterDir(data));
    expect(d).toMatchObject({ reason: "expired", taskId: "q-ttl", source: `agents/orion/queue.md:${header}`, lastError: "expired 31 s after it arrived (ttl 30 s)" });
    expect(llm.requestsFor("q-ttl")).toHaveLength(0);
    await eventually(() => !read(queue(data, "orion")).includes("## q-"), 5_000, "queue.md compacted");
  });
});

describe("inbox drops", () => {
  it("delivers a file copied in with cp: every block once, and removes the file after the last commit", async () => {
    const data = dataDir(yaml([agent("orion", "fast")]));
    await startRuntime(data, llm);
    const src = join(tempDir(), "batch.md");
    const ids = Array.from({ length: 40 }, (_, i) => `cp-${i}`);
    writeFileSync(src, "Notes before the first block are ignored.\n" + ids.map((id) => block(id, `Task ${id}: ${"padding ".repeat(400)}`)).join(""));
    expect(spawnSync("cp", [src, join(inbox(data, "orion"), "batch.md")]).status).toBe(0);
    await eventually(() => subjects(data, "orion").filter((s) => s.startsWith("orion(task): cp-")).length === 40, 30_000, "40 commits");
    for (const id of ids) expect(llm.requestsFor(id)).toHaveLength(1);
    await eventually(() => !existsSync(join(inbox(data, "orion"), "batch.md")), 5_000, "batch.md removed");
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]);
    fsckStrict(agentDir(data, "orion"));
  });

  it("does not read a message file early while it is still being written", async () => {
    const data = dataDir(yaml([agent("orion")]).replace("settle_ms: 100", "settle_ms: 1500"));
    await startRuntime(data, llm);
    const path = join(inbox(data, "orion"), "slow-writer.md");
    const fd = openSync(path, "w");
    writeSync(fd, "## two-chunks\ntask: |\n  The first half of the question,\n");
    await new Promise((r) => setTimeout(r, 200));
    writeSync(fd, `  and the second half.\npriority: high\ncreated: ${iso(Date.now())}\n`);
    closeSync(fd);
    await eventually(() => committed(data, "orion", "orion(task): two-chunks"), 10_000, "the commit");
    const body = lastCommit(data, "orion", "Task-Id: two-chunks");
    expect(body).toContain("The first half of the question,\nand the second half.");
    expect(llm.requestsFor("two-chunks")).toHaveLength(1);
    expect(llm.requests.find((r) => r.taskId === "two-chunks")!.taskText).toContain("and the second half.");
  });

  it("ignores *.tmp files and dotfiles until they are renamed to *.md", async () => {
    const data = dataDir(yaml([agent("orion")]));
    const { rt } = await startRuntime(data, llm);
    const dir = inbox(data, "orion");
    writeFileSync(join(dir, "drop.md.tmp"), block("via-rename", "Delivered when renamed.").slice(1));
    writeFileSync(join(dir, ".hidden.md"), block("hidden-one", "Never read: a dotfile.").slice(1));
    writeFileSync(join(dir, "notes.md~"), block("backup-one", "Never read: an editor backup.").slice(1));
    writeFileSync(join(dir, "partial.md.part"), block("part-one", "Never read: a download in progress.").slice(1));
    renameSync(join(dir, "drop.md.tmp"), join(dir, "drop.md"));
    await eventually(() => committed(data, "orion", "orion(task): via-rename"), 10_000, "the renamed file's commit");
    // A later message proves the ignored files had every chance to be picked up.
    writeFileSync(join(dir, "later.md"), block("later-one", "A later message.").slice(1));
    await eventually(() => committed(data, "orion", "orion(task): later-one"), 10_000, "the later commit");
    await (rt.agents.get("orion")!.reconcile());
    await eventually(() => !existsSync(join(dir, "later.md")), 5_000, "later.md removed");
    expect(readdirSync(dir).sort()).toEqual([".hidden.md", "notes.md~", "partial.md.part"]);
    for (const id of ["hidden-one", "backup-one", "part-one"]) expect(llm.requestsFor(id)).toHaveLength(0);
    expect(await listDeadLetters(deadLetterDir(data))).toEqual([]);
  });

  it("waits for a misaddressed file to be fully written before moving it to dead letters", async () => {
    const data = dataDir(yaml([agent("orion")]).replace("settle_ms: 100", "settle_ms: 1000"));
    await startRuntime(data, llm);
    const dir = inbox(data, "ghost");
    spawnSync("mkdir", ["-p", dir]);
    const first = block("w-1", "First part.").slice(1);
    const second = block("w-2", "Second part, written a moment later.");
    const fd = openSync(join(dir, "chunked.md"), "w");
    writeSync(fd, first);
    await new Promise((r) => setTimeout(r, 200));
    writeSync(fd, second);
    closeSync(fd);
    const [d] = await deadLettersEventually(data);
    expect(d!.original).toBe(first + second);
    await eventually(() => readdirSync(dir).length === 0, 5_000, "the file removed");
    expect(await listDeadLetters(deadLetterDir(data))).toHaveLength(1);
  });

  it("moves a message for an agent that agents.yaml does not know to dead letters (unknown_agent), verbatim", async () => {
    const data = dataDir(yaml([agent("orion")]));
    await startRuntime(data, llm);
    const text = "Hello ghost.\n" + block("g-1", "For nobody.") + block("g-2", "Also for nobody.");
    const dir = inbox(data, "ghost");
    spawnSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "hello.md"), text);
    const [d] = await deadLettersEventually(data);
    expect(d).toMatchObject({ reason: "unknown_agent", agent: "ghost", source: "shared/iac/inbox/ghost/hello.md" });
    expect(d!.lastError).toBe("no agent 'ghost' in agents.yaml (known: orion)");
    expect(d!.original).toBe(text);
    await eventually(() => readdirSync(dir).length === 0, 5_000, "the file (and its claim) removed");
    expect(await listDeadLetters(deadLetterDir(data))).toHaveLength(1);
  });
});
