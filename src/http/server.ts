// The REST API, health and metrics of `agentos run --http ADDR` (fastify + prom-client).
// Owns request validation, auth and mapping of user errors to HTTP statuses; every
// enqueue goes through commands/enqueue.ts (one fsync'd append), never around it.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { findDeadLetters } from "../ops/dead-letters.js";
import { enqueueTask } from "../ops/enqueue.js";
import { findResult } from "../ops/results.js";
import { UserError } from "../ops/errors.js";
import { agentDetail, agentReports } from "../ops/status.js";
import { findTask } from "../ops/tasks.js";
import type { Logger } from "../log.js";
import type { Runtime } from "../agent/runtime.js";
import { parseListenAddress } from "./address.js";
import { boundary, isAuthenticated, serverLimits } from "./boundary.js";
import { createMetrics, type RuntimeMetrics } from "./metrics.js";
import { BODY_LIMIT_BYTES, DeadLetterQuery, issuesOf, openApiDocument, TaskRequest } from "./schemas.js";
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

  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES, routerOptions: { maxParamLength: 200 }, logger: false, return503OnClosing: true, ...serverLimits() });

  // Host/Origin on loopback, the token, 401 rate limit, connection limits (harden: boundary.ts).
  await app.register(boundary, {
    token: opts.token,
    loopback: listen.loopback,
    isPublic: (path) => path === "/healthz" || path === "/readyz" || path === "/openapi.json" || isDashboardAsset(path),
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (error instanceof HttpError) return reply.code(error.status).headers(error.headers).send({ error: error.message });
    if (error instanceof UserError) return reply.code(error.status).headers(error.headers).send({ error: error.message });
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

  app.post<{ Params: { name: string } }>("/v1/agents/:name/tasks", async (req, reply) => {
    const body = TaskRequest.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ error: "the task does not match the schema (see /openapi.json)", issues: issuesOf(body.error) });
    const { id, agent } = await enqueueTask(opts.dataDir, runtime.config, { agent: req.params.name, task: body.data.task, id: body.data.id, priority: body.data.priority, ttlSeconds: body.data.ttl_seconds, noWait: true });
    const url = `/v1/agents/${agent}/tasks/${id}`;
    return reply.code(202).header("location", url).send({ id, agent, status: "queued", url });
  });

  app.get("/v1/agents", async () => ({ agents: await agentReports(opts.dataDir, runtime.config, runtime.agents) }));

  app.get<{ Params: { name: string } }>("/v1/agents/:name", async (req) => agentDetail(opts.dataDir, runtime.config, req.params.name, runtime.agents));

  app.get<{ Params: { name: string; id: string } }>("/v1/agents/:name/tasks/:id", async (req) => findTask(opts.dataDir, runtime.config, req.params.name, req.params.id, runtime.agents));

  app.get<{ Params: { name: string; id: string } }>("/v1/agents/:name/results/:id", async (req, reply) => {
    const found = await findResult(opts.dataDir, runtime.config, req.params.id, req.params.name);
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
