// The one place secrets are taken out of text: every key in use (LLM_API_KEY or the
// contents of LLM_API_KEY_FILE, per-agent `api_key_env` keys, AGENTOS_API_TOKEN) and any
// Authorization / Bearer / api-key value. Text from a provider or a webhook passes here
// before it can reach a log line, a dead letter, a commit, a learning file or an API
// answer; log.ts runs every line through it as a second net. Imports nothing.

const REDACTED = "[REDACTED]";
/** Shorter values are too likely to be ordinary words (`LLM_API_KEY=ollama`); they are not secrets worth hiding. */
const MIN_SECRET_LENGTH = 8;

const secrets = new Set<string>();
let ordered: string[] = [];

/**
 * Remembers a secret so `redact` removes it from now on, also in the spellings it takes
 * when echoed inside JSON or a URL. Empty and very short values are ignored.
 */
export function addSecret(value: string | undefined): void {
  const v = value?.trim();
  if (!v || v.length < MIN_SECRET_LENGTH) return;
  const forms = [v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v), Buffer.from(v).toString("base64")];
  let added = false;
  for (const f of forms) {
    if (f.length >= MIN_SECRET_LENGTH && !secrets.has(f)) {
      secrets.add(f);
      added = true;
    }
  }
  // Longest first, so a secret that contains another is removed whole.
  if (added) ordered = [...secrets].sort((a, b) => b.length - a.length);
}

/** Forgets every secret (tests). */
export function clearSecrets(): void {
  secrets.clear();
  ordered = [];
}

// A header echoed back as text, JSON or a repr: `Authorization: Bearer x`, `"authorization":"Bearer x"`,
// `'x-api-key': 'x'`. The value ends at a quote, a comma, a brace or the end of the line.
const HEADER = /((?:proxy-)?authorization|x-api-key|api[-_]key|x-goog-api-key)(["']?\s*[:=]\s*["']?)(?:(bearer|basic|token)\s+)?[^\s"',;}\]]+/gi;
const BEARER = /\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}/gi;
// Credentials in a URL: https://user:secret@host
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi;

/**
 * `text` with every registered secret replaced by [REDACTED], and nothing else changed:
 * for text a person wrote (a task block kept verbatim), where `Authorization: Bearer x`
 * may be the subject of the task rather than a credential.
 */
export function redactKnown(text: string): string {
  let out = text;
  for (const s of ordered) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

// Well-known key shapes (OpenAI, Anthropic, Groq, xAI, OpenRouter…), in case one we were not told about is echoed.
const KEY_SHAPES = /\b(?:sk|pk|rk|gsk|xai|sk-ant|sk-or-v1)-[A-Za-z0-9_-]{16,}/g;

/** `text` with every known secret, key-shaped token and credential-looking header value replaced by [REDACTED]. */
export function redact(text: string): string {
  return redactKnown(text)
    .replace(KEY_SHAPES, REDACTED)
    .replace(HEADER, (_m, name: string, sep: string, scheme?: string) => `${name}${sep}${scheme ? `${scheme} ` : ""}${REDACTED}`)
    .replace(BEARER, (_m, word: string) => `${word} ${REDACTED}`)
    .replace(URL_USERINFO, `$1${REDACTED}@`);
}

/** The same for a structured value (log fields, JSON answers): strings redacted at any depth. */
export function redactValue<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactValue) as T;
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v)])) as T;
  }
  if (value instanceof Error) return redact(value.message) as T;
  return value;
}

/** True when `text` still holds a known secret (tests and assertions). */
export function containsSecret(text: string): boolean {
  return ordered.some((s) => text.includes(s));
}
