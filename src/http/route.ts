// A route of the REST API as one object that carries its schemas (fastify's model):
// fastify validates requests and serialises responses with the JSON schemas derived
// from its zod schemas, and the OpenAPI document is generated from the same objects.
// A file of routes exports a list; `registerRoutes` registers a list with one call.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import * as z from "zod";
import type { Runtime } from "../agent/runtime.js";
import type { Logger } from "../log.js";
import type { RuntimeMetrics } from "./metrics.js";
import { ErrorBody } from "./schemas.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ResponseSpec {
  description: string;
  /** A JSON body: validated against in tests, and fastify serialises it with this schema. */
  schema?: z.ZodType;
  /** Another media type (its body is sent as is), e.g. `text/plain` for /metrics. */
  media?: string;
  headers?: Record<string, string>;
}

/** What every handler may use: one runtime, its data directory, its metrics. */
export interface ApiContext {
  dataDir: string;
  runtime: Runtime;
  metrics: RuntimeMetrics;
  log: Logger;
  /** Milliseconds since the epoch when the API started. */
  started: number;
  /** True once the server is shutting down. */
  closing(): boolean;
  /** The OpenAPI document of every route registered on this server. */
  openapi(): Record<string, unknown>;
}

type In<T> = T extends z.ZodType ? z.input<T> : undefined;

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: FastifyRequest;
  reply: FastifyReply;
  ctx: ApiContext;
}

export interface ApiRoute {
  method: Method;
  /** fastify's syntax: `/v1/agents/:name`; the OpenAPI path is `/v1/agents/{name}`. */
  url: string;
  operationId: string;
  summary: string;
  /** Reachable without the bearer token (probes, this document). */
  public?: boolean;
  /** Left out of /openapi.json (assets of the dashboard). */
  hidden?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The body may be left out (read as `{}`): a POST that needs no input, such as a requeue. */
  bodyOptional?: boolean;
  /** The route's own answers; the errors every route shares (400, 401, 413, 415) are added by `responsesOf`. */
  responses: Record<number, ResponseSpec>;
  handler(input: HandlerInput<never, never, never>): Promise<unknown>;
}

/** Declares a route; the handler's `params`, `query` and `body` are typed from the schemas. */
export function defineRoute<P extends z.ZodObject | undefined = undefined, Q extends z.ZodObject | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  route: Omit<ApiRoute, "params" | "query" | "body" | "handler"> & { params?: P; query?: Q; body?: B; handler(input: HandlerInput<In<P>, In<Q>, In<B>>): Promise<unknown> },
): ApiRoute {
  return route as unknown as ApiRoute;
}

/** The JSON Schema fastify, ajv and the OpenAPI document all use for a zod schema. */
export function jsonSchema(s: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  // draft-07: the dialect of fastify's ajv; OpenAPI 3.1 accepts it as written.
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, target: "draft-07", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

const err = (description: string): ResponseSpec => ({ description, schema: ErrorBody });

/** A route's answers including the shared errors (the boundary's among them), in status order: what fastify serialises and OpenAPI lists. */
export function responsesOf(r: ApiRoute): Record<number, ResponseSpec> {
  const out: Record<number, ResponseSpec> = { ...r.responses };
  if (r.params || r.query || r.body) out[400] ??= err("A parameter or the body does not match the schema; `issues` names each field (code AGENTOS_INVALID_REQUEST, AGENTOS_INVALID_JSON)");
  out[401] ??= err(
    r.public
      ? "A wrong `Authorization: Bearer` token was sent (AGENTOS_UNAUTHORIZED); this route needs none"
      : "Missing or wrong `Authorization: Bearer <AGENTOS_API_TOKEN>`, when a token is set (AGENTOS_UNAUTHORIZED)",
  );
  out[403] ??= err("No token is set and the request comes from a web page of another origin (AGENTOS_CROSS_ORIGIN)");
  out[421] ??= err("No token is set and the Host is not a loopback name such as localhost or 127.0.0.1 (AGENTOS_NOT_LOOPBACK_HOST)");
  out[429] ??= { description: "Too many wrong tokens from this address (AGENTOS_TOO_MANY_FAILURES); retry after `Retry-After` seconds", schema: ErrorBody, headers: { "Retry-After": "Seconds to wait" } };
  if (r.body) {
    out[413] ??= err("The body is over the limit (1 MiB)");
    out[415] ??= err("The body is not `application/json`");
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => Number(a) - Number(b)));
}

/** `/v1/agents/:name` → `/v1/agents/{name}`. */
export const openApiPath = (url: string) => url.replace(/:(\w+)/g, "{$1}");

/** Registers routes on `app`; each is validated and serialised by fastify with its own schemas. */
export function registerRoutes(app: FastifyInstance, routes: ApiRoute[], ctx: ApiContext): void {
  for (const r of routes) {
    const response: Record<number, unknown> = {};
    for (const [code, res] of Object.entries(responsesOf(r))) if (res.schema) response[Number(code)] = jsonSchema(res.schema, "output");
    app.route({
      method: r.method,
      url: r.url,
      config: { public: r.public === true, operationId: r.operationId },
      schema: {
        ...(r.params ? { params: jsonSchema(r.params, "input") } : {}),
        ...(r.query ? { querystring: jsonSchema(r.query, "input") } : {}),
        ...(r.body ? { body: jsonSchema(r.body, "input") } : {}),
        response,
      },
      ...(r.bodyOptional
        ? {
            preValidation: async (req: FastifyRequest) => {
              req.body ??= {};
            },
          }
        : {}),
      handler: (req, reply) => r.handler({ params: req.params as never, query: req.query as never, body: req.body as never, req, reply, ctx }),
    });
  }
}

/** The methods `path` answers to among `routes` (HEAD with GET, as fastify exposes it); empty if none. */
export function allowedMethods(routes: ApiRoute[], path: string): string[] {
  const methods = new Set<string>();
  for (const r of routes) {
    const pattern = new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:\w+/g, "[^/]+")}$`);
    if (!pattern.test(path)) continue;
    methods.add(r.method);
    if (r.method === "GET") methods.add("HEAD");
  }
  return [...methods];
}
