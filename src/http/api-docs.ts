// Renders docs/api.md from the OpenAPI document (the route objects) and the table of
// error codes, so the API reference is generated, never hand-edited: `npm run docs:api`
// writes it, a test checks it is current.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ERROR_CODES } from "../ops/errors.js";
import { openApiDocument } from "./openapi.js";
import { API_ROUTES } from "./routes/index.js";

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[]; const?: unknown; pattern?: string; description?: string; default?: unknown; minimum?: number; maximum?: number; minLength?: number; maxLength?: number; anyOf?: Schema[]; additionalProperties?: unknown };

function typeOf(s: Schema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((e) => `\`${String(e)}\``).join(" \\| ");
  if (s.anyOf) return s.anyOf.map(typeOf).join(" or ");
  if (s.type === "array") return `array of ${s.items ? typeOf(s.items) : "any"}`;
  return Array.isArray(s.type) ? s.type.join(" or ") : (s.type ?? "any");
}

function constraints(s: Schema): string {
  const c: string[] = [];
  if (s.pattern) c.push(`pattern \`${s.pattern}\``);
  // zod marks every int with the safe-integer range; that is noise in a table.
  if (s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER) c.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) c.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined) c.push(`length ≥ ${s.minLength}`);
  if (s.maxLength !== undefined) c.push(`length ≤ ${s.maxLength}`);
  if (s.default !== undefined) c.push(`default \`${JSON.stringify(s.default)}\``);
  return c.join(", ");
}

/** One table row per field; nested objects and arrays of objects get dotted paths. */
function fieldRows(s: Schema, prefix = ""): string[] {
  const rows: string[] = [];
  for (const [name, f] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${name}`;
    const required = s.required?.includes(name) ? "yes" : "no";
    const text = [f.description, constraints(f)].filter(Boolean).join("; ").replace(/\|/g, "\\|").replace(/\n/g, " ");
    rows.push(`| \`${path}\` | ${f.type === "object" ? "object" : typeOf(f)} | ${required} | ${text} |`);
    if (f.type === "object" && f.properties) rows.push(...fieldRows(f, `${path}.`));
    if (f.type === "array" && f.items?.type === "object") rows.push(...fieldRows(f.items, `${path}[].`));
  }
  return rows;
}

function table(s: Schema): string[] {
  const rows = fieldRows(s);
  if (!rows.length) return [];
  return ["| Field | Type | Required | Notes |", "|---|---|---|---|", ...rows, ""];
}

export function renderApiDocs(doc = openApiDocument(API_ROUTES, "")): string {
  const out: string[] = [
    "# REST API",
    "",
    "<!-- Generated from the route objects in src/http/routes/ and src/ops/errors.ts by `npm run docs:api`; do not edit by hand. -->",
    "",
    "Served by `agentos run --http 127.0.0.1:8080` (or `HTTP_ADDR`). The OpenAPI 3.1 document is at",
    "`GET /openapi.json`. When `AGENTOS_API_TOKEN` is set every route except `/healthz`, `/readyz` and",
    "`/openapi.json` needs `Authorization: Bearer $AGENTOS_API_TOKEN`; the server refuses to listen on a",
    "non-loopback address without a token. Errors are JSON: `{\"error\": \"what went wrong\", \"code\": \"AGENTOS_...\", \"issues\": [...]}`",
    "(the codes are listed at the end). Request bodies are `application/json` (anything else is a 415), at most 1 MiB.",
    "A known path asked with a method it does not have answers 405 with an `Allow` header; an unknown path, 404.",
    "Requests are validated, and responses serialised, with the JSON schemas shown here (the same ones /openapi.json has).",
    "",
    "```sh",
    "curl -s -X POST http://127.0.0.1:8080/v1/agents/orion/tasks \\",
    "  -H \"Authorization: Bearer $AGENTOS_API_TOKEN\" -H 'content-type: application/json' \\",
    "  -d '{\"id\": \"review-42\", \"task\": \"Review this endpoint for SQL injection ...\", \"priority\": \"high\"}'",
    "# 202 {\"id\":\"review-42\",\"agent\":\"orion\",\"status\":\"queued\",\"url\":\"/v1/agents/orion/tasks/review-42\"}",
    "curl -s -H \"Authorization: Bearer $AGENTOS_API_TOKEN\" http://127.0.0.1:8080/v1/agents/orion/tasks/review-42",
    "```",
    "",
  ];
  const paths = doc.paths as Record<string, Record<string, { summary: string; operationId: string; parameters?: { name: string; in: string; schema: Schema }[]; requestBody?: { content: Record<string, { schema: Schema }> }; security?: unknown[]; responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }> }>>;
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      out.push(`## ${method.toUpperCase()} ${path}`, "", `${op.summary} (\`${op.operationId}\`)`, "");
      if (op.security) out.push("No token needed.", "");
      if (op.parameters?.length) {
        out.push("| Parameter | In | Schema |", "|---|---|---|");
        for (const p of op.parameters) out.push(`| \`${p.name}\` | ${p.in} | ${[typeOf(p.schema), constraints(p.schema)].filter(Boolean).join(", ").replace(/\|/g, "\\|")} |`);
        out.push("");
      }
      const body = op.requestBody?.content["application/json"]?.schema;
      if (body) out.push("Request body (`application/json`):", "", ...table(body));
      out.push("| Status | Meaning |", "|---|---|");
      for (const [code, r] of Object.entries(op.responses)) {
        const headers = r.headers ? ` (headers: ${Object.keys(r.headers).map((h) => `\`${h}\``).join(", ")})` : "";
        out.push(`| ${code} | ${r.description.replace(/\|/g, "\\|")}${headers} |`);
      }
      out.push("");
      const ok = Object.entries(op.responses).find(([c]) => c.startsWith("2"));
      const okSchema = ok?.[1].content?.["application/json"]?.schema;
      if (okSchema?.properties) out.push(`Response ${ok![0]}:`, "", ...table(okSchema));
    }
  }
  out.push("## Error codes", "", "The same codes are used by the CLI (`agentos: ...` and its exit code) and the API (`code` and the HTTP status).", "");
  out.push("| Code | HTTP status | CLI exit code | Meaning |", "|---|---|---|---|");
  for (const [code, e] of Object.entries(ERROR_CODES)) out.push(`| \`${code}\` | ${e.status} | ${e.exit} | ${e.meaning.replace(/\|/g, "\\|")} |`);
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = fileURLToPath(new URL("../../docs/api.md", import.meta.url));
  const text = renderApiDocs();
  const before = (() => {
    try {
      return readFileSync(target, "utf8");
    } catch {
      return "";
    }
  })();
  if (before !== text) writeFileSync(target, text);
  console.log(`${before === text ? "up to date" : "wrote"}: ${target}`);
}
