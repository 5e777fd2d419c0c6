// HTTP to an OpenAI-compatible endpoint over undici: one keep-alive pool per origin,
// the request URL built from the base URL (a query such as Azure's `?api-version=` is
// kept), the key in exactly one header, and network faults described in words.
import { Pool } from "undici";

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

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

/**
 * The one header that carries the key. Azure OpenAI's deployment URLs
 * (`https://<resource>.openai.azure.com/openai/deployments/<name>?api-version=…`) take it
 * in `api-key`; its v1 API (`…/openai/v1/`) and every other provider take a Bearer token.
 */
export function authHeader(base: URL, apiKey: string | undefined): Record<string, string> {
  if (!apiKey) return {};
  const azureDeployment = /\.(openai|cognitiveservices)\.azure\.com$/i.test(base.hostname) && /\/openai\/deployments\//i.test(base.pathname);
  return azureDeployment ? { "api-key": apiKey } : { authorization: `Bearer ${apiKey}` };
}

export class Endpoint {
  readonly url: URL;
  /** The base URL for messages: no user:password, no query (a key may travel there). */
  readonly where: string;
  private readonly headers: Record<string, string>;

  constructor(
    baseUrl: string,
    apiKey: string | undefined,
    private readonly timeoutMs: number,
    /** LLM_MAX_REPLY_BYTES: a bigger reply is not read further (harden). */
    private readonly maxReplyBytes = 4 * 1024 * 1024,
  ) {
    const base = new URL(baseUrl);
    this.url = new URL(base.toString());
    this.url.pathname = base.pathname.replace(/\/+$/, "") + "/chat/completions";
    this.url.username = this.url.password = "";
    this.where = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
    this.headers = { "content-type": "application/json", accept: "application/json", ...authHeader(base, apiKey) };
  }

  async post(body: unknown, signal?: AbortSignal): Promise<HttpAnswer> {
    // A timer of our own, cleared once the reply is read. AbortSignal.timeout() lives until
    // it fires, and with it (through AbortSignal.any and undici's listener) the request:
    // a 4,000-task drain held 3,000 of them at once, ~1.4 KB each, for LLM_TIMEOUT.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, "TimeoutError")), this.timeoutMs);
    timer.unref(); // as AbortSignal.timeout: a request under way keeps the process alive, not its timer
    const stop = () => abort.abort(signal!.reason);
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop, { once: true });
    try {
      const res = await poolFor(this.url.origin, this.timeoutMs).request({
        path: this.url.pathname + this.url.search,
        method: "POST",
        headers: this.headers,
        body: JSON.stringify(body),
        signal: abort.signal,
      });
      const text = await readBounded(res.body, this.maxReplyBytes);
      return { status: res.statusCode, headers: res.headers, body: text };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
    }
  }
}

/** The body as text, at most `max` bytes: a bigger one is dropped unread (a 50 MB reply must not become a 500 MB process). */
async function readBounded(body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw Object.assign(new Error(`the reply is over LLM_MAX_REPLY_BYTES (${max} bytes); not read further`), { code: "AGENTOS_REPLY_TOO_LARGE" });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const seconds = Number(v);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), 120_000) : undefined;
}

export function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT";
}

export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (isTimeout(err)) return `no answer within LLM_TIMEOUT (${timeoutMs / 1000} s)`;
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message ?? e.message;
  return code ? `${code}${message && !message.includes(code) ? ` (${message})` : message ? ` (${message})` : ""}` : (message ?? String(err));
}

export const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
