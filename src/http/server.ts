// The REST API, health and metrics of `agentos run --http ADDR` (fastify + prom-client).
// Owns request validation, auth and mapping of user errors to HTTP statuses; every
// enqueue goes through commands/enqueue.ts (one fsync'd append), never around it.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { NAME_PATTERN, type AgentConfig } from "../config/schema.js";
import { UserError } from "../ops/common.js";
import { findDeadLetters } from "../ops/dead-letters.js";
import { enqueueTask } from "../ops/enqueue.js";
import { readResult } from "../ops/results.js";
import { agentReports, type AgentReport } from "../ops/status.js";
import { parseRewards } from "../store/rewards.js";
import type { Logger } from "../log.js";
import type { Runtime } from "../agent/runtime.js";
import { readTextIfExists } from "../store/files.js";
import { agentPaths } from "../store/layout.js";
import { TASK_ID_PATTERN } from "../parse/task-blocks.js";
import { parseListenAddress } from "./address.js";
import { boundary, isAuthenticated, serverLimits } from "./boundary.js";
import { createMetrics, type RuntimeMetrics } from "./metrics.js";
import { BODY_LIMIT_BYTES, DeadLetterQuery, issuesOf, openApiDocument, TaskRequest } from "./schemas.js";
import { findTask } from "./tasks.js";
import { isDashboardAsset, registerDashboard } from "./dashboard/index.js";

export { createMetrics, parseListenAddress };

export interface HttpOptions {
  addr: string;
  token?: string;
  dataDir: string;
  log: Logger;
  /** The metrics whose events the runtime was built with; created here if absent (then task counters stay 0). */
  metrics?: RuntimeMetrics;
}

/** Seconds a client should wait after a 429: about one task's time, the queue drains one by one. */
const RETRY_AFTER_SECONDS = 30;

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Starts the API on `opts.addr`; resolves to a function that closes it. Throws UserError for a bad address. */
export async function startHttp(runtime: Runtime, opts: HttpOptions): Promise<() => Promise<void>> {
  const listen = parseListenAddress(opts.addr, opts.token);
  const metrics = opts.metrics ?? createMetrics();
  metrics.watch(runtime);
  const started = Date.now();
  const openapi = openApiDocument(VERSION);
  let closing = false;
  // One enqueue at a time per agent, so the depth check and the append cannot interleave.
  const enqueueing = new Map<string, Promise<unknown>>();

  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES, routerOptions: { maxParamLength: 200 }, logger: false, return503OnClosing: true, ...serverLimits() });

  // Host/Origin on loopback, the token, 401 rate limit, connection limits (harden: boundary.ts).
  await app.register(boundary, {
    token: opts.token,
    loopback: listen.loopback,
    isPublic: (path) => path === "/healthz" || path === "/readyz" || path === "/openapi.json" || isDashboardAsset(path),
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (error instanceof HttpError) return reply.code(error.status).headers(error.headers).send({ error: error.message });
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      opts.log.error(`${req.method} ${req.url} failed: ${error.stack ?? error.message}`);
      return reply.code(500).send({ error: "internal error; see the runtime's log" });
    }
    const message =
      error.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? `request body is over the limit of ${BODY_LIMIT_BYTES} bytes`
      : error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? `expected Content-Type: application/json, got '${req.headers["content-type"] ?? "(none)"}'`
      : error.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "the request body is empty: expected a JSON object such as {\"task\": \"...\"}"
      : /JSON/i.test(error.message) ? `the request body is not valid JSON: ${error.message}`
      : error.message;
    return reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split("?")[0]}; see /openapi.json` }));

  const agentNamed = (name: string): AgentConfig => {
    const cfg = NAME_PATTERN.test(name) ? runtime.config.agents.find((a) => a.name === name) : undefined;
    if (!cfg) throw new HttpError(404, `no agent '${name}' in agents.yaml (it has ${runtime.config.agents.map((a) => a.name).join(", ")})`);
    return cfg;
  };
  const depthOf = (cfg: AgentConfig) => runtime.config.iac.backpressure.max_queue_depth_per_agent ?? runtime.config.throughput_classes[cfg.throughput_class].max_queue_depth;
  const withLive = (r: AgentReport) => {
    const live = runtime.agents.get(r.name);
    if (!live) return { ...r, running_here: false };
    const s = live.status();
    return { ...r, running: true, running_here: true, waiting: s.waiting + s.ready, in_flight: s.in_flight, paused: s.paused, tokens: s.tokens };
  };

  app.post<{ Params: { name: string } }>("/v1/agents/:name/tasks", async (req, reply) => {
    const cfg = agentNamed(req.params.name);
    const body = TaskRequest.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ error: "the task does not match the schema (see /openapi.json)", issues: issuesOf(body.error) });
    const previous = enqueueing.get(cfg.name) ?? Promise.resolve();
    const mine = previous.catch(() => {}).then(() => enqueue(cfg, body.data));
    enqueueing.set(cfg.name, mine);
    const { id } = await mine.finally(() => {
      if (enqueueing.get(cfg.name) === mine) enqueueing.delete(cfg.name);
    });
    const url = `/v1/agents/${cfg.name}/tasks/${id}`;
    return reply.code(202).header("location", url).send({ id, agent: cfg.name, status: "queued", url });
  });

  async function enqueue(cfg: AgentConfig, body: TaskRequest): Promise<{ id: string }> {
    const bp = runtime.config.iac.backpressure;
    if (bp.enabled) {
      // Count from the files, not the 10 s status snapshot: what is in queue.md, the inbox
      // and handoffs and not yet done is what the agent still has to work through.
      const [report] = await agentReports(opts.dataDir, { ...runtime.config, agents: [cfg] });
      const depth = depthOf(cfg);
      if (report!.pending >= depth) {
        throw new HttpError(429, `queue full: ${cfg.name} holds ${report!.pending} unfinished task(s), its max_queue_depth is ${depth}; retry later`, { "retry-after": String(RETRY_AFTER_SECONDS) });
      }
    }
    try {
      return await enqueueTask(opts.dataDir, runtime.config, { agent: cfg.name, task: body.task, id: body.id, priority: body.priority, ttlSeconds: body.ttl_seconds });
    } catch (err) {
      if (err instanceof UserError) throw new HttpError(err.exitCode === 3 ? 409 : 400, err.message);
      throw err;
    }
  }

  app.get("/v1/agents", async () => ({ agents: (await agentReports(opts.dataDir, runtime.config)).map(withLive) }));

  app.get<{ Params: { name: string } }>("/v1/agents/:name", async (req) => {
    const cfg = agentNamed(req.params.name);
    const [report] = await agentReports(opts.dataDir, { ...runtime.config, agents: [cfg] });
    const rewards = parseRewards((await readTextIfExists(agentPaths(opts.dataDir, cfg.name).rewards)) ?? "").entries.slice(-10);
    return { ...withLive(report!), throughput_class: cfg.throughput_class, max_queue_depth: depthOf(cfg), recent_rewards: rewards };
  });

  app.get<{ Params: { name: string; id: string } }>("/v1/agents/:name/tasks/:id", async (req) => {
    const cfg = agentNamed(req.params.name);
    const id = req.params.id;
    if (!TASK_ID_PATTERN.test(id)) throw new HttpError(400, `invalid task id '${id}': expected 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit`);
    const found = await findTask(opts.dataDir, runtime.config, cfg.name, id, runtime.agents.get(cfg.name));
    if (!found) throw new HttpError(404, `no task '${id}' for ${cfg.name}: not queued, running, done or dead-lettered`);
    return found;
  });

  app.get<{ Params: { name: string; id: string } }>("/v1/agents/:name/results/:id", async (req, reply) => {
    const cfg = agentNamed(req.params.name);
    const id = req.params.id;
    if (!TASK_ID_PATTERN.test(id)) throw new HttpError(400, `invalid task id '${id}': expected 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit`);
    const found = await readResult(opts.dataDir, cfg.name, id);
    if (!found) throw new HttpError(404, `no result for task '${id}' of ${cfg.name} (not in results/ nor in git history)`);
    return reply.type("text/markdown; charset=utf-8").header("x-agentos-result-path", found.path).send(found.text);
  });

  app.get("/v1/dead-letters", async (req) => {
    const q = DeadLetterQuery.safeParse(req.query ?? {});
    if (!q.success) throw new HttpError(400, `bad filter: ${issuesOf(q.error).map((i) => `${i.path}: ${i.message}`).join("; ")}`);
    const list = await findDeadLetters(opts.dataDir, runtime.config, q.data);
    return {
      dead_letters: list.map((d) => ({
        file: relative(opts.dataDir, d.file),
        reason: d.reason,
        agent: d.agent,
        task_id: d.taskId,
        source: d.source,
        first_seen: d.firstSeen,
        at: d.at,
        attempts: d.attempts,
        last_error: d.lastError,
        original: d.original,
        requeued: d.requeued,
      })),
    };
  });

  app.get("/healthz", async () => ({ status: "ok", uptime_seconds: Math.round((Date.now() - started) / 1000), agents: runtime.agents.size }));

  app.get("/readyz", async (req, reply) => {
    const agents = [...runtime.agents.values()].map((a) => ({ name: a.name, paused: a.isPaused }));
    const problems: string[] = [];
    if (closing || !runtime.isRunning) problems.push("the runtime is not running (starting or shutting down)");
    if (!agents.length) problems.push("this process runs no agents");
    for (const a of runtime.agents.values()) if (a.isPaused) problems.push(`agent '${a.name}' is paused: ${a.status().paused?.reason ?? "provider refuses work"}`);
    // Without the token: ready or not, nothing about agents, providers or paths.
    if (!isAuthenticated(req)) return reply.code(problems.length ? 503 : 200).send({ ready: !problems.length, problems: [], agents: [] });
    return reply.code(problems.length ? 503 : 200).send({ ready: !problems.length, problems, agents });
  });

  app.get("/metrics", async (_req, reply: FastifyReply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get("/openapi.json", async (_req: FastifyRequest) => openapi);

  const closeDashboard = registerDashboard(app, { runtime, dataDir: opts.dataDir, log: opts.log, tokenRequired: !!opts.token });

  await app.listen({ host: listen.host, port: listen.port });
  const address = app.server.address();
  const shown = typeof address === "object" && address ? `${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}` : opts.addr;
  opts.log.info(`REST API listening on http://${shown}${opts.token ? " (bearer token required)" : ""}`);
  return async () => {
    closing = true;
    closeDashboard();
    await app.close();
  };
}
