// What a provider's error answer means for us. Providers disagree on the shape
// (`{"error": {"message"}}`, vLLM's top-level `{"object": "error", "message"}`, Ollama's
// `{"error": "text"}`, Anthropic's `{"type": "error", "error": {...}}`) and on the status
// (a refused response_format is a 400 at vLLM, a 422 at DeepSeek, a 500 at
// llama-cpp-python), so the verdict reads the message, not only the status. Pure.

/** Who is at fault, and so what happens next. */
export type Verdict =
  /** The request's response_format was refused: downgrade it and send again. */
  | { kind: "format"; message: string }
  /** A parameter or its value was refused: adapt it and send again. */
  | { kind: "parameter"; param: "max_tokens" | "max_completion_tokens" | "temperature"; message: string }
  /** Groq: the model's output failed its own JSON check; the output is in the error. */
  | { kind: "failed_generation"; content: string; message: string }
  /** Worth a retry with backoff (429, 408, 409, 5xx, overload). */
  | { kind: "transient"; message: string }
  /** The provider refuses us whatever the task (key, quota, model, endpoint): pause the agent. */
  | { kind: "provider"; message: string; what: string; fix: string; cause: "auth" | "credit" | "not_found" | "quota" }
  /** This task's own request is the problem (too long, filtered): it counts an attempt. */
  | { kind: "task"; message: string }
  /** A 4xx we cannot adapt to and cannot place: counted once, a second in a row pauses. */
  | { kind: "refused"; message: string };

/** The provider's own error message from any of the shapes providers use, on one line. */
export function providerMessage(body: string): string {
  let text = body;
  try {
    const j = JSON.parse(body) as Record<string, any>;
    const e = j.error ?? j;
    const raw = e?.metadata?.raw;
    const msg =
      typeof e === "string" ? e
      : typeof e?.message === "string" ? e.message
      : typeof j.message === "string" ? j.message
      : typeof j.detail === "string" ? j.detail
      : Array.isArray(j.detail) ? JSON.stringify(j.detail)
      : undefined;
    // OpenRouter puts the upstream provider's own words in error.metadata.raw.
    text = [msg, typeof raw === "string" && raw !== msg ? `(upstream: ${raw})` : undefined].filter(Boolean).join(" ") || body;
  } catch {
    // not JSON: the body itself is the message (an HTML page from a proxy, plain text)
    text = body.replace(/<[^>]+>/g, " ");
  }
  text = text.replace(/\s+/g, " ").trim();
  return text.length > 300 ? text.slice(0, 299) + "…" : text;
}

function errorCode(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as Record<string, any>;
    const c = j.error?.code ?? j.code ?? j.error?.type ?? j.type;
    return c === undefined || c === null ? undefined : String(c);
  } catch {
    return undefined;
  }
}

const FORMAT = /response_format|json_schema|json_object|structured[ _-]?output|xgrammar|guided[ _-]?(?:json|decoding)|grammar|outlines|llguidance/i;
const TOKENS_PARAM = /max_completion_tokens|max_tokens/i;
const UNSUPPORTED = /unsupported|not supported|does not support|doesn't support|not allowed|unrecognized|unknown (?:field|parameter|argument)|extra (?:fields|inputs) not permitted|invalid (?:param|value)|only .{0,40}(?:is|are) (?:supported|allowed)/i;
const CONTEXT = /context[ _-]?length|maximum context|too many tokens|prompt is too long|reduce the length|context window|input is too long|exceeds? the (?:model's )?(?:maximum|limit)/i;
const FILTER = /content[ _-]?(?:filter|management policy)|flagged|moderation|responsibleaipolicyviolation|safety/i;

/**
 * The verdict on an answer that is not a usable 200. `carried` is what the request
 * sent, so a refusal is judged by the request it answered, never by the current mode.
 */
export function judge(status: number, body: string, carried: { format: boolean; tokensParam: string; temperature: boolean }): Verdict {
  const message = providerMessage(body);
  const code = errorCode(body) ?? "";
  const where = `${message} ${code}`;

  if (status === 400 && code === "json_validate_failed") {
    const content = failedGeneration(body);
    if (content !== undefined) return { kind: "failed_generation", content, message };
  }
  if (status === 401 || status === 403) {
    if (status === 403 && FILTER.test(where)) return { kind: "task", message };
    return { kind: "provider", message, cause: "auth", what: "refused the API key", fix: "set LLM_API_KEY (or LLM_API_KEY_FILE, or the agent's llm.api_key_env) to a valid key" };
  }
  if (status === 402) return { kind: "provider", message, cause: "credit", what: "refused the request: no credit left", fix: "top up the account, or lower the spend (budget.tokens_per_day)" };
  if (status === 404) return { kind: "provider", message, cause: "not_found", what: "has no such model or endpoint", fix: "check LLM_MODEL and LLM_BASE_URL (the model must exist on that server; Ollama: `ollama pull <model>`)" };
  if (status === 429 && /quota|billing|insufficient|credit|spend limit/i.test(where) && !/rate limit|too many requests|per minute/i.test(where)) {
    return { kind: "provider", message, cause: "quota", what: "says the quota is spent", fix: "raise the quota or wait for it to renew" };
  }
  if (status >= 400 && carried.format && FORMAT.test(where) && !CONTEXT.test(where)) return { kind: "format", message };
  if (status >= 400 && status < 500 && UNSUPPORTED.test(where)) {
    if (carried.temperature && /temperature/i.test(where)) return { kind: "parameter", param: "temperature", message };
    const token = TOKENS_PARAM.exec(where)?.[0];
    if (token && (/max_completion_tokens/i.test(where) || token === carried.tokensParam)) {
      return { kind: "parameter", param: carried.tokensParam === "max_tokens" ? "max_tokens" : "max_completion_tokens", message };
    }
  }
  if (status === 429 || status === 408 || status === 409 || status >= 500) return { kind: "transient", message };
  if (CONTEXT.test(where) || status === 413) return { kind: "task", message: `the prompt is too long for the model (${message}); lower prompt.max_tokens or LLM_MAX_TOKENS` };
  if (FILTER.test(where)) return { kind: "task", message: `the provider's content filter refused this task (${message})` };
  return { kind: "refused", message };
}

function failedGeneration(body: string): string | undefined {
  try {
    const g = (JSON.parse(body) as { error?: { failed_generation?: unknown } }).error?.failed_generation;
    return typeof g === "string" ? g : undefined;
  } catch {
    return undefined;
  }
}

/** An in-band error of an HTTP 200 (OpenRouter: "any error while the LLM is producing the output"). */
export function inBandError(json: Record<string, any>): { status: number; body: string } | undefined {
  const e = json.error ?? json.choices?.[0]?.error;
  if (!e || (json.choices?.length && json.choices[0]?.message?.content)) return undefined;
  const code = Number(typeof e === "object" ? e.code : NaN);
  return { status: Number.isInteger(code) && code >= 400 ? code : 502, body: JSON.stringify({ error: e }) };
}
