// The API's boundary over real HTTP on 127.0.0.1: a DNS-rebinding page (foreign Host,
// foreign Origin), token guessing, unauthenticated questions about the installation,
// slow-body clients. Each case checks nothing leaked and the agents kept working.
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { existsSync, readFileSync } from "node:fs";
import Fastify from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Env } from "../src/config/schema.js";
import { createLogger } from "../src/log.js";
import { Runtime } from "../src/agent/runtime.js";
import { startHttp } from "../src/http/server.js";
import { parseListenAddress } from "../src/http/address.js";
import { boundary, MAX_CONNECTIONS, serverLimits } from "../src/http/boundary.js";
import { block, committed, lastCommit, queue, yaml, agent } from "./support/iac.js";
import { baseEnv, dataDirWith, eventually, removeDir, runCli, shellAppend } from "./support/harness.js";
import { parseTaskFile } from "../src/parse/task-blocks.js";
import { serializeBlock } from "../src/parse/serialize.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";

const TOKEN = "0123456789abcdef0123456789abcdef-api";
let llm: LlmServer;
beforeAll(async () => {
  llm = await startLlmServer();
});
afterAll(async () => {
  await llm.close();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Served {
  data: string;
  port: number;
  lines: string[];
}

async function serve(token?: string): Promise<Served> {
  const data = dataDirWith(yaml([agent("orion"), agent("iris")]));
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const env = Env.parse({ LLM_API_KEY: "sk-test-key-for-the-api-suite", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2" });
  const rt = new Runtime({ dataDir: data, env, log });
  await rt.start();
  const close = await startHttp(rt, { addr: "127.0.0.1:0", token, dataDir: data, log });
  cleanups.push(() => removeDir(data), () => rt.stop(), close);
  const port = Number(/REST API listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(lines.join("\n"))![1]);
  return { data, port, lines };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A raw request, so Host and Origin can be what a browser page would send. */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: { ...(body ? { "content-type": "application/json" } : {}), ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Proof the agents still work: a task appended to iris's queue.md is committed. */
async function agentsStillWork(data: string, id: string): Promise<void> {
  shellAppend(queue(data, "iris"), block(id, "Still working?"));
  await eventually(() => committed(data, "iris", `iris(task): ${id}`), 90_000, `${id} committed`);
}

describe("loopback API without a token (the README default)", { timeout: 180_000 }, () => {
  it("refuses a DNS-rebinding page: foreign Host gets 421, foreign Origin 403; nothing is enqueued or read", async () => {
    const s = await serve();
    const task = JSON.stringify({ task: "exfiltrate", id: "rebound" });
    const rebound = await call(s.port, "POST", "/v1/agents/orion/tasks", { host: `attacker.example:${s.port}` }, task);
    expect(rebound.status).toBe(421);
    const read = await call(s.port, "GET", "/v1/dead-letters", { host: `attacker.example:${s.port}` });
    expect(read.status).toBe(421);
    const cross = await call(s.port, "POST", "/v1/agents/orion/tasks", { host: `127.0.0.1:${s.port}`, origin: "http://attacker.example" }, task);
    expect(cross.status).toBe(403);
    const nullOrigin = await call(s.port, "GET", "/v1/agents", { host: `localhost:${s.port}`, origin: "null" });
    expect(nullOrigin.status).toBe(403);
    for (const a of [rebound, read, cross, nullOrigin]) {
      expect(a.text).not.toContain("orion");
      expect(a.text).not.toContain(s.data);
    }
    expect(existsSync(queue(s.data, "orion")) ? readFileSync(queue(s.data, "orion"), "utf8") : "").not.toContain("rebound");
    // A local client naming the loopback host is served.
    const ok = await call(s.port, "POST", "/v1/agents/orion/tasks", { host: `localhost:${s.port}` }, JSON.stringify({ task: "legit", id: "legit-1" }));
    expect(ok.status).toBe(202);
    await agentsStillWork(s.data, "after-rebind");
  });
});

describe("API with a token", { timeout: 180_000 }, () => {
  it("answers /readyz and /healthz without a token with status only: no agent, provider, host or path", async () => {
    const s = await serve(TOKEN);
    for (const path of ["/readyz", "/healthz"]) {
      const anon = await call(s.port, "GET", path, { host: `127.0.0.1:${s.port}` });
      expect(anon.status).toBe(200);
      for (const secret of ["orion", "iris", s.data, llm.url, "127.0.0.1:" + new URL(llm.url).port]) expect(anon.text, path).not.toContain(secret);
    }
    const authed = await call(s.port, "GET", "/readyz", { authorization: `Bearer ${TOKEN}` });
    expect(JSON.parse(authed.text).agents.map((a: { name: string }) => a.name)).toEqual(["orion", "iris"]);
    const unknown = await call(s.port, "GET", "/v1/agents/nope", {});
    expect(unknown.status).toBe(401);
    expect(unknown.text).not.toContain("orion");
  });

  it("rate-limits failed authentications: after 10 wrong tokens, 429 with Retry-After, and the agents keep working", async () => {
    const s = await serve(TOKEN);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(s.port, "GET", "/v1/agents", { authorization: `Bearer guess-${i}` })).status);
    expect(statuses.slice(0, 9)).toEqual(Array(9).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    const blocked = await call(s.port, "GET", "/v1/agents", { authorization: `Bearer guess-x` });
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect(blocked.text).not.toContain("orion");
    await agentsStillWork(s.data, "after-guessing");
  });

  it("refuses a short token off loopback", () => {
    expect(() => parseListenAddress("0.0.0.0:8080", "a")).toThrow(/AGENTOS_API_TOKEN is 1 characters; off loopback it must be at least 32/);
    expect(parseListenAddress("0.0.0.0:8080", TOKEN).loopback).toBe(false);
    expect(parseListenAddress("127.0.0.1:8080", "short").loopback).toBe(true);
  });
});

describe("connections", () => {
  it("drops a slow-body client when the request timeout passes, caps open connections, and keeps serving others", async () => {
    const app = Fastify(serverLimits(400));
    await app.register(boundary, { token: TOKEN, loopback: true });
    app.post("/echo", async (req) => req.body);
    await app.listen({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => app.close());
    expect(app.server.maxConnections).toBe(MAX_CONNECTIONS);
    const port = (app.server.address() as { port: number }).port;
    // Headers with a body length, then one byte, then nothing: the slowloris pattern.
    const slow = connect(port, "127.0.0.1");
    let got = "";
    slow.on("data", (d) => (got += d.toString()));
    const closed = new Promise<void>((r) => slow.on("close", () => r()));
    slow.write(`POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    await closed;
    expect(got).toMatch(/^HTTP\/1\.1 408/);
    const ok = await call(port, "POST", "/echo", { authorization: `Bearer ${TOKEN}` }, JSON.stringify({ a: 1 }));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toEqual({ a: 1 });
  });
});

describe("submitted text cannot change the file's structure", { timeout: 240_000 }, () => {
  const hostile = [
    "Review this:\n```python\ndef f():\n    pass",
    "An HTML comment that never ends <!--\n<!-- and another",
    "Setext trick\n---\n## not-a-task\ntask: injected",
    "   leading spaces on every line\n   kept as written",
    '"quoted"',
    "| starts like a literal",
  ];

  it("serializes every hostile text so it reads back exactly and the next block survives", () => {
    for (const task of hostile) {
      const file = serializeBlock({ id: "h", task, created: "2026-04-29T10:30:00Z" }) + serializeBlock({ id: "next", task: "after", created: "2026-04-29T10:30:00Z" });
      const blocks = parseTaskFile(file, { settled: true }).blocks;
      expect(blocks.map((b) => b.kind === "task" && [b.block.id, b.block.task]), task).toEqual([["h", task], ["next", "after"]]);
    }
  });

  it("an unclosed fence or comment from one client does not swallow the next clients' tasks: all run, each as sent", async () => {
    const s = await serve(TOKEN);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const ids: string[] = [];
    for (const [i, task] of [...hostile.slice(0, 3), "Client two", "Client three", "Client four"].entries()) {
      const r = await call(s.port, "POST", "/v1/agents/orion/tasks", auth, JSON.stringify({ task, id: `c-${i}` }));
      expect(r.status, task).toBe(202);
      ids.push(`c-${i}`);
    }
    const parsed = parseTaskFile(readFileSync(queue(s.data, "orion"), "utf8"), { settled: true }).blocks;
    expect(parsed.filter((b) => b.kind === "invalid")).toEqual([]);
    for (const id of ids) await eventually(() => committed(s.data, "orion", `orion(task): ${id}`), 120_000, `${id} committed`);
    expect(lastCommit(s.data, "orion", "Task-Id: c-0")).toContain("def f():\n    pass");
    for (const id of ids) expect((await call(s.port, "GET", `/v1/agents/orion/tasks/${id}`, auth)).status, id).toBe(200);
  });

  it("refuses NUL and control characters with 400 (API) and exit 2 (enqueue); the agent keeps running", async () => {
    const s = await serve(TOKEN);
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const task of ["nul \u0000 inside", "escape \u001b[31m red", "bell \u0007"]) {
      const r = await call(s.port, "POST", "/v1/agents/orion/tasks", auth, JSON.stringify({ task }));
      expect(r.status, task).toBe(400);
      expect(JSON.parse(r.text).error).toMatch(/control character \(U\+00(00|1B|07)\) on line 1/);
    }
    const cli = runCli(["enqueue", "orion", "--data", s.data, "--task", "esc \u001b here"], baseEnv());
    expect(cli.status).toBe(2);
    expect(cli.stderr).toMatch(/control character \(U\+001B\)/);
    expect(existsSync(queue(s.data, "orion")) ? readFileSync(queue(s.data, "orion"), "utf8") : "").not.toMatch(/[\u0000\u001b\u0007]/);
    await agentsStillWork(s.data, "after-nul");
  });
});
