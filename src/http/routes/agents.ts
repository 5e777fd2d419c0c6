// Agents: every agent's report, or one agent's with its recent rewards (ops/status.ts).
import * as z from "zod";
import { agentDetail, agentReports } from "../../ops/status.js";
import { defineRoute, type ApiRoute } from "../route.js";
import { AgentDetail, AgentParams, AgentSummary, ErrorBody } from "../schemas.js";

export const agentRoutes: ApiRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/agents",
    operationId: "listAgents",
    summary: "Every agent in agents.yaml: status, skills, goals, last reward",
    responses: { 200: { description: "The agents", schema: z.object({ agents: z.array(AgentSummary) }) } },
    handler: async ({ ctx }) => ({ agents: await agentReports(ctx.dataDir, ctx.runtime.config, ctx.runtime.agents) }),
  }),
  defineRoute({
    method: "GET",
    url: "/v1/agents/:name",
    operationId: "getAgent",
    summary: "One agent: status, skills, goals, recent rewards",
    params: AgentParams,
    responses: { 200: { description: "The agent", schema: AgentDetail }, 404: { description: "No such agent (AGENTOS_UNKNOWN_AGENT)", schema: ErrorBody } },
    handler: async ({ params, ctx }) => agentDetail(ctx.dataDir, ctx.runtime.config, params.name, ctx.runtime.agents),
  }),
];
