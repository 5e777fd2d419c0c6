// What the worker needs from a model, whichever it is (HTTP provider or offline).
import type { StepResponse } from "./schema.js";

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
}

/** A JSON schema to ask for with `response_format: json_schema` (falls back like a step does). */
export interface ReplyFormat {
  name: string;
  schema: Record<string, unknown>;
}

export interface StepModel {
  readonly name: string;
  step(messages: ChatMessage[], signal?: AbortSignal): Promise<StepResult>;
  /** One plain chat completion returning the reply text (the reward audit's grader uses it); absent offline. */
  chat?(messages: ChatMessage[], opts?: { signal?: AbortSignal; format?: ReplyFormat }): Promise<string>;
}

/**
 * Why a step failed. `retry`: the task may run again later (counts as an attempt);
 * `pause`: the provider refuses us (bad key, unknown model): stop the agent, burn nothing.
 */
export class StepError extends Error {
  constructor(
    message: string,
    readonly kind: "retry" | "pause",
    readonly status?: number,
  ) {
    super(message);
    this.name = "StepError";
  }
}
