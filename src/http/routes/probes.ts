// What operators and tools ask: liveness, readiness, Prometheus metrics, this API's
// OpenAPI document. Health, readiness and the document need no token.
import { isAuthenticated } from "../boundary.js";
import { defineRoute, type ApiRoute } from "../route.js";
import { Health, Ready } from "../schemas.js";

export const probeRoutes: ApiRoute[] = [
  defineRoute({
    method: "GET",
    url: "/healthz",
    operationId: "getHealth",
    summary: "Liveness: the process answers (no token needed)",
    public: true,
    responses: { 200: { description: "Alive", schema: Health } },
    handler: async ({ ctx }) => ({ status: "ok", uptime_seconds: Math.round((Date.now() - ctx.started) / 1000), agents: ctx.runtime.agents.size }),
  }),
  defineRoute({
    method: "GET",
    url: "/readyz",
    operationId: "getReadiness",
    summary: "Readiness: agents bootstrapped, watchers up, no agent paused by its provider (no token needed)",
    public: true,
    responses: { 200: { description: "Ready", schema: Ready }, 503: { description: "Not ready; `problems` says why (empty, like `agents`, without the token when one is set)", schema: Ready } },
    async handler({ req, reply, ctx }) {
      const live = [...ctx.runtime.agents.values()];
      const problems: string[] = [];
      if (ctx.closing() || !ctx.runtime.isRunning) problems.push("the runtime is not running (starting or shutting down)");
      if (!live.length) problems.push("this process runs no agents");
      for (const a of live) if (a.isPaused) problems.push(`agent '${a.name}' is paused: ${a.status().paused?.reason ?? "provider refuses work"}`);
      // Without the token: ready or not, nothing about agents, providers or paths.
      if (!isAuthenticated(req)) return reply.code(problems.length ? 503 : 200).send({ ready: !problems.length, problems: [], agents: [] });
      return reply.code(problems.length ? 503 : 200).send({ ready: !problems.length, problems, agents: live.map((a) => ({ name: a.name, paused: a.isPaused })) });
    },
  }),
  defineRoute({
    method: "GET",
    url: "/metrics",
    operationId: "getMetrics",
    summary: "Prometheus metrics (text exposition format)",
    responses: { 200: { description: "Metrics", media: "text/plain" } },
    handler: async ({ reply, ctx }) => reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  }),
  defineRoute({
    method: "GET",
    url: "/openapi.json",
    operationId: "getOpenApi",
    summary: "This document (no token needed)",
    public: true,
    responses: { 200: { description: "OpenAPI 3.1 document", media: "application/json" } },
    handler: async ({ ctx }) => ctx.openapi(),
  }),
];
