// The REST API's schemas (zod): request validation, the TypeScript types, and the
// OpenAPI document served at /openapi.json (and rendered into docs/api.md) all come
// from here, so the docs cannot drift from what the server accepts.
import * as z from "zod";
import { NAME_PATTERN, Priority } from "../config/schema.js";
import { DEAD_LETTER_REASONS } from "../store/dead-letters.js";
import { TASK_ID_PATTERN } from "../parse/task-blocks.js";

/** Largest request body accepted (bytes); a task text near it is a prompt no model takes anyway. */
export const BODY_LIMIT_BYTES = 1024 * 1024;
export const MAX_TASK_CHARS = 512 * 1024;

export const TaskRequest = z
  .strictObject({
    id: z.string().regex(TASK_ID_PATTERN, "Expected a task id of 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit").optional().describe("Unique per agent; generated when omitted"),
    task: z.string().trim().min(1, "Expected a non-empty task text").max(MAX_TASK_CHARS, `Expected a task text of at most ${MAX_TASK_CHARS} characters`).describe("What to do (markdown)"),
    priority: Priority.optional().describe("high | normal | low (default normal)"),
    ttl_seconds: z.int().min(1).max(365 * 86400).optional().describe("Dead-letter the task (reason expired) if it has not started this many seconds after it was accepted"),
  })
  .describe("A task for one agent");
export type TaskRequest = z.infer<typeof TaskRequest>;

export const TaskAccepted = z.object({
  id: z.string(),
  agent: z.string(),
  status: z.literal("queued"),
  url: z.string().describe("Where to follow the task: GET it until status is done or dead"),
});

export const ErrorBody = z.object({
  error: z.string().describe("What went wrong and what was expected"),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe("Each invalid field of the body"),
});

const RewardOut = z.object({ reward: z.int(), task: z.string(), at: z.string(), audit: z.int().optional(), reason: z.string().optional() });

export const AgentSummary = z.object({
  name: z.string(),
  running: z.boolean().describe("Some runtime holds a fresh lease on this agent"),
  running_here: z.boolean().describe("This process runs the agent (Compose: each container runs one)"),
  pending: z.int().describe("Task blocks in its queue.md, inbox and handoffs not yet done or dead-lettered"),
  waiting: z.int(),
  in_flight: z.int(),
  done: z.int(),
  paused: z.object({ reason: z.string(), since: z.string() }).optional().describe("Set while the provider refuses work; tasks stay queued"),
  tokens: z
    .object({ today: z.int(), prompt: z.int(), completion: z.int(), total: z.int(), reasoning: z.int().optional(), perDay: z.int().optional() })
    .optional()
    .describe("Tokens the provider reported: today (UTC), since the runtime started, and budget.tokens_per_day if set"),
  last_reward: RewardOut.optional(),
  totals: z.object({ plus: z.int(), zero: z.int(), minus: z.int(), disagreed: z.int().describe("Outcomes whose reward audit differed from the agent's own reward") }),
  skills: z.array(z.object({ slug: z.string(), evidence: z.number(), last_success: z.string() })),
  goals: z.array(z.string()),
  problems: z.array(z.string()),
});

export const AgentDetail = AgentSummary.extend({
  throughput_class: z.string(),
  max_queue_depth: z.int(),
  recent_rewards: z.array(RewardOut).describe("The last 10 lines of rewards.md, newest last"),
});

export const TaskStatus = z.object({
  id: z.string(),
  agent: z.string(),
  status: z.enum(["queued", "running", "done", "dead"]),
  state: z.enum(["in_file", "waiting", "ready", "running", "retrying"]).optional().describe("queued/running: where it is. in_file: in a task file, not yet picked up by this process; when another process (container) runs the agent, its tasks show as in_file until they are done or dead"),
  attempts: z.int().optional(),
  last_error: z.string().optional(),
  source: z.string().optional().describe("queued: the file holding the block, relative to DATA_DIR"),
  reward: z.int().optional().describe("done: the reward recorded in rewards.md (absent once trimmed)"),
  result: z.string().optional().describe("done: the content of its result file (results/<xx>/<id>.md)"),
  dead_letter: z
    .object({ reason: z.enum(DEAD_LETTER_REASONS), at: z.string(), attempts: z.int(), last_error: z.string().optional(), file: z.string() })
    .optional()
    .describe("dead: why and where"),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

export const DeadLetterOut = z.object({
  file: z.string().describe("Relative to DATA_DIR"),
  reason: z.enum(DEAD_LETTER_REASONS),
  agent: z.string(),
  task_id: z.string().optional(),
  source: z.string(),
  first_seen: z.string(),
  at: z.string(),
  attempts: z.int(),
  last_error: z.string().optional(),
  original: z.string().describe("The block exactly as it was written"),
  requeued: z.array(z.string()).optional(),
});

export const DeadLetterQuery = z.strictObject({
  agent: z.string().regex(NAME_PATTERN, "Expected an agent name").optional(),
  reason: z.enum(DEAD_LETTER_REASONS).optional(),
});

export const Health = z.object({ status: z.literal("ok"), uptime_seconds: z.number(), agents: z.int() });
export const Ready = z.object({
  ready: z.boolean(),
  problems: z.array(z.string()).describe("Why it is not ready: stopping, no agents, an agent paused by its provider"),
  agents: z.array(z.object({ name: z.string(), paused: z.boolean() })),
});

/** Turns zod issues into the `issues` of an ErrorBody. */
export function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.length ? i.path.join(".") : "(body)", message: i.message }));
}

const json = (s: z.ZodType, io: "input" | "output" = "output") => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
};

interface Route {
  method: "get" | "post";
  path: string;
  summary: string;
  auth: boolean;
  body?: z.ZodType;
  query?: z.ZodObject;
  responses: Record<number, { description: string; schema?: z.ZodType; text?: boolean; headers?: Record<string, string> }>;
}

const err = (description: string) => ({ description, schema: ErrorBody });
const AUTH = { 401: err("Missing or wrong `Authorization: Bearer <AGENTOS_API_TOKEN>` (only when a token is set)") };

export const ROUTES: Route[] = [
  {
    method: "post",
    path: "/v1/agents/{name}/tasks",
    summary: "Queue a task for an agent. It is appended to the agent's queue.md with one fsync'd write before the 202, so a crash right after the answer loses nothing.",
    auth: true,
    body: TaskRequest,
    responses: {
      202: { description: "Accepted and durable; follow it at `url`", schema: TaskAccepted, headers: { Location: "The task's status URL" } },
      400: err("The body is not valid JSON or does not match the schema"),
      ...AUTH,
      404: err("No such agent in agents.yaml"),
      409: err("The id is already queued for this agent, or was already used"),
      413: err("The body is over the limit (1 MiB)"),
      415: err("The body is not application/json"),
      429: { description: "Backpressure: the agent already holds max_queue_depth unfinished tasks. Retry after `Retry-After` seconds.", schema: ErrorBody, headers: { "Retry-After": "Seconds to wait" } },
    },
  },
  { method: "get", path: "/v1/agents", summary: "Every agent in agents.yaml: status, skills, goals, last reward", auth: true, responses: { 200: { description: "The agents", schema: z.object({ agents: z.array(AgentSummary) }) }, ...AUTH } },
  { method: "get", path: "/v1/agents/{name}", summary: "One agent: status, skills, goals, recent rewards", auth: true, responses: { 200: { description: "The agent", schema: AgentDetail }, ...AUTH, 404: err("No such agent") } },
  {
    method: "get",
    path: "/v1/agents/{name}/tasks/{id}",
    summary: "Where a task is: queued (in a file or in the scheduler), running, done (with its result) or dead (with the dead letter)",
    auth: true,
    responses: { 200: { description: "The task's status", schema: TaskStatus }, 400: err("The id is not a valid task id"), ...AUTH, 404: err("No such agent, or no task with this id") },
  },
  {
    method: "get",
    path: "/v1/agents/{name}/results/{id}",
    summary: "A task's result (markdown) by its id: from results/ in the agent's repository, else from git history",
    auth: true,
    responses: { 200: { description: "The result file; its path in the data dir is in `X-AgentOS-Result-Path`", text: true, headers: { "X-AgentOS-Result-Path": "Where the result is, relative to the data dir" } }, 400: err("The id is not a valid task id"), ...AUTH, 404: err("No such agent, or no result for this id") },
  },
  { method: "get", path: "/v1/dead-letters", summary: "Dead letters, oldest first", auth: true, query: DeadLetterQuery, responses: { 200: { description: "The dead letters", schema: z.object({ dead_letters: z.array(DeadLetterOut) }) }, 400: err("Bad filter"), ...AUTH } },
  { method: "get", path: "/healthz", summary: "Liveness: the process answers (no token needed)", auth: false, responses: { 200: { description: "Alive", schema: Health } } },
  { method: "get", path: "/readyz", summary: "Readiness: agents bootstrapped, watchers up, no agent paused by its provider (no token needed)", auth: false, responses: { 200: { description: "Ready", schema: Ready }, 503: { description: "Not ready; `problems` says why", schema: Ready } } },
  { method: "get", path: "/metrics", summary: "Prometheus metrics (text exposition format)", auth: true, responses: { 200: { description: "Metrics", text: true }, ...AUTH } },
  { method: "get", path: "/openapi.json", summary: "This document (no token needed)", auth: false, responses: { 200: { description: "OpenAPI 3.1 document" } } },
];

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name,
      in: "path",
      required: true,
      schema: name === "name" ? { type: "string", pattern: NAME_PATTERN.source } : { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" },
    }));
    if (r.query) {
      for (const [name, s] of Object.entries(r.query.shape)) params.push({ name, in: "query", required: false, schema: json(s as z.ZodType) as never });
    }
    const responses: Record<string, unknown> = {};
    for (const [code, res] of Object.entries(r.responses)) {
      responses[code] = {
        description: res.description,
        ...(res.headers ? { headers: Object.fromEntries(Object.entries(res.headers).map(([h, d]) => [h, { description: d, schema: { type: "string" } }])) } : {}),
        ...(res.schema ? { content: { "application/json": { schema: json(res.schema) } } } : res.text ? { content: { "text/plain": { schema: { type: "string" } } } } : {}),
      };
    }
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: json(r.body, "input") } } } } : {}),
      ...(r.auth ? {} : { security: [] }),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "AgentOS REST API", version, description: "Queue tasks for agents and watch them. Served by `agentos run --http ADDR` (or HTTP_ADDR)." },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "AGENTOS_API_TOKEN; required when the token is set (always when listening beyond loopback)" } } },
    security: [{ bearer: [] }],
    paths,
  };
}
