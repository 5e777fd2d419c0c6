// TTL and dead letters through the real CLI: a message expiring after a real short TTL
// behind a slow task, `dead-letters list|show|requeue|purge`, and requeueing a whole
// misaddressed file to another agent. The scripted LLM server is the only stand-in.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDeadLetter, renderDeadLetter } from "../src/store/dead-letters.js";
import { committed, eventually, fsckStrict, lastCommit, subjects } from "./support/checker.js";
import { agent, agentDir, block, dataDir, deadLetterDir, inbox, queue, read, shellAppend, yaml } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { scriptedCli, startRuntime } from "./support/runtime.js";

const llm = await scriptedLlm();
const { run, cli } = scriptedCli(llm);

describe("TTL and dead letters through the CLI", () => {
  it("expires a message behind a slow task after its real ttl, then requeues it from dead letters and runs it", async () => {
    const data = dataDir(yaml([agent("iris", "slow")], "iac:\n  default_message_ttl: 2\n"));
    const r = await run(data, "iris");
    shellAppend(queue(data, "iris"), block("long-analysis", "Scan a year of logs. [delay:6000]"));
    await r.waitFor(/Processing task: long-analysis/);
    const enq = cli("enqueue", "iris", "--data", data, "--inbox", "--id", "quick-question", "--task", "How many rows are in the orders table?");
    expect(enq.status).toBe(0);
    expect(enq.stdout.trim()).toBe("quick-question");
    const [dropped] = readdirSync(inbox(data, "iris"));
    expect(dropped).toMatch(/^quick-question-[0-9a-f]{4}\.md$/);
    const original = read(join(inbox(data, "iris"), dropped!));
    expect(original).toMatch(/^## quick-question\ntask: How many rows are in the orders table\?\npriority: normal\ncreated: \S+\n$/);

    await r.waitFor(/dead letter \(expired\): quick-question/);
    await eventually(() => committed(data, "iris", "iris(escalation): quick-question expired"), 10_000, "the escalation commit");
    // Dead-lettered on time: while the slow task still runs, not when it reached the head.
    await eventually(() => committed(data, "iris", "iris(task): long-analysis"), 15_000, "the slow task");
    const order = subjects(data, "iris");
    expect(order.indexOf("iris(escalation): quick-question expired")).toBeGreaterThan(order.indexOf("iris(task): long-analysis"));
    expect(llm.requestsFor("quick-question")).toHaveLength(0);
    expect(read(join(agentDir(data, "iris"), "reflections.md"))).toContain("[escalation] quick-question went to dead letters (expired)");

    // list (text and JSON, filtered), show
    const list = cli("dead-letters", "list", "--data", data);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/expired\s+iris\s+quick-question\s+\S+-iris-quick-question-\w+\.md\n {4}expired \d+ s after it arrived \(ttl 2 s\)/);
    const json = JSON.parse(cli("dead-letters", "list", "--data", data, "--reason", "expired", "--agent", "iris", "--json").stdout);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ reason: "expired", agent: "iris", taskId: "quick-question", source: `shared/iac/inbox/iris/${dropped}:1`, attempts: 0, original, requeued: [] });
    expect(Date.parse(json[0].at)).toBeGreaterThanOrEqual(Date.parse(json[0].firstSeen));
    expect(JSON.parse(cli("dead-letters", "list", "--data", data, "--reason", "invalid", "--json").stdout)).toEqual([]);
    const name = json[0].file.split("/").pop();
    const show = cli("dead-letters", "show", name, "--data", data);
    expect(show.status).toBe(0);
    expect(show.stdout).toContain("# Dead letter: quick-question\n\n- reason: expired\n- agent: iris\n- task: quick-question\n");
    expect(show.stdout).toContain("## Original block\n\n```markdown\n" + original);

    // requeue: back into the inbox with a fresh created and ttl; the running runtime picks it up
    // as a new arrival (the first copy's arrival is long past its 2 s ttl).
    const requeuedAt = Date.now();
    const rq = cli("dead-letters", "requeue", name, "--data", data);
    expect(rq.status).toBe(0);
    expect(rq.stdout).toMatch(/^requeued quick-question to iris: \S+\/shared\/iac\/inbox\/iris\/quick-question-requeued-\d{8}T\d{6}Z\.md$/m);
    await eventually(() => committed(data, "iris", "iris(task): quick-question"), 15_000, "the requeued message ran");
    expect(lastCommit(data, "iris", "Task-Id: quick-question")).toContain("Source: inbox");
    expect(llm.requestsFor("quick-question")).toHaveLength(1);
    const arrivals = [...read(join(agentDir(data, "iris"), ".agentos", "ledger.log")).matchAll(/^seen\tquick-question\t(\d+)$/gm)].map((m) => Number(m[1]));
    expect(arrivals).toHaveLength(2);
    expect(arrivals[0]).toBeLessThan(requeuedAt);
    expect(arrivals[1]).toBeGreaterThanOrEqual(requeuedAt);
    const after = JSON.parse(cli("dead-letters", "list", "--data", data, "--json").stdout);
    expect(after).toHaveLength(1);
    expect(after[0].requeued).toHaveLength(1);
    expect(after[0].requeued[0]).toMatch(/^\S+Z to iris as \S+quick-question-requeued-\S+\.md$/);
    await eventually(() => readdirSync(inbox(data, "iris")).length === 0, 5_000, "the requeued file removed");
    fsckStrict(agentDir(data, "iris"));

    // purge removes only what is older than the cut-off
    const old = join(deadLetterDir(data), "20250101T000000Z-iris-ancient-abcdef.md");
    writeFileSync(old, renderDeadLetter({ reason: "invalid", agent: "iris", taskId: "ancient", source: "agents/iris/queue.md:1", firstSeen: "2025-01-01T00:00:00Z", at: "2025-01-01T00:00:00Z", attempts: 0, original: "## ancient\n" }));
    expect(cli("dead-letters", "purge", "--older-than", "30d", "--data", data).stdout.trim()).toBe("purged 1 dead letter(s)");
    expect(existsSync(old)).toBe(false);
    expect(JSON.parse(cli("dead-letters", "list", "--data", data, "--json").stdout)).toHaveLength(1);
    expect(cli("dead-letters", "purge", "--older-than", "soon", "--data", data).status).toBe(2);
  });

  it("requeues a whole misaddressed file to another agent with --to, and refuses an unknown one", async () => {
    const data = dataDir(yaml([agent("orion"), agent("iris")]));
    mkdirSync(inbox(data, "nobody"), { recursive: true });
    writeFileSync(join(inbox(data, "nobody"), "lost.md"), block("lost-msg", "Which table holds refunds?").slice(1) + block("lost-too", "And which one holds chargebacks?", { priority: "high" }));
    const r = await run(data);
    await r.waitFor(/no agent 'nobody' in agents\.yaml; moved to shared\/iac\/dead_letters\//);
    const [d] = JSON.parse(cli("dead-letters", "list", "--data", data, "--reason", "unknown_agent", "--json").stdout);
    expect(d).toMatchObject({ agent: "nobody", source: "shared/iac/inbox/nobody/lost.md" });
    const bad = cli("dead-letters", "requeue", d.file, "--data", data);
    expect(bad.status).toBe(2); // AGENTOS_UNKNOWN_AGENT, as for enqueue
    expect(bad.stderr).toContain("unknown agent 'nobody' (agents.yaml has orion, iris); use --to AGENT");
    const ok = cli("dead-letters", "requeue", d.file, "--to", "iris", "--data", data);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^requeued lost-msg, lost-too to iris: /);
    await eventually(() => committed(data, "iris", "iris(task): lost-msg") && committed(data, "iris", "iris(task): lost-too"), 15_000, "iris ran both");
    expect(lastCommit(data, "iris", "Task-Id: lost-too")).toContain("Source: inbox");
  });

  it("dead-letters a task that fails for good once, after one attempt, though its file is read again while the letter is written", async () => {
    const data = dataDir(yaml([agent("orion")], "  max_attempts: 1\n"));
    const q = queue(data, "orion");
    const ROUNDS = 12;
    // The moment the worker gives up, another block lands behind the failing one: the read it
    // causes parses the failing block again while its letter is still being written.
    let behind = 0;
    await startRuntime(data, llm, { onLine: (line) => void (/moving it to dead letters/.test(line) && appendFileSync(q, block(`behind-${behind++}`))) });
    for (let i = 0; i < ROUNDS; i++) {
      shellAppend(q, block(`dies-${i}`, "Answer in a shape no schema takes. [bad-schema]"));
      await eventually(() => committed(data, "orion", `orion(task): behind-${i}`), 15_000, `behind-${i} done`);
    }
    const letters = readdirSync(deadLetterDir(data)).map((f) => parseDeadLetter(readFileSync(join(deadLetterDir(data), f), "utf8"), f)!);
    for (let i = 0; i < ROUNDS; i++) {
      const mine = letters.filter((d) => d.taskId === `dies-${i}`);
      expect(mine.map((d) => [d.reason, d.attempts]), `dies-${i}`).toEqual([["delivery_limit", 1]]);
      expect(llm.requestsFor(`dies-${i}`), `dies-${i}: the step and its one repair request`).toHaveLength(2);
    }
    expect(letters).toHaveLength(ROUNDS);
    fsckStrict(agentDir(data, "orion"));
  });
});
