// The browser dashboard's server side, as route objects (route.ts): its page and files
// (public, left out of /openapi.json: code, never data), the overview and its event stream,
// and the read-only JSON its pages need. Every change the page makes (enqueue, requeue,
// purge) goes through the API's own routes, with their checks.
import type { FastifyReply } from "fastify";
import * as z from "zod";
import { isAuthenticated } from "../boundary.js";
import { defineRoute, type ApiContext, type ApiRoute } from "../route.js";
import { AgentParams, ErrorBody } from "../schemas.js";
import { loadAssets, SECURITY_HEADERS } from "./assets.js";
import { MAX_LISTENERS, OverviewStream } from "./events.js";
import { AgentHistories } from "./history.js";
import { DeadLetterCache, overview, overviewFingerprint, type DashboardContext } from "./overview.js";
import { History, HistoryQuery, Learning, Overview, PromptAnswer } from "./schemas.js";
import { UserError } from "../../ops/errors.js";
import { agentNamed, historyOf, lastPromptOf, learningOf } from "./views.js";

export { isDashboardAsset } from "./assets.js";

const FileParams = z.object({ file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/).describe("A file of the built dashboard") });
const Access = z.object({ token_required: z.boolean() });
const noAgent = { description: "No such agent (AGENTOS_UNKNOWN_AGENT)", schema: ErrorBody };

/** What one server's dashboard keeps between requests: caches and the shared event stream. */
interface State {
  histories: AgentHistories;
  deadLetters: DeadLetterCache;
  stream?: OverviewStream;
}
const states = new WeakMap<ApiContext, State>();
const stateOf = (ctx: ApiContext): State => {
  let s = states.get(ctx);
  if (!s) states.set(ctx, (s = { histories: new AgentHistories(), deadLetters: new DeadLetterCache() }));
  return s;
};
const contextOf = (ctx: ApiContext): DashboardContext => ({ runtime: ctx.runtime, dataDir: ctx.dataDir, ...stateOf(ctx) });
const build = async (ctx: ApiContext): Promise<Overview> => ({ at: new Date().toISOString(), agents: await overview(contextOf(ctx)) });

/** Ends the server's open event streams: call it before app.close(), which would wait for them. */
export function closeDashboard(ctx: ApiContext): void {
  states.get(ctx)?.stream?.close();
}

const assets = loadAssets();

function serve(path: string, ifNoneMatch: string | undefined, reply: FastifyReply) {
  const asset = assets.get(path);
  reply.headers(SECURITY_HEADERS);
  if (!asset) {
    if (path === "/") return reply.code(503).type("text/plain; charset=utf-8").send("The dashboard was not built: run `npm run build` (it bundles dashboard/ into dist/dashboard/).\n");
    throw new UserError(`no dashboard file ${path}`, "AGENTOS_NO_ROUTE");
  }
  // Revalidated on every load (no hashed names): a new version is picked up at once.
  reply.header("cache-control", "no-cache").header("etag", asset.etag);
  if (ifNoneMatch === asset.etag) return reply.code(304).send();
  return reply.type(asset.type).send(asset.body);
}

export const DASHBOARD_ROUTES: ApiRoute[] = [
    defineRoute({
      method: "GET",
      url: "/",
      operationId: "dashboardPage",
      summary: "The dashboard's page (docs/dashboard.md)",
      public: true,
      hidden: true,
      responses: { 200: { description: "The page", media: "text/html" }, 503: { description: "The dashboard was not built", media: "text/plain" } },
      handler: async ({ req, reply }) => serve("/", req.headers["if-none-match"], reply),
    }),
    defineRoute({
      method: "GET",
      url: "/dashboard/access.json",
      operationId: "dashboardAccess",
      summary: "Whether the page must ask for the token: public like the page, so it need not provoke a 401 to find out",
      public: true,
      hidden: true,
      responses: { 200: { description: "Whether the API wants a bearer token", schema: Access } },
      // Asked without a token: a request is authenticated without one only when the API has none.
      handler: async ({ req, reply }) => {
        reply.headers(SECURITY_HEADERS).header("cache-control", "no-store");
        return { token_required: !isAuthenticated(req) };
      },
    }),
    defineRoute({
      method: "GET",
      url: "/dashboard/:file",
      operationId: "dashboardFile",
      summary: "A file of the dashboard (its script and stylesheet)",
      public: true,
      hidden: true,
      params: FileParams,
      responses: { 200: { description: "The file", media: "text/javascript" }, 404: { description: "No such file", schema: ErrorBody } },
      handler: async ({ params, req, reply }) => serve(`/dashboard/${params.file}`, req.headers["if-none-match"], reply),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/overview",
      operationId: "getOverview",
      summary: "The dashboard's overview: per agent its state (running, paused and why, stopped), queue, in flight, retrying, dead letters, last reward, reward trend, tokens today",
      responses: { 200: { description: "The overview", schema: Overview } },
      handler: async ({ ctx }) => build(ctx),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/events",
      operationId: "streamOverview",
      summary: "Server-sent events: an `overview` event (the body of GET /v1/overview) on connect and whenever it changes; a comment line every 15 s",
      responses: { 200: { description: "text/event-stream, open until the client leaves", media: "text/event-stream" }, 503: { description: `Already ${MAX_LISTENERS} listeners (AGENTOS_TOO_MANY_LISTENERS)`, schema: ErrorBody } },
      handler: async ({ reply, ctx }) => {
        const state = stateOf(ctx);
        const stream = (state.stream ??= new OverviewStream(() => build(ctx), () => overviewFingerprint(contextOf(ctx)), ctx.log));
        if (stream.listeners >= MAX_LISTENERS) throw new UserError(`too many event listeners (${MAX_LISTENERS}); close a dashboard tab`, "AGENTOS_TOO_MANY_LISTENERS");
        reply.hijack();
        stream.add(reply.raw);
        return reply;
      },
    }),
    defineRoute({
      method: "GET",
      url: "/v1/agents/:name/learning",
      operationId: "getAgentLearning",
      summary: "What an agent has learned: skills with evidence and decayed evidence, archived skills, goals (active, completed, displaced), reflections",
      params: AgentParams,
      responses: { 200: { description: "Its learning files, parsed", schema: Learning }, 404: noAgent },
      handler: async ({ params, ctx }) => learningOf(ctx.dataDir, ctx.runtime, agentNamed(ctx.runtime, params.name).name),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/agents/:name/history",
      operationId: "getAgentHistory",
      summary: "An agent's recent git history (subjects, bodies, trailers; newest first) and the Reward/Audit series of its task commits (oldest first)",
      params: AgentParams,
      query: HistoryQuery,
      responses: { 200: { description: "Commits and rewards", schema: History }, 404: noAgent },
      handler: async ({ params, query, ctx }) =>
        historyOf(ctx.dataDir, stateOf(ctx).histories, agentNamed(ctx.runtime, params.name).name, { limit: query.limit === undefined ? undefined : Number(query.limit), task: query.task }),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/agents/:name/prompt",
      operationId: "getAgentPrompt",
      summary: "The prompt this process last sent to the model for the agent, section by section with token counts (null when it has sent none, or does not run the agent)",
      params: AgentParams,
      responses: { 200: { description: "The prompt, or why there is none", schema: PromptAnswer }, 404: noAgent },
      handler: async ({ params, ctx }) => lastPromptOf(ctx.runtime, agentNamed(ctx.runtime, params.name).name),
    }),
];
