// The browser dashboard's server side: its files at `/`, the overview stream
// (GET /v1/events) and the read-only JSON routes its pages need. Every change the page
// makes (enqueue, requeue, purge) goes through the API's own routes, with their checks.
import type { FastifyInstance } from "fastify";
import type { Runtime } from "../../agent/runtime.js";
import type { Logger } from "../../log.js";
import { loadAssets, SECURITY_HEADERS } from "./assets.js";
import { MAX_LISTENERS, OverviewStream } from "./events.js";
import { AgentHistories } from "./history.js";
import { DeadLetterCache, overview, overviewFingerprint, type DashboardContext } from "./overview.js";
import { HistoryQuery } from "./schemas.js";
import { agentNamed, historyOf, httpError, lastPromptOf, learningOf } from "./views.js";

export { isDashboardAsset } from "./assets.js";

export interface DashboardOptions {
  runtime: Runtime;
  dataDir: string;
  log: Logger;
  /** Whether the API wants a bearer token: the page then asks for it before any request. */
  tokenRequired: boolean;
}

/** Adds the dashboard's routes to `app`; the returned function ends open event streams (call it before app.close()). */
export function registerDashboard(app: FastifyInstance, opts: DashboardOptions): () => void {
  const ctx: DashboardContext = { runtime: opts.runtime, dataDir: opts.dataDir, histories: new AgentHistories(), deadLetters: new DeadLetterCache() };
  const build = async () => ({ at: new Date().toISOString(), agents: await overview(ctx) });
  const stream = new OverviewStream(build, () => overviewFingerprint(ctx), opts.log);
  const assets = loadAssets();

  app.get("/", async (req, reply) => serve("/", req.headers["if-none-match"], reply));
  app.get<{ Params: { file: string } }>("/dashboard/:file", async (req, reply) => serve(`/dashboard/${req.params.file}`, req.headers["if-none-match"], reply));
  function serve(path: string, ifNoneMatch: string | undefined, reply: import("fastify").FastifyReply) {
    const asset = assets.get(path);
    reply.headers(SECURITY_HEADERS);
    if (!asset) {
      if (path === "/") return reply.code(503).type("text/plain; charset=utf-8").send("The dashboard was not built: run `npm run build` (it bundles dashboard/ into dist/dashboard/).\n");
      throw httpError(404, `no dashboard file ${path}`);
    }
    // Revalidated on every load (no hashed names): a new version is picked up at once.
    reply.header("cache-control", "no-cache").header("etag", asset.etag);
    if (ifNoneMatch === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  }

  // Public like the page itself: it says only whether to ask for a token, so the page does
  // not have to provoke a 401 (a console error in every browser) to find out.
  app.get("/dashboard/access.json", async (_req, reply) => reply.headers(SECURITY_HEADERS).header("cache-control", "no-store").send({ token_required: opts.tokenRequired }));

  app.get("/v1/overview", async () => build());

  app.get("/v1/events", async (req, reply) => {
    if (stream.listeners >= MAX_LISTENERS) throw httpError(503, `too many event listeners (${MAX_LISTENERS}); close a dashboard tab`);
    reply.hijack();
    stream.add(reply.raw);
  });

  app.get<{ Params: { name: string } }>("/v1/agents/:name/learning", async (req) => {
    const cfg = agentNamed(opts.runtime, req.params.name);
    return learningOf(opts.dataDir, opts.runtime, cfg.name);
  });

  app.get<{ Params: { name: string } }>("/v1/agents/:name/history", async (req) => {
    const cfg = agentNamed(opts.runtime, req.params.name);
    const q = HistoryQuery.safeParse(req.query ?? {});
    if (!q.success) throw httpError(400, `bad query: ${q.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    return historyOf(opts.dataDir, ctx.histories, cfg.name, q.data);
  });

  app.get<{ Params: { name: string } }>("/v1/agents/:name/prompt", async (req) => lastPromptOf(opts.runtime, agentNamed(opts.runtime, req.params.name).name));

  return () => stream.close();
}
