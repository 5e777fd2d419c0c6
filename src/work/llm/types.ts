// What the worker needs from a model, whichever it is (HTTP provider or offline).
import type { StepResponse } from "./schema.js";
import type { Usage } from "./usage.js";

export type { Usage } from "./usage.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface StepResult {
  response: StepResponse;
  /** Model name as recorded in logs, commits and results (`offline` for the built-in one). */
  model: string;
  durationMs: number;
  /** HTTP requests it took, including retries and the repair request. */
  requests: number;
  /** Tokens the provider reported for every request of this step (absent offline or when it reports none). */
  usage?: Usage;
}

/** A JSON schema to ask for with `response_format: json_schema` (falls back like a step does). */
export interface ReplyFormat {
  name: string;
  schema: Record<string, unknown>;
}

/** One HTTP request's outcome, as counted by `agentos_llm_requests_total{outcome}`. */
export type RequestOutcome = "ok" | "http_4xx" | "http_5xx" | "network" | "timeout" | "invalid_reply" | "format_fallback" | "repair";

/** What the LLM client reports as it goes, per agent (the metrics listen). */
export interface LlmEvents {
  llmRequest?(agent: string, outcome: RequestOutcome): void;
  llmTokens?(agent: string, usage: Usage): void;
}

export interface StepModel {
  readonly name: string;
  step(messages: ChatMessage[], signal?: AbortSignal): Promise<StepResult>;
  /** One plain chat completion returning the reply text (the reward audit's grader uses it); absent offline. */
  chat?(messages: ChatMessage[], opts?: { signal?: AbortSignal; format?: ReplyFormat }): Promise<string>;
  /** Tokens spent: today (UTC), since start, and the daily budget if one is set; absent offline. */
  tokens?(): { today: number; perDay?: number } & Usage;
}

/**
 * Why a step failed. `retry`: the task's own fault (its reply still invalid after a
 * repair, its prompt too long, filtered): it counts an attempt and runs again later.
 * `pause`: the provider's fault (unreachable, bad key, quota, unknown model, a request
 * shape it refuses, the token budget): the agent pauses and probes; no attempt is burnt.
 */
/** Why an agent pauses, for the `agentos_agent_paused{fault}` gauge (a fixed set: bounded labels). */
/** Why an agent is paused: its provider's answer, its token budget, or a person's git operation in its repository. */
export type PauseCause = "unreachable" | "failing" | "auth" | "credit" | "not_found" | "quota" | "refused" | "budget" | "repository";

export class StepError extends Error {
  /** The model's raw reply, bounded and redacted (replyEvidence), for the dead letter. */
  readonly reply?: string;
  /** Tokens spent before it failed (they are spent all the same). */
  readonly usage?: Usage;
  /** For a pause: which kind of provider fault. */
  readonly fault?: PauseCause;

  constructor(
    message: string,
    readonly kind: "retry" | "pause",
    readonly status?: number,
    extra: { reply?: string; usage?: Usage; fault?: PauseCause } = {},
  ) {
    super(message);
    this.name = "StepError";
    this.reply = extra.reply;
    this.usage = extra.usage;
    this.fault = extra.fault;
  }
}
