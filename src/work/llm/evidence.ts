// The one function a provider's raw reply passes through before it is written anywhere
// (a dead letter, a DEBUG line, a reason): bounded, and with secrets taken out by the
// shared redactor (src/redact.ts) plus the keys this client holds. Nothing else in
// work/llm/ writes a raw reply.
import { redact } from "../../redact.js";

const HEAD = 3000;
const TAIL = 1000;

/** The reply as evidence: at most about 4 KB (head and tail), with the given secrets and any bearer token removed. */
export function replyEvidence(raw: string, secrets: (string | undefined)[] = []): string {
  let text = raw;
  for (const s of secrets) if (s && s.length >= 8) text = text.split(s).join("[REDACTED]");
  text = text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, "$1 [REDACTED]")
    .replace(/\b(sk|pk|rk|gsk|xai|sk-ant|sk-or-v1)-[A-Za-z0-9_-]{16,}/g, "[REDACTED]")
    .replace(/("?(?:api[_-]?key|authorization|x-api-key)"?\s*[:=]\s*"?)[^"\s,}]{8,}/gi, "$1[REDACTED]");
  text = redact(text);
  if (text.length <= HEAD + TAIL + 100) return text;
  return `${text.slice(0, HEAD)}\n[… ${text.length - HEAD - TAIL} characters left out …]\n${text.slice(-TAIL)}`;
}
