// The REST API through the real CLI: `agentos run --http 127.0.0.1:0` as a child
// process, real HTTP with fetch, real files and git; the LLM is the scripted server.
// Every response is checked against the server's own /openapi.json (support/openapi.ts).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderApiDocs } from "../src/http/api-docs.js";
import { DASHBOARD_ROUTES } from "../src/http/dashboard/index.js";
import { openApiDocument } from "../src/http/openapi.js";
import { renderDeadLetter } from "../src/store/dead-letters.js";
import { API_ROUTES } from "../src/http/routes/index.js";
import { resultFile } from "../src/store/layout.js";
import { eventually, git } from "./support/checker.js";
import { agentDir, dataDir, deadLetterDir, inbox, read, ROOT } from "./support/data.js";
import { scriptedLlm } from "./support/llm-server.js";
import { OpenApiChecker } from "./support/openapi.js";
import { apiBase, apiClient, runCli, RunningCli, scriptedEnv, startRun } from "./support/runtime.js";

const llm = await scriptedLlm();

const TOKEN = "test-api-token-0123456789";
const AGENTS = `agents:
  - name: orion
    persona: "Backend engineer."
  - name: iris
    persona: "Reviewer."
iac:
  backpressure: { max_queue_depth_per_agent: 2 }
tasks:
  max_attempts: 1
`;

const env = (extra: Record<string, string> = {}) => scriptedEnv(llm, { LLM_API_KEY: "sk-test", LLM_MODEL: "scripted-model", SHUTDOWN_GRACE_SECONDS: "2", ...extra });

// One checker for the whole file: every server serves the same document.
let checker: OpenApiChecker | undefined;

/** `agentos run --http 127.0.0.1:0` with this token (none: no AGENTOS_API_TOKEN), and a client that sends it and checks every answer against /openapi.json. */
async function startApi(data: string, extra: Record<string, string> = {}, token: string | undefined = TOKEN) {
  const run = await startRun(data, env({ ...(token ? { AGENTOS_API_TOKEN: token } : {}), ...extra }), ["--http", "127.0.0.1:0"]);
  const base = await apiBase(run);
  checker ??= new OpenApiChecker(await (await fetch(base + "/openapi.json")).json());
  return { run, data, base, call: apiClient(base, token, (a) => checker!.check(a)) };
}

describe("REST API", () => {
  it("refuses to listen beyond loopback without a token, before touching any agent", () => {
    const data = dataDir(AGENTS);
    const r = runCli(["run", "--data", data, "--http", "0.0.0.0:0"], env());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/refusing to serve the REST API on 0\.0\.0\.0:0 without a token: set AGENTOS_API_TOKEN/);
    expect(read(join(agentDir(data, "orion"), "persona.md"))).toBe("");
    const bad = runCli(["run", "--data", data, "--http", "localhost"], env());
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/expected host:port such as 127\.0\.0\.1:8080/);
  });

  it("asks for the bearer token on every route but health, readiness and the OpenAPI document", async () => {
    const api = await startApi(dataDir(AGENTS));
    for (const path of ["/v1/agents", "/v1/agents/orion", "/v1/dead-letters", "/metrics", "/v1/agents/orion/tasks/x"]) {
      const none = await api.call("GET", path, undefined, { authorization: "" });
      expect(none.status, path).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe('Bearer realm="agentos"');
      expect(none.json.error).toMatch(/missing 'Authorization: Bearer <AGENTOS_API_TOKEN>' header/);
      expect((await api.call("GET", path, undefined, { authorization: "Bearer wrong" })).status, path).toBe(401);
    }
    const post = await api.call("POST", "/v1/agents/orion/tasks", { task: "never queued" }, { authorization: "Bearer nope" });
    expect(post.status).toBe(401);
    expect(read(join(agentDir(api.data, "orion"), "queue.md"))).not.toContain("never queued");

    expect((await api.call("GET", "/healthz", undefined, { authorization: "" })).json).toMatchObject({ status: "ok", agents: 2 });
    // Without the token readiness says ready or not, nothing about the agents (docs/security.md).
    const ready = await api.call("GET", "/readyz", undefined, { authorization: "" });
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ ready: true, problems: [], agents: [] });
    const readyAuthed = await api.call("GET", "/readyz");
    expect(readyAuthed.json).toEqual({ ready: true, problems: [], agents: [{ name: "orion", paused: false }, { name: "iris", paused: false }] });
    const openapi = await api.call("GET", "/openapi.json", undefined, { authorization: "" });
    expect(openapi.json.openapi).toBe("3.1.0");
    expect(Object.keys(openapi.json.paths)).toContain("/v1/agents/{name}/tasks/{id}");

    const agents = await api.call("GET", "/v1/agents");
    expect(agents.status).toBe(200);
    expect(agents.json.agents.map((a: any) => [a.name, a.running, a.running_here])).toEqual([
      ["orion", true, true],
      ["iris", true, true],
    ]);
  });

  it("rejects bad bodies with 4xx and says what was expected, without writing anything", async () => {
    const api = await startApi(dataDir(AGENTS));
    const bad = await api.call("POST", "/v1/agents/orion/tasks", { task: "  ", priority: "urgent", ttl_seconds: -5, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.json.issues).toEqual(
      expect.arrayContaining([
        { path: "task", message: 'expected a text with at least one non-whitespace character, got "  "' },
        { path: "priority", message: expect.stringMatching(/expected one of "high"\|"normal"\|"low"/) },
        { path: "ttl_seconds", message: expect.stringMatching(/>=1/) },
        { path: "(body)", message: expect.stringMatching(/Unrecognized key: "extra"/) },
      ]),
    );
    const badId = await api.call("POST", "/v1/agents/orion/tasks", { id: "../../etc/passwd", task: "x" });
    expect(badId.status).toBe(400);
    expect(badId.json.issues[0].path).toBe("id");
    expect((await api.call("POST", "/v1/agents/orion/tasks", "{not json")).json.error).toMatch(/not valid JSON/);
    const form = await api.call("POST", "/v1/agents/orion/tasks", "task=x", { "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    expect(form.json.error).toMatch(/expected Content-Type: application\/json/);
    const huge = await api.call("POST", "/v1/agents/orion/tasks", { task: "x".repeat(1024 * 1024 + 10) });
    expect(huge.status).toBe(413);
    expect(huge.json.error).toMatch(/over the limit of 1048576 bytes/);

    const unknown = await api.call("POST", "/v1/agents/nobody/tasks", { task: "hello" });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toBe("unknown agent 'nobody' (agents.yaml has orion, iris)");
    // Names and ids never reach the filesystem unchecked.
    expect((await api.call("GET", "/v1/agents/..%2F..%2Fetc")).status).toBe(400);
    expect((await api.call("GET", "/v1/agents/orion/tasks/..%2F..%2Fagents.yaml")).status).toBe(400);
    expect((await api.call("GET", "/v1/agents/orion/tasks/missing-task")).status).toBe(404);
    expect((await api.call("GET", "/v1/dead-letters?reason=lost")).status).toBe(400);
    expect(read(join(agentDir(api.data, "orion"), "queue.md"))).not.toMatch(/^## /m);
  });

  it("follows a task from 202 to queued, running and done with its result, and counts it in /metrics", async () => {
    const api = await startApi(dataDir(AGENTS));
    const accepted = await api.call("POST", "/v1/agents/orion/tasks", { id: "slow-review", task: "[delay:1500] Review the retry helper for jitter.", priority: "high" });
    expect(accepted.status).toBe(202);
    expect(accepted.json).toEqual({ id: "slow-review", agent: "orion", status: "queued", url: "/v1/agents/orion/tasks/slow-review" });
    expect(accepted.headers.get("location")).toBe("/v1/agents/orion/tasks/slow-review");
    expect(read(join(agentDir(api.data, "orion"), "queue.md"))).toMatch(/^## slow-review\ntask: \[delay:1500\] Review the retry helper for jitter\.\npriority: high\n/m);

    const first = await api.call("GET", "/v1/agents/orion/tasks/slow-review");
    expect(["queued", "running"]).toContain(first.json.status);
    const running = await eventually(async () => {
      const r = await api.call("GET", "/v1/agents/orion/tasks/slow-review");
      return r.json.status === "running" ? r.json : undefined;
    }, 5_000, "running");
    expect(running).toMatchObject({ state: "running", attempts: 1 });

    const dup = await api.call("POST", "/v1/agents/orion/tasks", { id: "slow-review", task: "again" });
    expect(dup.status).toBe(409);

    const done = await eventually(async () => {
      const r = await api.call("GET", "/v1/agents/orion/tasks/slow-review");
      return r.json.status === "done" ? r.json : undefined;
    }, 10_000, "done");
    expect(done.reward).toBe(1);
    expect(done.result).toContain("Scripted answer for slow-review");
    const result = await api.call("GET", "/v1/agents/orion/results/slow-review");
    expect(result.headers.get("x-agentos-result-path")).toBe(join("agents", "orion", resultFile("slow-review")));
    expect(result.text).toBe(done.result);
    expect(git(agentDir(api.data, "orion"), "log", "-1", "--format=%s")).toBe("orion(task): slow-review\n");
    const again = await api.call("POST", "/v1/agents/orion/tasks", { id: "slow-review", task: "again" });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatch(/task id 'slow-review' was already used for orion/);

    const agent = await api.call("GET", "/v1/agents/orion");
    expect(agent.json).toMatchObject({ name: "orion", done: 1, running_here: true, max_queue_depth: 2, last_reward: { reward: 1, task: "slow-review" } });
    expect(agent.json.recent_rewards).toHaveLength(1);

    const metrics = (await api.call("GET", "/metrics")).text;
    expect(metrics).toContain('agentos_tasks_total{agent="orion",outcome="done"} 1');
    expect(metrics).toContain('agentos_rewards_total{agent="orion",reward="1"} 1');
    expect(metrics).toMatch(/^agentos_task_duration_seconds_count\{agent="orion"\} 1$/m);
    expect(Number(/^agentos_llm_request_duration_seconds_sum\{agent="orion"\} (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1.5);
    expect(metrics).toMatch(/^agentos_prompt_tokens_count\{agent="orion"\} 1$/m);
    expect(metrics).toContain('agentos_queue_depth{agent="orion",state="in_flight"} 0');
    expect(metrics).toContain('agentos_oldest_task_age_seconds{agent="iris"} 0');
    expect(metrics).toContain("# TYPE agentos_escalations_total counter");
    expect(metrics).toContain("# TYPE agentos_audit_divergences_total counter");
    expect(metrics).toContain("# TYPE agentos_dead_letters_total counter");
  });

  it("answers 429 with Retry-After when the agent already holds max_queue_depth tasks, and accepts again once they are done", async () => {
    const api = await startApi(dataDir(AGENTS));
    const posts = await Promise.all(
      ["bp-1", "bp-2", "bp-3", "bp-4"].map((id) => api.call("POST", "/v1/agents/iris/tasks", { id, task: `[delay:1200] Check ${id} for regressions.` })),
    );
    // Serialized per agent: exactly the first two fit into max_queue_depth_per_agent: 2.
    expect(posts.map((p) => p.status).sort()).toEqual([202, 202, 429, 429]);
    const refused = posts.find((p) => p.status === 429)!;
    expect(refused.headers.get("retry-after")).toBe("30");
    expect(refused.json.error).toMatch(/^queue full: iris holds 2 unfinished task\(s\), its max_queue_depth is 2; try again later$/);
    const queueText = read(join(agentDir(api.data, "iris"), "queue.md"));
    expect((queueText.match(/^## bp-\d$/gm) ?? []).length).toBe(2);
    // Another agent is not held up by iris's full queue.
    expect((await api.call("POST", "/v1/agents/orion/tasks", { task: "Summarise the incident timeline." })).status).toBe(202);

    await eventually(async () => (await api.call("GET", "/v1/agents/iris")).json.done === 2, 15_000, "both iris tasks done");
    expect((await api.call("POST", "/v1/agents/iris/tasks", { id: "bp-5", task: "Check bp-5." })).status).toBe(202);
  });

  it("reports a task that failed into dead letters as dead, and lists it under /v1/dead-letters", async () => {
    const api = await startApi(dataDir(AGENTS));
    expect((await api.call("POST", "/v1/agents/orion/tasks", { id: "broken", task: "[bad-schema] Produce the report." })).status).toBe(202);
    const dead = await eventually(async () => {
      const r = await api.call("GET", "/v1/agents/orion/tasks/broken");
      return r.json.status === "dead" ? r.json : undefined;
    }, 15_000, "dead");
    expect(dead.dead_letter).toMatchObject({ reason: "delivery_limit", attempts: 1, file: expect.stringMatching(/^shared\/iac\/dead_letters\/.*broken.*\.md$/) });
    const list = await api.call("GET", "/v1/dead-letters?agent=orion&reason=delivery_limit");
    expect(list.json.dead_letters).toHaveLength(1);
    expect(list.json.dead_letters[0]).toMatchObject({ agent: "orion", task_id: "broken", reason: "delivery_limit" });
    expect(list.json.dead_letters[0].original).toContain("[bad-schema] Produce the report.");
    expect((await api.call("GET", "/v1/dead-letters?reason=expired")).json.dead_letters).toEqual([]);
    const metrics = (await api.call("GET", "/metrics")).text;
    expect(metrics).toContain('agentos_dead_letters_total{reason="delivery_limit"} 1');
    expect(metrics).toContain('agentos_tasks_total{agent="orion",outcome="dead"} 1');
    // SIGTERM right after a dead letter (its compaction still settling) exits promptly:
    // under Docker a slow exit turns into SIGKILL after 10 s.
    const t0 = Date.now();
    expect(await api.run.stop()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("loses no task accepted with 202 when the runtime is killed with kill -9 right after", async () => {
    const data = dataDir(AGENTS);
    llm.setLatency(30_000); // nothing can finish before the kill (reset after the test)
    const api = await startApi(data, {}, undefined);
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const r = await api.call("POST", `/v1/agents/${n === 1 ? "orion" : "iris"}/tasks`, { task: `Durable task number ${n}: write it down.` });
      expect(r.status).toBe(202);
      ids.push(r.json.id);
    }
    expect(await api.run.stop("SIGKILL")).toBe(-1);
    llm.setLatency(0);

    // Async child: the scripted LLM server lives in this process and must keep answering.
    const after = new RunningCli(["run", "--once", "--data", data], env());
    expect(await after.exited, after.output).toBe(0);
    for (const [agent, id] of [["orion", ids[0]!], ["iris", ids[1]!]] as const) {
      const dir = agentDir(data, agent);
      expect(git(dir, "log", "--format=%s").split("\n").filter((s) => s === `${agent}(task): ${id}`)).toHaveLength(1);
      expect(read(join(dir, resultFile(id)))).toContain(`Durable task number`);
      expect(read(join(dir, "queue.md"))).not.toContain(id);
    }
  });

  it("answers as its own /openapi.json says: 415 for text/plain, 405 with Allow, whitespace-only tasks refused, every operation named", async () => {
    const api = await startApi(dataDir(AGENTS));
    const doc = (await api.call("GET", "/openapi.json", undefined, { authorization: "" })).json;
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }]);
    const ops = Object.values(doc.paths).flatMap((item: any) => Object.values(item).map((op: any) => op.operationId));
    expect(ops).toEqual(expect.arrayContaining(["enqueueTask", "getTask", "listAgents", "getAgent", "listDeadLetters", "getDeadLetter", "requeueDeadLetter", "deleteDeadLetter", "purgeDeadLetters", "getHealth", "getReadiness", "getMetrics", "getOpenApi"]));
    expect(new Set(ops).size).toBe(ops.length);

    // The schema refuses a whitespace-only task, and so does the server.
    expect(doc.paths["/v1/agents/{name}/tasks"].post.requestBody.content["application/json"].schema.properties.task.pattern).toBe("\\S");
    const blank = await api.call("POST", "/v1/agents/orion/tasks", { task: " \n\t " });
    expect(blank.status).toBe(400);
    expect(blank.json).toMatchObject({ code: "AGENTOS_INVALID_REQUEST", issues: [{ path: "task", message: expect.stringMatching(/^expected a text with at least one non-whitespace character/) }] });
    const plain = await api.call("POST", "/v1/agents/orion/tasks", "Review the retry helper", { "content-type": "text/plain" });
    expect(plain.status).toBe(415);
    expect(plain.json).toEqual({ error: "expected Content-Type: application/json, got 'text/plain'", code: "AGENTOS_UNSUPPORTED_MEDIA_TYPE" });

    const del = await api.call("DELETE", "/v1/agents");
    expect(del.status).toBe(405);
    expect(del.headers.get("allow")).toBe("GET, HEAD");
    expect(del.json.code).toBe("AGENTOS_METHOD_NOT_ALLOWED");
    const put = await api.call("PUT", "/v1/agents/orion/tasks", { task: "x" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("POST");
    const none = await api.call("GET", "/v1/agent");
    expect(none.status).toBe(404);
    expect(none.json).toEqual({ error: "no route GET /v1/agent; see /openapi.json", code: "AGENTOS_NO_ROUTE" });

    // Every field answered is declared (totals.disagreed was returned but not in the schema).
    const summary = doc.paths["/v1/agents"].get.responses["200"].content["application/json"].schema.properties.agents.items;
    expect(summary.additionalProperties).toBe(false);
    expect(summary.properties.totals.required).toContain("disagreed");
    expect((await api.call("GET", "/v1/agents")).json.agents[0].totals).toEqual({ plus: 0, zero: 0, minus: 0, disagreed: 0 });
    const unknownTask = await api.call("GET", "/v1/agents/orion/tasks/never-sent");
    expect(unknownTask.status).toBe(404);
    expect(unknownTask.json.code).toBe("AGENTOS_UNKNOWN_TASK");
    expect(read(join(agentDir(api.data, "orion"), "queue.md"))).not.toMatch(/^## /m);
  });

  it("lists, reads, requeues and deletes dead letters over HTTP, and purges them by age", async () => {
    const api = await startApi(dataDir(AGENTS));
    const lost = inbox(api.data, "nobody");
    mkdirSync(lost, { recursive: true });
    writeFileSync(join(lost, "lost.md"), `## lost-msg\ntask: Which table holds refunds?\npriority: normal\ncreated: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}\n`);
    appendFileSync(join(agentDir(api.data, "orion"), "queue.md"), "\n## not an id\ntask: Review it.\npriority: normal\n");
    const letters = await eventually(async () => {
      const r = await api.call("GET", "/v1/dead-letters");
      return r.json.dead_letters.length === 2 ? r.json.dead_letters : undefined;
    }, 15_000, "two dead letters");
    const misaddressed = letters.find((d: any) => d.reason === "unknown_agent");
    const invalid = letters.find((d: any) => d.reason === "invalid");
    expect(misaddressed).toMatchObject({ agent: "nobody", source: "shared/iac/inbox/nobody/lost.md", file: `shared/iac/dead_letters/${misaddressed.name}` });

    const one = await api.call("GET", `/v1/dead-letters/${misaddressed.name}`);
    expect(one.json).toEqual(misaddressed);
    expect((await api.call("GET", "/v1/dead-letters/..%2Fagents.yaml")).status).toBe(400);
    expect((await api.call("GET", "/v1/dead-letters/20250101T000000Z-gone-abcdef.md")).json.code).toBe("AGENTOS_UNKNOWN_DEAD_LETTER");

    const back = await api.call("POST", `/v1/dead-letters/${misaddressed.name}/requeue`);
    expect(back.status).toBe(404);
    expect(back.json).toMatchObject({ code: "AGENTOS_UNKNOWN_AGENT", error: expect.stringContaining("unknown agent 'nobody'") });
    const toIris = await api.call("POST", `/v1/dead-letters/${misaddressed.name}/requeue`, { to: "iris" });
    expect(toIris.status).toBe(200);
    expect(toIris.json).toMatchObject({ id: "lost-msg", agent: "iris", file: expect.stringMatching(/^shared\/iac\/inbox\/iris\/lost-msg-requeued-\d{8}T\d{6}Z\.md$/) });
    await eventually(async () => (await api.call("GET", "/v1/agents/iris/tasks/lost-msg")).json.status === "done", 15_000, "the requeued task done");
    expect((await api.call("GET", `/v1/dead-letters/${misaddressed.name}`)).json.requeued).toHaveLength(1);
    const unrunnable = await api.call("POST", `/v1/dead-letters/${invalid.name}/requeue`, {});
    expect(unrunnable.status).toBe(422);
    expect(unrunnable.json.code).toBe("AGENTOS_UNRUNNABLE_DEAD_LETTER");

    const deleted = await api.call("DELETE", `/v1/dead-letters/${invalid.name}`);
    expect(deleted.json).toEqual({ purged: invalid.name });
    expect((await api.call("GET", `/v1/dead-letters/${invalid.name}`)).status).toBe(404);

    const old = join(deadLetterDir(api.data), "20250101T000000Z-orion-ancient-abcdef.md");
    writeFileSync(old, renderDeadLetter({ reason: "invalid", agent: "orion", taskId: "ancient", source: "agents/orion/queue.md:1", firstSeen: "2025-01-01T00:00:00Z", at: "2025-01-01T00:00:00Z", attempts: 0, original: "## ancient\n" }));
    expect((await api.call("POST", "/v1/dead-letters/purge", { older_than: "soon" })).json.issues).toEqual([{ path: "older_than", message: 'expected a number and a unit such as 30d, 12h, 45m or 90s, got "soon"' }]);
    const purged = await api.call("POST", "/v1/dead-letters/purge", { older_than: "30d" });
    expect(purged.json).toEqual({ purged: ["shared/iac/dead_letters/20250101T000000Z-orion-ancient-abcdef.md"] });
    expect(existsSync(old)).toBe(false);
    expect((await api.call("GET", "/v1/dead-letters")).json.dead_letters.map((d: any) => d.name)).toEqual([misaddressed.name]);
  });

  it("keeps docs/api.md generated from the same schemas as /openapi.json", () => {
    expect(read(join(ROOT, "docs", "api.md"))).toBe(renderApiDocs(openApiDocument(API_ROUTES, "")));
    const doc = openApiDocument(API_ROUTES, "1.2.3") as any;
    expect(doc.paths["/v1/agents/{name}/tasks"].post.requestBody.content["application/json"].schema.required).toEqual(["task"]);
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts["docs:api"]).toBeDefined();
  });

  it("checked every response above against /openapi.json, and exercised every operation it lists", () => {
    const doc = openApiDocument(API_ROUTES, "") as any;
    const ops = Object.values(doc.paths).flatMap((item: any) => Object.values(item).map((op: any) => op.operationId as string));
    // The dashboard's operations are exercised and checked in dashboard.api.test.ts.
    const dashboard = new Set(DASHBOARD_ROUTES.map((r) => r.operationId));
    expect(ops.filter((op) => !checker?.seen.has(op) && !dashboard.has(op))).toEqual([]);
    expect(checker?.seen.get("405")).toBeGreaterThanOrEqual(2);
  });
});
