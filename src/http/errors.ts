// Every error answer of the REST API: a UserError gets the status of its code (the one
// table in ops/errors.ts), what fastify refuses itself (schema, media type, size, JSON)
// is translated to our codes, 404/405 name the path; anything else is a 500 that is logged.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { NAME_PATTERN } from "../config/schema.js";
import { DEAD_LETTER_NAME } from "../ops/dead-letters.js";
import { ERROR_CODES, UserError, type ErrorCode } from "../ops/errors.js";
import { TASK_ID_PATTERN } from "../parse/task-blocks.js";
import type { Logger } from "../log.js";
import { allowedMethods, type ApiRoute } from "./route.js";
import { BODY_LIMIT_BYTES } from "./schemas.js";

/** What fastify refuses on its own, in our codes (the statuses still come from ERROR_CODES). */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_VALIDATION: "AGENTOS_INVALID_REQUEST",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "AGENTOS_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_BODY_TOO_LARGE: "AGENTOS_BODY_TOO_LARGE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "AGENTOS_INVALID_JSON",
  FST_ERR_CTP_INVALID_JSON_BODY: "AGENTOS_INVALID_JSON",
};

/**
 * A body over the limit is read to its end (and thrown away) before the 413 goes out, if
 * it is at most this big: a client still sending it would otherwise find the connection
 * closed under it (EPIPE, "fetch failed") and never see the answer — what nginx's
 * lingering close is for. A bigger one is answered at once; the request timeout bounds
 * a slow one either way.
 */
const DRAIN_TOO_LARGE_BYTES = 8 * 1024 * 1024;

/** Reads the rest of a request body and drops it; resolves at its end, or once over `max` bytes. */
function discardBody(req: FastifyRequest, max: number): Promise<void> {
  const raw = req.raw;
  if (raw.complete || raw.destroyed || Number(req.headers["content-length"] ?? 0) > max) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      raw.off("data", count);
      resolve();
    };
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > max) done();
    };
    raw.on("data", count);
    raw.once("end", done);
    raw.once("error", done);
    raw.once("close", done);
    raw.resume();
  });
}

/** The patterns of our schemas, in words, for "expected ..., got ..." messages. */
const PATTERNS: Record<string, string> = {
  [NAME_PATTERN.source]: "an agent name (1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit)",
  [TASK_ID_PATTERN.source]: "a task id of 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit",
  [DEAD_LETTER_NAME.source]: "a dead letter's file name such as 20260429T100000Z-orion-task-1-a1b2c3.md",
  "\\S": "a text with at least one non-whitespace character",
  "^\\d+\\s*[smhd]$": "a number and a unit such as 30d, 12h, 45m or 90s",
};

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
}

const shown = (v: unknown) => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** One ajv error as `{path, message}`: what was expected, and what was found. */
export function issueOf(e: AjvError, where: string): { path: string; message: string } {
  const field = e.instancePath.split("/").slice(1).join(".");
  const path = where === "body" ? field || "(body)" : `${where === "querystring" ? "query" : where}${field ? `.${field}` : ""}`;
  const got = `got ${shown(e.data)}`;
  switch (e.keyword) {
    case "required":
      return { path: [path === "(body)" ? "" : path, String(e.params.missingProperty)].filter(Boolean).join("."), message: "Required: this field is missing" };
    case "additionalProperties":
      return { path, message: `Unrecognized key: ${JSON.stringify(e.params.additionalProperty)}` };
    case "enum":
      return { path, message: `expected one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join("|")}, ${got}` };
    case "pattern":
      return { path, message: `expected ${PATTERNS[String(e.params.pattern)] ?? `a string matching /${e.params.pattern}/`}, ${got}` };
    case "type":
      return { path, message: `expected ${e.params.type}, ${got}` };
    case "minimum":
    case "maximum":
      return { path, message: `expected a number ${e.params.comparison}${e.params.limit}, ${got}` };
    case "maxLength":
      return { path, message: `expected at most ${e.params.limit} characters, got ${String(e.data).length}` };
    default:
      return { path, message: `${e.message ?? e.keyword}, ${got}` };
  }
}

function send(reply: FastifyReply, code: ErrorCode, error: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return reply.code(ERROR_CODES[code].status).headers(headers).send({ error, code, ...extra });
}

/** Installs the error and not-found handlers; `routes` are every route the server has, for 405's Allow. */
export function installErrorHandlers(app: FastifyInstance, routes: () => ApiRoute[], log: Logger, dataDir: string): void {
  app.setErrorHandler(async (error: FastifyError & { validation?: AjvError[]; validationContext?: string }, req: FastifyRequest, reply: FastifyReply) => {
    // Paths relative to DATA_DIR, as everywhere else in the API: a client has no use for the host's layout.
    if (error instanceof UserError) return send(reply, error.code, error.message.replaceAll(`${dataDir}/`, ""), {}, error.headers);
    if (error.validation) {
      const issues = error.validation.map((e) => issueOf(e, error.validationContext ?? "body"));
      const what = error.validationContext === "body" ? "the body" : error.validationContext === "querystring" ? "the query" : "the path";
      return send(reply, "AGENTOS_INVALID_REQUEST", `${what} does not match the schema (see /openapi.json): ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, { issues });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      log.error(`${req.method} ${req.url} failed: ${error.stack ?? error.message}`);
      return send(reply, "AGENTOS_INTERNAL", "internal error; see the runtime's log");
    }
    const ours = FASTIFY_CODES[error.code] ?? (error instanceof SyntaxError ? "AGENTOS_INVALID_JSON" : undefined);
    if (ours === "AGENTOS_BODY_TOO_LARGE") await discardBody(req, DRAIN_TOO_LARGE_BYTES);
    const message =
      ours === "AGENTOS_BODY_TOO_LARGE" ? `request body is over the limit of ${BODY_LIMIT_BYTES} bytes`
      : ours === "AGENTOS_UNSUPPORTED_MEDIA_TYPE" ? `expected Content-Type: application/json, got '${req.headers["content-type"] ?? "(none)"}'`
      : error.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? 'the request body is empty: expected a JSON object such as {"task": "..."}'
      : ours === "AGENTOS_INVALID_JSON" ? `the request body is not valid JSON: ${error.message}`
      : error.message;
    if (ours) return send(reply, ours, message);
    // Something fastify refused that has no code of ours: its own status and code.
    return reply.code(status).send({ error: message, code: error.code ?? "AGENTOS_FAILED" });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0]!;
    const allow = allowedMethods(routes(), path);
    if (allow.length) {
      return send(reply, "AGENTOS_METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${path}: it answers ${allow.join(", ")}`, {}, { allow: allow.join(", ") });
    }
    return send(reply, "AGENTOS_NO_ROUTE", `no route ${req.method} ${path}; see /openapi.json`);
  });
}
