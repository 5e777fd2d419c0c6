// The zod schemas for agents.yaml and the environment: the single source of
// validation, TypeScript types and the configuration reference (docs/configuration.md).
import * as z from "zod";

/** Agent and segment names become directory names: keep them boring and safe. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const safeName = (what: string) =>
  z
    .string()
    .regex(
      NAME_PATTERN,
      `Expected ${what} to be 1-63 lowercase letters, digits, '-' or '_' (starting with a letter or digit)`,
    );

export const AgentName = safeName("an agent name");
export const SegmentName = safeName("a segment name");
export const Priority = z.enum(["high", "normal", "low"]);
export type Priority = z.infer<typeof Priority>;
export const ThroughputClassName = z.enum(["slow", "medium", "fast"]);
export type ThroughputClassName = z.infer<typeof ThroughputClassName>;

export const ResponseFormat = z.enum(["auto", "json_schema", "json_object", "none"]);
/** A number from 0 to 2, or `default`: send no temperature (reasoning models accept only their own). */
export const Temperature = z.union([z.literal("default"), z.coerce.number().min(0).max(2)]);
export const MaxTokensParam = z.enum(["max_tokens", "max_completion_tokens"]);

/** An http(s) URL: `file:`, `javascript:` and other schemes are refused. */
export const HttpUrl = z.url({ protocol: /^https?$/, error: "Expected an http:// or https:// URL" });

/**
 * Variables an agents.yaml may not send as a key: the runtime's own (the API token, the
 * global key, which needs `send_global_key`) and well-known credentials of other systems.
 */
export const FORBIDDEN_KEY_ENV = /^(AGENTOS_|LLM_|AWS_|AZURE_|GOOGLE_|GCP_|GITHUB_|GH_|GITLAB_|CI_|NPM_|DOCKER_|KUBE|SSH_|GPG_)/;

export const AgentLlmOverride = z
  .strictObject({
    model: z.string().min(1).optional().describe("Model name for this agent (overrides LLM_MODEL)"),
    base_url: HttpUrl.optional().describe("OpenAI-compatible base URL (overrides LLM_BASE_URL); gets no key unless api_key_env or send_global_key says so"),
    api_key_env: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*(KEY|TOKEN)$/, "Expected the name of an environment variable ending in KEY or TOKEN, e.g. OLLAMA_KEY")
      .refine((v) => !FORBIDDEN_KEY_ENV.test(v), {
        error: "Expected a variable of this agent's own, not one of AgentOS's (AGENTOS_*, LLM_*: use send_global_key for LLM_API_KEY) or another system's credentials",
      })
      .optional()
      .describe("Name of the environment variable holding this agent's API key (ends in KEY or TOKEN)"),
    response_format: ResponseFormat.optional().describe("auto (negotiate: json_schema, then json_object, then none) or force one (overrides LLM_RESPONSE_FORMAT)"),
    temperature: Temperature.optional().describe("Sampling temperature, or `default` to send none (overrides LLM_TEMPERATURE)"),
    max_tokens_param: MaxTokensParam.optional().describe("max_tokens or max_completion_tokens (overrides LLM_MAX_TOKENS_PARAM)"),
    send_global_key: z.boolean().default(false).describe("Send LLM_API_KEY to this agent's own base_url too (off: a base_url of its own gets no key unless api_key_env names one)"),
  })
  .describe("Per-agent provider override");

export const AgentConfig = z.strictObject({
  name: AgentName.describe("Unique identifier; also the directory name under agents/"),
  persona: z.string().min(1, "Expected a persona: who the agent is").describe("Identity and mandate, written into persona.md"),
  domain: z.string().default("").describe("Area of expertise"),
  tone: z.string().default("").describe("Communication style"),
  hints: z.array(z.string()).default([]).describe("Seed pointers, not skills: areas to explore"),
  goals: z.array(z.string()).default([]).describe("Seed goals; real goals emerge from failures"),
  constraints: z.array(z.string()).default([]).describe("Extra rules added to constraints.md"),
  throughput_class: ThroughputClassName.default("medium").describe("slow | medium | fast: concurrency, queue depth and rate"),
  segments: z.array(SegmentName).default([]).describe("shared/segments/<name>.md included in the prompt"),
  llm: AgentLlmOverride.optional(),
  budget: z
    .strictObject({
      tokens_per_day: z.int().min(1).optional().describe("Tokens (prompt + completion, as the provider reports them) this agent may spend per UTC day; then it pauses until midnight UTC"),
    })
    .optional()
    .describe("Spending limit of this agent"),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

export const ThroughputClass = z.strictObject({
  concurrency: z.int().min(1).max(64).describe("Tasks run at the same time"),
  max_queue_depth: z.int().min(1).max(100_000).describe("Ready tasks held in memory; the rest wait in their files (answered tasks waiting for their group commit do not count, up to 32 or as many again)"),
  per_minute: z.int().min(1).optional().describe("Optional rate limit: LLM steps started per minute"),
});
export type ThroughputClass = z.infer<typeof ThroughputClass>;

export const DEFAULT_CLASSES: Record<ThroughputClassName, ThroughputClass> = {
  slow: { concurrency: 1, max_queue_depth: 5 },
  medium: { concurrency: 2, max_queue_depth: 10 },
  fast: { concurrency: 4, max_queue_depth: 20 },
};

const Iac = z.strictObject({
  default_message_ttl: z.int().min(1).default(300).describe("Seconds before an inbox or handoff message expires"),
  dead_letter_path: z
    .string()
    .min(1)
    .default("shared/iac/dead_letters/")
    .check((ctx) => {
      const problem = deadLetterPathProblem(ctx.value);
      if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
    })
    .describe("Where dead letters go, relative to DATA_DIR, outside agents/ and the watched shared/ folders"),
  max_hops: z.int().min(0).default(3).describe("Handoff chain length before a message is dead-lettered (hop_limit)"),
  backpressure: z
    .strictObject({
      enabled: z.boolean().default(true).describe("Hold at most max_queue_depth ready tasks per agent; the rest wait in their files"),
      max_queue_depth_per_agent: z.int().min(1).optional().describe("Overrides every class's max_queue_depth"),
      aging_seconds: z.int().min(1).default(60).describe("Waiting this long lifts a task one priority level"),
    })
    .prefault({}),
});

export const AgentsFile = z
  .strictObject({
    agents: z.array(AgentConfig).min(1, "Expected at least one agent under `agents:`"),
    throughput_classes: z
      .strictObject({
        slow: ThroughputClass.default(DEFAULT_CLASSES.slow),
        medium: ThroughputClass.default(DEFAULT_CLASSES.medium),
        fast: ThroughputClass.default(DEFAULT_CLASSES.fast),
      })
      .prefault({}),
    iac: Iac.prefault({}),
    skills: z
      .strictObject({
        max_entries: z.int().min(1).default(20).describe("Skills kept in skills.md; the weakest is archived to skills/archive/"),
        decay_halflife_days: z.number().positive().default(14).describe("Evidence halves every this many days without a success; a huge value disables decay"),
      })
      .prefault({}),
    goals: z.strictObject({ max_active: z.int().min(1).default(5).describe("Active goals; a new one displaces the oldest") }).prefault({}),
    rewards: z.strictObject({ keep_last: z.int().min(1).default(30).describe("Reward lines kept in rewards.md (older ones stay in git)") }).prefault({}),
    reflections: z.strictObject({ keep_last: z.int().min(1).default(15).describe("Reflections kept in reflections.md") }).prefault({}),
    reward_audit: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Score every outcome a second time and record it beside the agent's own"),
        method: z.enum(["rule_based", "llm"]).default("rule_based").describe("rule_based (deterministic) or llm (a second, short grader call)"),
      })
      .prefault({}),
    watchdog: z
      .strictObject({
        negative_streak: z.int().min(1).default(3).describe("Consecutive -1 rewards that trigger an escalation"),
        webhook_url: HttpUrl.optional().describe("POSTed a JSON event on escalation (failures are logged, never fatal)"),
      })
      .prefault({}),
    prompt: z.strictObject({ max_tokens: z.int().min(500).default(6000).describe("Prompt budget; what does not fit is left out, least relevant first") }).prefault({}),
    tasks: z
      .strictObject({
        max_attempts: z.int().min(1).default(3).describe("Failures before a task goes to dead letters (delivery_limit)"),
        retry_delay_ms: z.int().min(0).default(2000).describe("Wait before a failed task runs again; doubles with each attempt"),
        settle_ms: z
          .int()
          .min(0)
          .default(500)
          .describe("A block without a trailing `created:` line runs after the file is quiet this long"),
        keep_results: z
          .int()
          .min(0)
          .default(1000)
          .describe("results/ keeps the newest this many results; older ones stay in git history (`agentos result <id>` finds them). 0 keeps every one"),
      })
      .prefault({}),
    watch: z
      .strictObject({
        poll: z.boolean().default(false).describe("Poll instead of inotify (NFS, Docker Desktop bind mounts)"),
        reconcile_seconds: z.int().min(1).default(30).describe("Safety-net rescan for events the watcher missed"),
      })
      .prefault({}),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, number>();
    file.agents.forEach((agent, i) => {
      const first = seen.get(agent.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["agents", i, "name"],
          message: `Duplicate agent name '${agent.name}' (first defined as agents[${first}]); names must be unique`,
        });
      } else seen.set(agent.name, i);
    });
  });
export type AgentsFile = z.infer<typeof AgentsFile>;

const intFromEnv = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const Env = z.object({
  DATA_DIR: z.string().min(1).default("data").describe("Where agents.yaml and everything else lives (/data in the image)"),
  LLM_API_KEY: z.string().optional().describe("Sent as a Bearer token; never logged"),
  LLM_API_KEY_FILE: z.string().optional().describe("Read the key from this file (Docker secrets)"),
  LLM_BASE_URL: HttpUrl.default("https://api.openai.com/v1").describe("Any OpenAI-compatible endpoint (http or https)"),
  LLM_MODEL: z.string().min(1).default("gpt-4o").describe("Model name; `offline` for the built-in offline model"),
  LLM_MAX_TOKENS: intFromEnv(2048).describe("max_tokens of each request"),
  LLM_TIMEOUT: z.coerce.number().positive().default(60).describe("Seconds to wait for one LLM answer"),
  LLM_MAX_REPLY_BYTES: intFromEnv(4 * 1024 * 1024).describe("Largest provider reply read; a longer one is cut off and the step fails"),
  LLM_MAX_RETRIES: z.coerce.number().int().min(0).default(4).describe("Retries of one LLM call on 429, 5xx, resets and timeouts; past them the agent pauses and probes"),
  LLM_RESPONSE_FORMAT: ResponseFormat.default("auto").describe("auto negotiates json_schema, then json_object, then none per provider and model; or force one"),
  LLM_TEMPERATURE: Temperature.default(0.2).describe("Sampling temperature, or `default` to send none; a model that refuses it is sent none"),
  LLM_MAX_TOKENS_PARAM: MaxTokensParam.default("max_tokens").describe("Name of the reply-length parameter (o-series and gpt-5 want max_completion_tokens; the other is tried when refused)"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info").describe("Least important level printed"),
  LOG_FORMAT: z.enum(["text", "json"]).default("text").describe("text (the seed's format) or json (one object per line)"),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(30).describe("On SIGTERM, how long running tasks may finish"),
  AGENTOS_WATCH_POLL: z.stringbool().optional().describe("1 to poll files instead of inotify (same as --poll)"),
  HTTP_ADDR: z.string().optional().describe("Serve the REST API at host:port (same as --http)"),
  AGENTOS_API_TOKEN: z.string().optional().describe("Bearer token the REST API requires (mandatory off loopback, at least 32 characters there)"),
  AGENTOS_CRASH_AT: z.string().optional().describe("Test hook: kill -9 ourselves at a named point, e.g. after-llm@2"),
});
export type Env = z.infer<typeof Env>;

/**
 * Why a dead_letter_path cannot be used, or undefined: it must stay inside DATA_DIR and
 * out of what the runtime watches or commits (a letter written where messages are read
 * would be read again, for ever).
 */
export function deadLetterPathProblem(path: string): string | undefined {
  const p = path.replace(/\\/g, "/");
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return `Expected a path relative to DATA_DIR, got the absolute path '${path}'`;
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.includes("..")) return `Expected a path inside DATA_DIR, got '${path}' (no '..')`;
  if (parts.length === 0) return "Expected a folder below DATA_DIR, not DATA_DIR itself";
  const rel = parts.join("/");
  for (const watched of ["agents", "shared/iac/inbox", "shared/iac/handoffs", "shared/segments"]) {
    if (rel === watched || rel.startsWith(watched + "/")) {
      return `Expected a folder outside ${watched}/ (read or committed by the runtime), got '${path}'`;
    }
  }
  if (rel === "agents.yaml") return "Expected a folder, got agents.yaml";
  return undefined;
}
