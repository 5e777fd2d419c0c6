// The OpenAPI 3.1 document, generated from the same route objects (and so the same
// JSON schemas) that fastify validates and serialises with. Served at /openapi.json and
// rendered into docs/api.md.
import type * as z from "zod";
import { jsonSchema, openApiPath, responsesOf, type ApiRoute } from "./route.js";
import { ErrorBody } from "./schemas.js";

export function openApiDocument(routes: ApiRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (r.hidden) continue;
    const parameters: Record<string, unknown>[] = [];
    for (const [where, obj] of [["path", r.params], ["query", r.query]] as const) {
      const schema = obj && (jsonSchema(obj, "input") as { properties?: Record<string, Record<string, unknown>>; required?: string[] });
      for (const [name, s] of Object.entries(schema?.properties ?? {})) {
        const { description, ...rest } = s;
        parameters.push({ name, in: where, required: where === "path" || !!schema?.required?.includes(name), ...(description ? { description } : {}), schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [code, res] of Object.entries(responsesOf(r))) {
      responses[code] = {
        description: res.description,
        ...(res.headers ? { headers: Object.fromEntries(Object.entries(res.headers).map(([h, d]) => [h, { description: d, schema: { type: "string" } }])) } : {}),
        ...(res.schema ? { content: { "application/json": { schema: jsonSchema(res.schema, "output") } } } : res.media ? { content: { [res.media]: { schema: res.media === "application/json" ? { type: "object" } : { type: "string" } } } } : {}),
      };
    }
    paths[openApiPath(r.url)] ??= {};
    paths[openApiPath(r.url)]![r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: !r.bodyOptional, content: { "application/json": { schema: jsonSchema(r.body as z.ZodType, "input") } } } } : {}),
      ...(r.public ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "AgentOS REST API",
      version,
      description:
        "Queue tasks for agents and watch them. Served by `agentos run --http ADDR` (or HTTP_ADDR). A known path asked with a method it does not have answers 405 with `Allow`; an unknown path 404. Every error is an Error object.",
    },
    servers: [{ url: "/", description: "The server that serves this document (agentos run --http ADDR)" }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "AGENTOS_API_TOKEN; required when the token is set (always when listening beyond loopback)" } },
      schemas: { Error: jsonSchema(ErrorBody, "output") },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
