// The dashboard's server side over real HTTP: `agentos run --http` as a child process,
// real files and git, the scripted LLM. The page's own files are public and carry a strict
// CSP; everything with data needs the token; answers match the routes' schemas.
import { readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_ROUTES } from "../src/http/dashboard/index.js";
import { History, Learning, Overview, PromptAnswer } from "../src/http/dashboard/schemas.js";
import { eventually } from "./support/checker.js";
import { dataDir, removeDir } from "./support/data.js";
import { apiBase, apiClient, scriptedEnv, startRun, type RunningCli } from "./support/runtime.js";
import { OpenApiChecker } from "./support/openapi.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";

const TOKEN = "dashboard-api-token-0123456789";
const AGENTS = `agents:
  - name: orion
    persona: "Backend engineer."
  - name: iris
    persona: "Reviewer."
tasks:
  max_attempts: 1
  settle_ms: 100
`;

let llm: LlmServer;
let data: string;
let run: RunningCli;
let base: string;
/** Every /v1 answer is checked against the server's own /openapi.json. */
let checker: OpenApiChecker;

/** The API with the token, another one (`token`), or none (`token: null`); /v1 answers are checked against /openapi.json. */
const call = (method: string, path: string, opts: { body?: unknown; token?: string | null } = {}) =>
  apiClient(base, opts.token === undefined ? TOKEN : (opts.token ?? undefined), (a) => void (a.url.startsWith("/v1/") && checker.check(a)))(method, path, opts.body);
const status = async (agent: string, id: string) => (await call("GET", `/v1/agents/${agent}/tasks/${id}`)).json?.status;

beforeAll(async () => {
  llm = await startLlmServer();
  // A reply that never fits the step schema (not a provider fault, which would pause the agent): the task is dead-lettered.
  llm.script((req) => (req.taskId?.startsWith("fails-") ? { content: JSON.stringify({ answer: 42, reward: 7 }) } : undefined));
  data = dataDir(AGENTS);
  run = await startRun(data, scriptedEnv(llm, { LLM_API_KEY: "sk-test", LLM_MODEL: "scripted-model", LLM_MAX_RETRIES: "0", AGENTOS_API_TOKEN: TOKEN, SHUTDOWN_GRACE_SECONDS: "2" }), [
    "--http",
    "127.0.0.1:0",
  ]);
  base = await apiBase(run);
  checker = new OpenApiChecker(await (await fetch(base + "/openapi.json")).json());
});

afterAll(async () => {
  await run?.stop();
  await llm?.close();
  if (data) removeDir(data);
});

describe("dashboard routes", () => {
  it("serves the page and its code without a token, under a strict CSP, and nothing else without one", async () => {
    const page = await call("GET", "/", { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.text).toContain('<script type="module" src="/dashboard/app.js"></script>');
    expect(page.text).not.toMatch(/<script>|<style|style="/);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/style-src 'self'(;|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const js = await call("GET", "/dashboard/app.js", { token: null });
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(js.text.length).toBeGreaterThan(10_000);
    expect((await fetch(base + "/dashboard/app.js", { headers: { "if-none-match": js.headers.get("etag")! } })).status).toBe(304);
    expect((await call("GET", "/dashboard/access.json", { token: null })).json).toEqual({ token_required: true });
    expect((await call("GET", "/dashboard/../agents.yaml", { token: null })).status).not.toBe(200);
    expect((await call("GET", "/dashboard/nothing.js", { token: null })).status).toBe(404);

    for (const path of ["/v1/overview", "/v1/events", "/v1/agents/orion/learning", "/v1/agents/orion/history", "/v1/agents/orion/prompt"]) {
      expect((await call("GET", path, { token: null })).status, path).toBe(401);
      expect((await call("GET", path, { token: "wrong" })).status, path).toBe(401);
    }
    expect((await call("POST", "/v1/dead-letters/x.md/requeue", { token: null, body: {} })).status).toBe(401);
    expect((await call("DELETE", "/v1/dead-letters/x.md", { token: null })).status).toBe(401);
  });

  it("streams the overview as server-sent events, again after a change", async () => {
    const ac = new AbortController();
    const res = await fetch(base + "/v1/events", { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    checker.check({ method: "GET", url: "/v1/events", status: res.status, headers: res.headers, text: "" });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const events = () => [...text.matchAll(/^event: overview\ndata: (.*)\n\n/gm)].map((m) => Overview.parse(JSON.parse(m[1]!)));
    try {
      while (!events().length) text += decoder.decode((await reader.read()).value);
      const first = events()[0]!;
      expect(first.agents.map((a) => [a.name, a.state, a.running_here])).toEqual([
        ["orion", "running", true],
        ["iris", "running", true],
      ]);
      expect((await call("POST", "/v1/agents/iris/tasks", { body: { id: "review-1", task: "Review the retry wrapper." } })).status).toBe(202);
      // rewards.md and the commit land one after the other: the stream catches up with both.
      const caughtUp = (o: Overview) => {
        const a = o.agents.find((x) => x.name === "iris");
        return a?.last_reward?.task === "review-1" && a.reward_trend !== undefined;
      };
      while (!events().some(caughtUp)) text += decoder.decode((await reader.read()).value);
      const last = events().find(caughtUp)!.agents.find((a) => a.name === "iris")!;
      expect(last).toMatchObject({ done: 1, queue_depth: 0, dead_letters: 0, last_reward: { reward: 1, task: "review-1" }, reward_trend: 1 });
      // Nothing changed since: the same overview is not sent twice in a row.
      const json = events().map((o) => JSON.stringify(o.agents));
      expect(json.every((j, i) => i === 0 || j !== json[i - 1])).toBe(true);
    } finally {
      ac.abort();
    }
  });

  it("reads what an agent learned and its git history with the reward trend", async () => {
    expect((await call("POST", "/v1/agents/orion/tasks", { body: { id: "skill-1", task: "Write a retry wrapper. [skill:retry-with-backoff] [goal:ship the wrapper] [reflect:test the jitter]" } })).status).toBe(202);
    expect((await call("POST", "/v1/agents/orion/tasks", { body: { id: "short-1", task: "Say ok. [answer:ok]" } })).status).toBe(202);
    await eventually(async () => (await status("orion", "short-1")) === "done" && (await status("orion", "skill-1")) === "done", 30_000, "both done");

    const learning = Learning.parse((await call("GET", "/v1/agents/orion/learning")).json);
    expect(learning.skills.map((s) => [s.slug, s.evidence, s.effective_evidence])).toEqual([["retry-with-backoff", 1, 1]]);
    expect(learning.goals.active.map((g) => g.text)).toContain("ship the wrapper");
    expect(learning.reflections[0]).toMatchObject({ task: expect.any(String), text: expect.any(String) });
    expect(learning.reflections.map((r) => r.text)).toContain("test the jitter");

    const history = History.parse((await call("GET", "/v1/agents/orion/history")).json);
    expect(history.commits.at(-1)!.subject).toBe("init: agent filesystem");
    expect(history.rewards.map((r) => [r.task, r.reward, r.audit])).toEqual([
      ["skill-1", 1, 1],
      ["short-1", 1, 0],
    ]);
    const one = History.parse((await call("GET", "/v1/agents/orion/history?task=short-1")).json);
    expect(one.commits.map((c) => [c.subject, c.body, c.trailers["Task-Id"], c.trailers.Audit])).toEqual([["orion(task): short-1", "Say ok. [answer:ok]", "short-1", "0"]]);
    expect((await call("GET", "/v1/agents/orion/history?limit=0")).status).toBe(400);
    expect((await call("GET", "/v1/agents/nobody/history")).status).toBe(404);

    const prompt = PromptAnswer.parse((await call("GET", "/v1/agents/orion/prompt")).json);
    expect(prompt.agent).toBe("orion");
    if (prompt.prompt) expect(prompt.prompt.sections.length).toBeGreaterThan(0);
    else expect(prompt.why).toMatch(/orion/);
  });

  it("requeues and purges dead letters through the API, with the CLI's checks", async () => {
    expect((await call("POST", "/v1/agents/orion/tasks", { body: { id: "fails-1", task: "Never answered." } })).status).toBe(202);
    await eventually(async () => (await status("orion", "fails-1")) === "dead", 30_000, "fails-1 dead");
    const letters = (await call("GET", "/v1/dead-letters?agent=orion")).json.dead_letters as { file: string; task_id: string }[];
    const name = letters.find((d) => d.task_id === "fails-1")!.file.split("/").pop()!;

    expect((await call("POST", "/v1/dead-letters/..%2Fagents.yaml/requeue", { body: {} })).status).toBe(400);
    expect((await call("POST", "/v1/dead-letters/nothing-here.md/requeue", { body: {} })).status).toBe(404);
    expect((await call("POST", `/v1/dead-letters/${name}/requeue`, { body: { to: "nobody" } })).status).toBe(404); // AGENTOS_UNKNOWN_AGENT
    expect((await call("POST", `/v1/dead-letters/${name}/requeue`, { body: { to: "Not A Name" } })).status).toBe(400);
    const requeued = await call("POST", `/v1/dead-letters/${name}/requeue`, { body: { to: "iris" } });
    expect(requeued.status).toBe(200);
    expect(requeued.json).toMatchObject({ id: "fails-1", agent: "iris", file: expect.stringMatching(/^shared\/iac\/inbox\/iris\/fails-1-requeued-/) });

    // A file in the folder that is not a dead letter is not deleted.
    const dir = join(data, "shared", "iac", "dead_letters");
    writeFileSync(join(dir, "notes.md"), "# my notes\n");
    expect((await call("DELETE", "/v1/dead-letters/notes.md")).status).toBe(409);
    expect(readdirSync(dir)).toContain("notes.md");
    expect((await call("DELETE", `/v1/dead-letters/${name}`)).json).toEqual({ purged: name });
    expect(readdirSync(dir)).not.toContain(name);
    expect((await call("DELETE", `/v1/dead-letters/${name}`)).status).toBe(404);

    // A link among the letters is never followed: the overview still answers and counts none.
    symlinkSync(join(data, "agents.yaml"), join(dir, "20990101T000000Z-orion-evil-000000.md"));
    const overview = Overview.parse((await call("GET", "/v1/overview")).json);
    const left = (await call("GET", "/v1/dead-letters")).json.dead_letters;
    expect(overview.agents.find((a) => a.name === "orion")!.dead_letters, JSON.stringify(left)).toBe(0);
  });

  it("answered every dashboard operation of /openapi.json as documented, and keeps its page and files out of it", async () => {
    const doc = (await (await fetch(base + "/openapi.json")).json()) as { paths: Record<string, Record<string, { operationId: string }>> };
    const listed = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    const ours = DASHBOARD_ROUTES.filter((r) => !r.hidden).map((r) => r.operationId);
    expect(ours).toEqual(["getOverview", "streamOverview", "getAgentLearning", "getAgentHistory", "getAgentPrompt"]);
    expect(ours.filter((op) => !listed.includes(op))).toEqual([]);
    expect(ours.filter((op) => !checker.seen.has(op))).toEqual([]);
    expect(Object.keys(doc.paths).filter((p) => p === "/" || p.startsWith("/dashboard"))).toEqual([]);
  });
});
