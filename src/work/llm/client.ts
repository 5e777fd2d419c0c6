// One model at an OpenAI-compatible endpoint. It negotiates the request shape with the
// provider (response_format, token-limit parameter, temperature: negotiation.ts),
// retries transient faults with backoff and jitter, salvages the step from what the
// model said (salvage.ts), asks once for a repair, and reports each request's outcome
// and its tokens. Provider faults become `pause` errors, so they never burn a task;
// only the task's own faults count an attempt. The key is in one header (transport.ts).
import type { Logger } from "../../log.js";
import { replyEvidence } from "./evidence.js";
import { Negotiation, type FormatSetting, type RequestShape, type TokensParam } from "./negotiation.js";
import { inBandError, judge } from "./provider-errors.js";
import { contentText, salvageStep, type Salvaged } from "./salvage.js";
import { stepJsonSchema } from "./schema.js";
import { defaultSleep, describeNetworkError, Endpoint, isTimeout, retryAfterMs, type HttpAnswer } from "./transport.js";
import { StepError, type ChatMessage, type ReplyFormat, type RequestOutcome, type StepModel, type StepResult } from "./types.js";
import { addUsage, noUsage, readUsage, TokenMeter, type Usage } from "./usage.js";

export { closeProviderPools } from "./transport.js";

export interface ProviderOptions {
  baseUrl: string;
  apiKey?: string;
  model: string;
  maxTokens: number;
  timeoutMs: number;
  maxRetries: number;
  /** LLM_MAX_REPLY_BYTES (default 4 MB). */
  maxReplyBytes?: number;
  log: Logger;
  /** auto (negotiate), or force json_schema, json_object or none. */
  responseFormat?: FormatSetting;
  /** Name of the token-limit parameter to send first (o-series and gpt-5 want max_completion_tokens). */
  tokensParam?: TokensParam;
  /** Sampling temperature (default 0.2); null sends none (the model's default). */
  temperature?: number | null;
  /** budget.tokens_per_day: over it the agent pauses until the next UTC day. */
  tokensPerDay?: number;
  /** Each HTTP request's outcome and each reply's tokens (metrics). */
  onRequest?: (outcome: RequestOutcome) => void;
  onTokens?: (usage: Usage) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => Date;
}

interface Completion {
  content: string;
  finishReason?: string;
  usage: Usage;
  requests: number;
}

/** Sends adapted to what the provider said do not count as retries, but they are bounded. */
const MAX_ADAPTATIONS = 6;

export class ProviderModel implements StepModel {
  readonly name: string;
  private readonly endpoint: Endpoint;
  private readonly negotiation: Negotiation;
  private readonly meter: TokenMeter;
  private readonly sleep: NonNullable<ProviderOptions["sleep"]>;
  private readonly random: () => number;
  /** The last refusal we could not place: the same one again means every request is refused. */
  private lastRefusal?: string;

  constructor(private readonly opts: ProviderOptions) {
    this.name = opts.model;
    this.endpoint = new Endpoint(opts.baseUrl, opts.apiKey, opts.timeoutMs, opts.maxReplyBytes);
    this.negotiation = new Negotiation(
      { baseUrl: this.endpoint.where, model: opts.model },
      { format: opts.responseFormat ?? "auto", tokensParam: opts.tokensParam ?? "max_tokens", temperature: opts.temperature === null ? undefined : (opts.temperature ?? 0.2) },
      opts.log,
    );
    this.meter = new TokenMeter(opts.tokensPerDay, opts.now);
    this.sleep = opts.sleep ?? defaultSleep;
    this.random = opts.random ?? Math.random;
    opts.log.info(`provider ${this.endpoint.where}, model ${opts.model}, ${this.negotiation.describe()}${opts.tokensPerDay ? `, budget ${opts.tokensPerDay} tokens a day` : ""}`);
  }

  tokens() {
    return this.meter.snapshot();
  }

  async step(messages: ChatMessage[], signal?: AbortSignal): Promise<StepResult> {
    const started = performance.now();
    let requests = 0;
    let usage = noUsage();
    const call = async (msgs: ChatMessage[]): Promise<Completion> => {
      const r = await this.complete(msgs, signal).catch((err: unknown) => {
        throw err instanceof StepError && !err.usage && usage.total ? new StepError(err.message, err.kind, err.status, { reply: err.reply, usage, fault: err.fault }) : err;
      });
      requests += r.requests;
      usage = addUsage(usage, r.usage);
      return r;
    };
    const first = await call(messages);
    let parsed = salvageStep(first.content);
    if (!parsed.ok) {
      this.opts.onRequest?.("invalid_reply");
      const cut = first.finishReason === "length";
      const why = cut ? `reply cut at LLM_MAX_TOKENS=${this.opts.maxTokens}; raise it` : parsed.error;
      this.opts.log.warn(`model reply was not a valid step (${why}); asking once for a repair`);
      this.opts.log.debug(`the reply was: ${replyEvidence(first.content, [this.opts.apiKey])}`);
      this.opts.onRequest?.("repair");
      const second = await call(cut ? this.shorter(messages) : [
        ...messages,
        { role: "assistant", content: first.content },
        { role: "user", content: `Your reply could not be used: ${parsed.error}\nReply again with only the corrected JSON object, nothing else.` },
      ]);
      parsed = salvageStep(second.content);
      if (!parsed.ok) {
        this.opts.onRequest?.("invalid_reply");
        const message = second.finishReason === "length"
          ? `reply cut at LLM_MAX_TOKENS=${this.opts.maxTokens}; raise it (the reply asked to be shorter was cut too)`
          : `model reply is not a valid step after one repair request: ${parsed.error}`;
        const reply = replyEvidence(second.content, [this.opts.apiKey]);
        this.opts.log.debug(`the repaired reply was: ${reply}`);
        throw new StepError(message, "retry", undefined, { reply, usage });
      }
    }
    return { response: this.keep(parsed), model: this.name, durationMs: performance.now() - started, requests, usage };
  }

  /** One chat completion with the same retries and fallbacks as a step; returns the reply text. */
  async chat(messages: ChatMessage[], opts: { signal?: AbortSignal; format?: ReplyFormat } = {}): Promise<string> {
    return (await this.complete(messages, opts.signal, opts.format)).content;
  }

  /** A salvaged step, with a WARN and a reflection for each optional part dropped. */
  private keep(s: Salvaged): Salvaged["value"] {
    if (s.ignored.length) this.opts.log.debug(`ignored keys the step does not have: ${s.ignored.join(", ")}`);
    if (s.repaired.length) this.opts.log.debug(`read leniently: ${s.repaired.join("; ")}`);
    if (!s.dropped.length) return s.value;
    for (const d of s.dropped) this.opts.log.warn(`dropped the malformed '${d.part}' of the reply (${d.why}); the answer is kept`);
    const note = `[format] My reply's ${s.dropped.map((d) => `'${d.part}'`).join(", ")} ${s.dropped.length > 1 ? "were" : "was"} malformed and dropped (${s.dropped.map((d) => d.why).join("; ")}); follow the reply format.`;
    return { ...s.value, reflection: s.value.reflection?.trim() ? `${s.value.reflection.trim()} ${note}` : note };
  }

  /** The repair for a cut reply: the same request, asking for a much shorter one (no echo of the cut text). */
  private shorter(messages: ChatMessage[]): ChatMessage[] {
    const words = Math.max(50, Math.floor(this.opts.maxTokens * 0.4));
    const ask = `\n\n(Your previous reply was cut off at the token limit of ${this.opts.maxTokens} before the JSON object was complete. Reply again much shorter: the whole JSON object in under ${words} words, no text outside it.)`;
    const last = messages.map((m) => m.role).lastIndexOf("user");
    return messages.map((m, i) => (i === last ? { ...m, content: m.content + ask } : m));
  }

  /** One chat completion, with retries for transient faults and adaptation to what the provider refuses. */
  private async complete(messages: ChatMessage[], signal?: AbortSignal, format?: ReplyFormat): Promise<Completion> {
    let requests = 0;
    let adaptations = 0;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const spent = this.meter.spent();
      if (spent) throw new StepError(spent, "pause", undefined, { fault: "budget" });
      const shape = this.negotiation.shape();
      let answer: HttpAnswer;
      try {
        requests++;
        answer = await this.endpoint.post(this.body(messages, shape, format), signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        // Too big a reply is this task's fault, not an outage: fail the step, never pause the agent (harden).
        if ((err as { code?: string }).code === "AGENTOS_REPLY_TOO_LARGE") throw new StepError(`${(err as Error).message}: the task asked for too long an answer`, "retry", 200);
        this.opts.onRequest?.(isTimeout(err) ? "timeout" : "network");
        const reason = describeNetworkError(err, this.opts.timeoutMs);
        if (attempt >= this.opts.maxRetries) throw new StepError(`the provider at ${this.endpoint.where} cannot be reached after ${attempt + 1} tries: ${reason}`, "pause", undefined, { fault: "unreachable" });
        await this.backoff(attempt, undefined, reason, signal);
        continue;
      }
      let { status, body } = answer;
      if (status === 200) {
        let json: Record<string, any>;
        try {
          json = JSON.parse(body) as Record<string, any>;
        } catch {
          json = {};
        }
        const inBand = inBandError(json);
        if (inBand) ({ status, body } = inBand);
        else if (Array.isArray(json.choices) && json.choices.length) {
          const choice = json.choices[0] ?? {};
          const usage = readUsage(json);
          this.meter.add(usage);
          if (usage) this.opts.onTokens?.(usage);
          this.opts.onRequest?.("ok");
          this.lastRefusal = undefined;
          if (choice.finish_reason === "content_filter" && !contentText(choice.message)) {
            throw new StepError("the provider's content filter stopped the reply (finish_reason: content_filter)", "retry", 200, { usage });
          }
          return { content: contentText(choice.message) ?? "", finishReason: choice.finish_reason, usage: usage ?? noUsage(), requests };
        } else {
          this.opts.onRequest?.("http_5xx");
          const reason = `HTTP 200 without choices: ${replyEvidence(body.slice(0, 300), [this.opts.apiKey])}`;
          if (attempt >= this.opts.maxRetries) throw new StepError(`the provider at ${this.endpoint.where} answers without a reply: ${reason}`, "pause", 200, { fault: "failing" });
          await this.backoff(attempt, undefined, reason, signal);
          continue;
        }
      }
      this.opts.onRequest?.(status >= 500 ? "http_5xx" : "http_4xx");
      const verdict = judge(status, body, { format: shape.mode !== "none", tokensParam: shape.tokensParam ?? "", temperature: shape.temperature !== undefined });
      // The provider's words can echo what we sent (a key, a prompt): they pass the same redaction as a reply.
      const message = replyEvidence(verdict.message, [this.opts.apiKey]);
      const said = `HTTP ${status}: ${message}`;
      if (verdict.kind === "format" || verdict.kind === "parameter") {
        const adapted = verdict.kind === "format" ? this.negotiation.refuseMode(shape.mode, said) : this.negotiation.refuseParameter(verdict.param, shape, said);
        if (adapted && ++adaptations <= MAX_ADAPTATIONS) {
          if (verdict.kind === "format") this.opts.onRequest?.("format_fallback");
          attempt--;
          continue;
        }
        const forced = verdict.kind === "format" && this.negotiation.forcedFormat;
        throw new StepError(
          `the provider at ${this.endpoint.where} refuses the request for model ${this.opts.model} (${said})${forced ? `; response_format ${forced} is forced by llm.response_format / LLM_RESPONSE_FORMAT: set it to auto` : ""}`,
          "pause",
          status,
          { fault: "refused" },
        );
      }
      if (verdict.kind === "failed_generation") {
        // Groq checked the model's JSON and refused it; the output itself is in the error: salvage it.
        this.lastRefusal = undefined;
        return { content: verdict.content, usage: noUsage(), requests };
      }
      if (verdict.kind === "transient") {
        if (attempt >= this.opts.maxRetries) throw new StepError(`the provider at ${this.endpoint.where} failed after ${attempt + 1} tries: ${said}`, "pause", status, { fault: "failing" });
        await this.backoff(attempt, retryAfterMs(answer.headers["retry-after"]), said, signal);
        continue;
      }
      if (verdict.kind === "provider") {
        const head = status === 404
          ? `model '${this.opts.model}' or its endpoint was not found (HTTP 404 from ${this.endpoint.where}/chat/completions)`
          : `the provider at ${this.endpoint.where} ${verdict.what} (HTTP ${status})`;
        throw new StepError(`${head}: ${verdict.fix}${quoted(message)}`, "pause", status, { fault: verdict.cause });
      }
      if (verdict.kind === "task") throw new StepError(`${message} (HTTP ${status})`, "retry", status);
      // A refusal we cannot place: this task pays once; the same refusal twice in a row is the request shape.
      const again = this.lastRefusal === message;
      this.lastRefusal = message;
      if (again) throw new StepError(`the provider at ${this.endpoint.where} refuses every request for model ${this.opts.model} (${said}); check the model's settings (docs/providers.md)`, "pause", status, { fault: "refused" });
      throw new StepError(`the provider refused the request (${said})`, "retry", status);
    }
  }

  private async backoff(attempt: number, retryAfter: number | undefined, reason: string, signal?: AbortSignal) {
    const base = Math.min(30_000, 500 * 2 ** attempt);
    const ms = retryAfter ?? Math.round(base / 2 + this.random() * (base / 2));
    this.opts.log.warn(`LLM call failed (${reason}); retry ${attempt + 1}/${this.opts.maxRetries} in ${ms} ms`);
    await this.sleep(ms, signal);
  }

  private body(messages: ChatMessage[], shape: RequestShape, format: ReplyFormat = { name: "agentos_step", schema: stepJsonSchema }): Record<string, unknown> {
    const body: Record<string, unknown> = { model: this.opts.model, messages };
    if (shape.tokensParam) body[shape.tokensParam] = this.opts.maxTokens;
    if (shape.temperature !== undefined) body.temperature = shape.temperature;
    if (shape.mode === "json_schema") body.response_format = { type: "json_schema", json_schema: { name: format.name, strict: true, schema: format.schema } };
    else if (shape.mode === "json_object") body.response_format = { type: "json_object" };
    return body;
  }
}

/** The provider's own words, when it said something. */
const quoted = (message: string) => (message && message !== "{}" ? `; the provider said: "${message}"` : "");
