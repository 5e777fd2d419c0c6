// A scripted OpenAI-compatible server on 127.0.0.1: the only stand-in in our tests
// and benchmarks. It answers by the AgentOS response schema, and can be told to be
// slow, fail, hang, reset connections or return garbage.
//
// Directives in a task's text steer its answer (deterministic, no randomness):
//   [reward:-1] [reward:0]      the reward (default 1)
//   [skill:name]                claim this skill (default: none; `[skill]` = from the task id)
//   [no-steps]                  claim the skill with no steps
//   [handoff:agent]             hand a follow-up to that agent
//   [share:segment]             append a note to a shared segment
//   [goal:text] [complete:text] add / complete a goal
//   [reflect:text]              a reflection
//   [delay:MS]                  answer after MS milliseconds
//   [status:CODE] [status:CODExN]  answer with HTTP CODE (every time, or the first N times)
//   [garbage] [garbagexN]       content that is not JSON (every time / first N times)
//   [bad-schema]                JSON that fails the schema
//   [answer:text]               the answer text
//
// Usable from vitest (`await scriptedLlm()`: one server per test file, reset after each
// test) and from the command line for manual runs, benchmarks and the Docker smoke test:
// `node test/support/llm-server.ts --port 8099 [--latency 50]`. Erasable TypeScript only,
// and vitest is imported only by scriptedLlm(), so Node runs it without a build step.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  /** performance.timeOrigin + performance.now() when the request arrived (ms, sub-ms precision). */
  at: number;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  taskId?: string;
  taskText?: string;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** Raw body; default: a chat completion whose content is `content`. */
  body?: string;
  content?: string;
  delayMs?: number;
  /** Destroy the socket without answering. */
  reset?: boolean;
  /** Never answer (the client's timeout must fire). */
  hang?: boolean;
}

export interface ServerOptions {
  port?: number;
  host?: string;
  /** Fixed latency added to every answer (ms). */
  latencyMs?: number;
  /** Answer 400 to response_format json_schema (like providers that do not support it). */
  rejectJsonSchema?: boolean;
}

export interface LlmServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** The requests that carried this task (its step, repairs and retries; grader calls too). */
  requestsFor(taskId: string): RecordedRequest[];
  /** This task's answer as the directives make it, with these fields replaced (e.g. a handoff of a handoff). */
  answerWith(taskId: string, fields: Record<string, unknown>): void;
  /** Replies used, in order, for the next requests (before directives apply). */
  queueReplies(...r: Reply[]): void;
  /** Replace the whole behaviour: return a Reply, or undefined for the default. */
  script(fn: ((req: RecordedRequest, n: number) => Reply | undefined) | undefined): void;
  setLatency(ms: number): void;
  /** Back to the directives alone: no script, queued replies or answerWith, the starting latency. Requests are kept. */
  reset(): void;
  close(): Promise<void>;
}

export function answerFor(taskId: string, text: string): Record<string, unknown> {
  const d = (name: string) => new RegExp(`\\[${name}(?::([^\\]]*))?\\]`).exec(text);
  const reward = d("reward") ? Number(d("reward")![1]) : 1;
  const skillDirective = d("skill");
  const skillName = skillDirective ? (skillDirective[1] ?? taskId.replace(/[-_]?\d+$/, "")) : undefined;
  const handoff = d("handoff");
  const share = d("share");
  const goal = d("goal");
  const complete = d("complete");
  const reflect = d("reflect");
  const answer = d("answer")?.[1] ?? `Scripted answer for ${taskId}: done as asked, with the details the task requested.`;
  return {
    answer,
    reward,
    reward_reason: reward === 1 ? "the task was completed as asked" : reward === 0 ? "only part of the task could be done" : "the approach did not work",
    skill: skillName
      ? { name: skillName, summary: `How to do ${skillName}`, steps: d("no-steps") ? [] : ["look at the input", "apply the pattern", "check the result"], tags: ["scripted"] }
      : null,
    reflection: reflect ? (reflect[1] ?? "do it better") : reward === -1 ? `Task ${taskId} failed; try a different approach.` : null,
    goals: goal || complete ? { add: goal?.[1] ? [goal[1]] : [], complete: complete?.[1] ? [complete[1]] : [] } : null,
    handoff: handoff ? { to: handoff[1], task: `Follow-up of ${taskId}: please check the result.`, priority: "normal" } : null,
    share: share ? { segment: share[1], note: `note from ${taskId}` } : null,
  };
}

function completion(content: string, model: string): string {
  return JSON.stringify({
    id: "chatcmpl-scripted",
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  });
}

export async function startLlmServer(opts: ServerOptions = {}): Promise<LlmServer> {
  const requests: RecordedRequest[] = [];
  const queued: Reply[] = [];
  const overrides = new Map<string, Record<string, unknown>>();
  const seenPerTask = new Map<string, number>();
  let scripted: ((req: RecordedRequest, n: number) => Reply | undefined) | undefined;
  let latency = opts.latencyMs ?? 0;
  const hanging = new Set<ServerResponse>();

  const decide = (rec: RecordedRequest): Reply => {
    const n = requests.length - 1;
    const s = scripted?.(rec, n);
    if (s) return s;
    const q = queued.shift();
    if (q) return q;
    const text = rec.taskText ?? "";
    const id = rec.taskId ?? "task";
    const seen = (seenPerTask.get(id) ?? 0) + 1;
    seenPerTask.set(id, seen);
    const times = (m: RegExpExecArray | null) => (m?.[2] ? Number(m[2]) : Infinity);
    const delay = /\[delay:(\d+)\]/.exec(text);
    const delayMs = delay ? Number(delay[1]) : 0;
    const status = /\[status:(\d{3})(?:x(\d+))?\]/.exec(text);
    if (status && seen <= times(status)) {
      const code = Number(status[1]);
      return { status: code, delayMs, body: JSON.stringify({ error: { message: `scripted ${code}` } }), headers: code === 429 ? { "retry-after": "0" } : {} };
    }
    const garbage = /\[garbage(?:()x(\d+))?\]/.exec(text);
    if (garbage && seen <= times(garbage)) return { content: "this is not JSON at all", delayMs };
    if (/\[bad-schema\]/.test(text)) return { content: JSON.stringify({ answer: 42, reward: 7 }), delayMs };
    const body = { ...answerFor(id, text), ...overrides.get(id) };
    // Without json_schema, answer the way many models do: JSON inside a fence.
    const plain = !rec.body?.response_format;
    const content = plain ? "Here you go:\n```json\n" + JSON.stringify(body, null, 2) + "\n```" : JSON.stringify(body);
    return { content, delayMs };
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const at = performance.timeOrigin + performance.now();
    const path = req.url ?? "/";
    const route = path.split("?")[0]!; // a base URL may carry a query (Azure's ?api-version=)
    if (req.method === "GET" && route.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: "scripted", object: "model" }] }));
      return;
    }
    if (req.method !== "POST" || !route.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.method} ${path}` } }));
      return;
    }
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400).end(JSON.stringify({ error: { message: "invalid JSON body" } }));
      return;
    }
    const user = [...(body.messages ?? [])].reverse().find((m: any) => m.role === "user")?.content ?? "";
    const first = (body.messages ?? []).filter((m: any) => m.role === "user")[0]?.content ?? user;
    const m = /^## Task (\S+)/m.exec(first);
    const rec: RecordedRequest = { at, path, headers: req.headers, body, taskId: m?.[1], taskText: first };
    requests.push(rec);
    if (opts.rejectJsonSchema && body.response_format?.type === "json_schema") {
      res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "response_format json_schema is not supported by this model" } }));
      return;
    }
    const reply = decide(rec);
    const send = () => {
      if (reply.reset) return void req.socket.destroy();
      if (reply.hang) return void hanging.add(res);
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...(reply.headers ?? {}) });
      res.end(reply.body ?? completion(reply.content ?? "", body.model ?? "scripted"));
    };
    const wait = latency + (reply.delayMs ?? 0);
    if (wait > 0) setTimeout(send, wait);
    else send();
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    requestsFor: (taskId) => requests.filter((r) => r.taskId === taskId),
    answerWith: (taskId, fields) => void overrides.set(taskId, fields),
    queueReplies: (...r) => void queued.push(...r),
    script: (fn) => void (scripted = fn),
    setLatency: (ms) => void (latency = ms),
    reset: () => {
      scripted = undefined;
      queued.length = 0;
      overrides.clear();
      latency = opts.latencyMs ?? 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * For a vitest file: a server started now, reset after each test (see reset()) and closed
 * after the file's last test. `const llm = await scriptedLlm();` at the top of the file.
 */
export async function scriptedLlm(opts: ServerOptions = {}): Promise<LlmServer> {
  const { afterAll, afterEach } = await import("vitest");
  const server = await startLlmServer(opts);
  afterEach(() => server.reset());
  afterAll(() => server.close());
  return server;
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const s = await startLlmServer({ port: Number(arg("port") ?? 8099), host: arg("host") ?? "127.0.0.1", latencyMs: Number(arg("latency") ?? 0) });
  console.log(`scripted LLM server at ${s.url}`);
  process.on("SIGTERM", () => void s.close().then(() => process.exit(0)));
  process.on("SIGINT", () => void s.close().then(() => process.exit(0)));
}
