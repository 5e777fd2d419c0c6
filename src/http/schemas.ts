// The REST API's schemas (zod). Converted once to JSON Schema (route.ts), they are what
// fastify validates requests and serialises responses with, and what the OpenAPI
// document at /openapi.json (and docs/api.md) shows, so the docs cannot drift.
import * as z from "zod";
import { NAME_PATTERN, Priority } from "../config/schema.js";
import { DEAD_LETTER_REASONS } from "../store/dead-letters.js";
import { TASK_ID_PATTERN } from "../parse/task-blocks.js";
import { DEAD_LETTER_NAME } from "../ops/dead-letters.js";

/** Largest request body accepted (bytes); a task text near it is a prompt no model takes anyway. */
export const BODY_LIMIT_BYTES = 1024 * 1024;
export const MAX_TASK_CHARS = 512 * 1024;

export const AgentName = z.string().regex(NAME_PATTERN).describe("An agent of agents.yaml");
export const TaskId = z.string().regex(TASK_ID_PATTERN).describe("1-128 letters, digits, '.', '-' or '_', starting with a letter or digit");
export const DeadLetterName = z.string().regex(DEAD_LETTER_NAME).describe("A dead letter's file name, as `name` in the list");

export const AgentParams = z.object({ name: AgentName });
export const TaskParams = z.object({ name: AgentName, id: TaskId });
export const DeadLetterParams = z.object({ file: DeadLetterName });

export const TaskRequest = z
  .strictObject({
    id: TaskId.optional().describe("Unique per agent; generated when omitted"),
    // Whitespace only is refused (400), and the schema says so: the pattern needs one visible character.
    task: z.string().max(MAX_TASK_CHARS).regex(/\S/).describe("What to do (markdown); at least one non-whitespace character"),
    priority: Priority.optional().describe("high | normal | low (default normal)"),
    ttl_seconds: z.int().min(1).max(365 * 86400).optional().describe("Dead-letter the task (reason expired) if it has not started this many seconds after it was accepted"),
  })
  .describe("A task for one agent");

export const TaskAccepted = z.object({
  id: z.string(),
  agent: z.string(),
  status: z.literal("queued"),
  url: z.string().describe("Where to follow the task: GET it until status is done or dead"),
});

export const ErrorBody = z.object({
  error: z.string().describe("What went wrong and what was expected"),
  code: z.string().describe("AGENTOS_* (see Error codes), or FST_* for what fastify refused on its own"),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe("Each invalid field of the body"),
});

const RewardOut = z.object({ reward: z.int(), task: z.string(), at: z.string(), audit: z.int().optional(), reason: z.string().optional() });

export const AgentSummary = z.object({
  name: z.string(),
  running: z.boolean().describe("Some runtime holds a fresh lease on this agent"),
  unknown: z.string().optional().describe("Why running is false although a runtime may hold the agent (a fresh lease whose pid cannot be seen from here)"),
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

export const DeadLetterOut = z.object({
  name: DeadLetterName,
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
  agent: AgentName.optional().describe("Only this agent's"),
  reason: z.enum(DEAD_LETTER_REASONS).optional().describe("Only this reason"),
});

export const RequeueRequest = z.strictObject({
  to: AgentName.optional().describe("Send the task(s) to this agent instead of the letter's own"),
});
export const Requeued = z.object({
  id: z.string().describe("The ids put back, comma-separated"),
  agent: z.string(),
  file: z.string().describe("The inbox message file they went to, relative to DATA_DIR"),
});

export const PurgeRequest = z.strictObject({
  older_than: z.string().regex(/^\d+\s*[smhd]$/).describe("An age such as 30d, 12h, 45m or 90s"),
  agent: AgentName.optional().describe("Only this agent's"),
  reason: z.enum(DEAD_LETTER_REASONS).optional().describe("Only this reason"),
});
export const Purged = z.object({ purged: z.array(z.string()).describe("The files deleted, relative to DATA_DIR") });

export const Health = z.object({ status: z.literal("ok"), uptime_seconds: z.number(), agents: z.int() });
export const Ready = z.object({
  ready: z.boolean(),
  problems: z.array(z.string()).describe("Why it is not ready: stopping, no agents, an agent paused by its provider"),
  agents: z.array(z.object({ name: z.string(), paused: z.boolean() })),
});
