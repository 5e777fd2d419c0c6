// OpenAI-compatible chat completions over undici: a keep-alive pool per base URL,
// response_format json_schema with fallbacks (json_object, plain text + JSON
// extraction, one repair request), bounded retries with backoff and jitter.
// The API key goes in one header and nowhere else (never logged).
import { Pool } from "undici";
import type { Logger } from "../../log.js";
import { extractJson, stepJsonSchema, validateStep, type StepResponse } from "./schema.js";
import { StepError, type ChatMessage, type ReplyFormat, type StepModel, type StepResult } from "./types.js";

export interface ProviderOptions {
  baseUrl: string;
  apiKey?: string;
  model: string;
  maxTokens: number;
  timeoutMs: number;
  maxRetries: number;
  log: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

type Mode = "json_schema" | "json_object" | "none";

const pools = new Map<string, Pool>();
function poolFor(origin: string, timeoutMs: number): Pool {
  let pool = pools.get(origin);
  if (!pool) {
    pool = new Pool(origin, { connections: 64, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    pools.set(origin, pool);
  }
  return pool;
}

/** Closes every keep-alive pool (on shutdown, so the process can exit). */
export async function closeProviderPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close().catch(() => {})));
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class ProviderModel implements StepModel {
  readonly name: string;
  private mode: Mode = "json_schema";
  private readonly url: URL;
  private readonly where: string;
  private readonly sleep: NonNullable<ProviderOptions["sleep"]>;
  private readonly random: () => number;

  constructor(private readonly opts: ProviderOptions) {
    this.name = opts.model;
    this.url = new URL(opts.baseUrl.replace(/\/+$/, "") + "/chat/completions");
    // For messages: the base URL without any user:password in it.
    const base = new URL(opts.baseUrl);
    this.where = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
    this.sleep = opts.sleep ?? defaultSleep;
    this.random = opts.random ?? Math.random;
  }

  async step(messages: ChatMessage[], signal?: AbortSignal): Promise<StepResult> {
    const started = performance.now();
    let requests = 0;
    const call = async (msgs: ChatMessage[]): Promise<string> => {
      const r = await this.complete(msgs, signal);
      requests += r.requests;
      return r.content;
    };
    const content = await call(messages);
    let parsed = this.parse(content);
    if (!parsed.ok) {
      this.opts.log.warn(`model reply was not a valid step (${parsed.error.split("\n")[0]}); asking once for a repair`);
      const repaired = await call([
        ...messages,
        { role: "assistant", content },
        {
          role: "user",
          content: `Your reply could not be used: ${parsed.error}\nReply again with only the corrected JSON object, nothing else.`,
        },
      ]);
      parsed = this.parse(repaired);
      if (!parsed.ok) throw new StepError(`model reply is not a valid step after one repair request: ${parsed.error}`, "retry");
    }
    return { response: parsed.value, model: this.name, durationMs: performance.now() - started, requests };
  }

  /** One chat completion with the same retries and fallbacks as a step; returns the reply text. */
  async chat(messages: ChatMessage[], opts: { signal?: AbortSignal; format?: ReplyFormat } = {}): Promise<string> {
    return (await this.complete(messages, opts.signal, opts.format)).content;
  }

  private parse(content: string): { ok: true; value: StepResponse } | { ok: false; error: string } {
    const json = extractJson(content);
    if (json === undefined) return { ok: false, error: "no JSON object found in the reply" };
    return validateStep(json);
  }

  /** One chat completion, with retries for transient faults; returns the message content. */
  private async complete(messages: ChatMessage[], signal?: AbortSignal, format?: ReplyFormat): Promise<{ content: string; requests: number }> {
    let requests = 0;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      let answer: HttpAnswer;
      try {
        requests++;
        answer = await this.post(messages, signal, format);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const reason = describeNetworkError(err, this.opts.timeoutMs);
        if (attempt >= this.opts.maxRetries) throw new StepError(`LLM request failed after ${attempt + 1} tries: ${reason}`, "retry");
        await this.backoff(attempt, undefined, reason, signal);
        continue;
      }
      const { status, body } = answer;
      if (status === 200) {
        let content: unknown;
        try {
          const json = JSON.parse(body) as { choices?: { message?: { content?: unknown } }[] };
          if (!json.choices?.length) throw new Error("the reply has no choices");
          content = json.choices[0]?.message?.content;
          if (typeof content !== "string") throw new Error("choices[0].message.content is not text");
        } catch (err) {
          const reason = `HTTP 200 with an unusable body: ${(err as Error).message}`;
          if (attempt >= this.opts.maxRetries) throw new StepError(reason, "retry");
          await this.backoff(attempt, undefined, reason, signal);
          continue;
        }
        return { content: content as string, requests };
      }
      if (status === 400 && this.mode !== "none" && /response_format|json_schema|json_object|structured/i.test(body)) {
        const next: Mode = this.mode === "json_schema" ? "json_object" : "none";
        this.opts.log.warn(`provider rejected response_format ${this.mode}; falling back to ${next}`);
        this.mode = next;
        attempt--;
        continue;
      }
      if (status === 401 || status === 403) {
        throw new StepError(
          `the provider at ${this.where} refused the API key (HTTP ${status}): set LLM_API_KEY (or LLM_API_KEY_FILE) to a valid key`,
          "pause",
          status,
        );
      }
      if (status === 404) {
        throw new StepError(
          `model '${this.opts.model}' or its endpoint was not found (HTTP 404 from ${this.where}/chat/completions): check LLM_MODEL and LLM_BASE_URL`,
          "pause",
          status,
        );
      }
      const retryable = status === 429 || status === 408 || status >= 500;
      const reason = `HTTP ${status}${body ? `: ${body.slice(0, 200).replace(/\s+/g, " ")}` : ""}`;
      if (!retryable || attempt >= this.opts.maxRetries) {
        throw new StepError(`LLM request failed${retryable ? ` after ${attempt + 1} tries` : ""}: ${reason}`, "retry", status);
      }
      await this.backoff(attempt, retryAfterMs(answer.headers["retry-after"]), reason, signal);
    }
  }

  private async backoff(attempt: number, retryAfter: number | undefined, reason: string, signal?: AbortSignal) {
    const base = Math.min(30_000, 500 * 2 ** attempt);
    const ms = retryAfter ?? Math.round(base / 2 + this.random() * (base / 2));
    this.opts.log.warn(`LLM call failed (${reason}); retry ${attempt + 1}/${this.opts.maxRetries} in ${ms} ms`);
    await this.sleep(ms, signal);
  }

  private async post(messages: ChatMessage[], signal?: AbortSignal, format: ReplyFormat = { name: "agentos_step", schema: stepJsonSchema }): Promise<HttpAnswer> {
    const body: Record<string, unknown> = { model: this.opts.model, messages, max_tokens: this.opts.maxTokens, temperature: 0.2 };
    if (this.mode === "json_schema") {
      body.response_format = { type: "json_schema", json_schema: { name: format.name, strict: true, schema: format.schema } };
    } else if (this.mode === "json_object") body.response_format = { type: "json_object" };
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const res = await poolFor(this.url.origin, this.opts.timeoutMs).request({
      path: this.url.pathname + this.url.search,
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text };
  }
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const seconds = Number(v);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), 120_000) : undefined;
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT") {
    return `no answer within LLM_TIMEOUT (${timeoutMs / 1000} s)`;
  }
  return e.code ? `${e.code}${e.message ? ` (${e.message})` : ""}` : (e.message ?? String(err));
}
