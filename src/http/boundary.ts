// The API's boundary, registered before every route: who may talk to it (Host and
// Origin on loopback, the bearer token), how often a wrong token may be tried, and how
// long and how many connections may stay open. Routes ask `isAuthenticated(req)` before
// saying anything about the installation. See docs/security.md.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { UserError } from "../ops/errors.js";

/** Off loopback the token is all that stands between the network and the agents. */
export const MIN_TOKEN_LENGTH = 32;

/**
 * Server options the boundary needs (spread them into Fastify()): headers and body of one
 * request must arrive within `requestTimeoutMs` (slow-body clients), idle sockets close.
 * Node reads headersTimeout and the checking interval only when the server is created,
 * and checks every 30 s by default, on top of the timeout: hence `http`.
 */
export function serverLimits(requestTimeoutMs = 30_000) {
  return {
    requestTimeout: requestTimeoutMs,
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    maxRequestsPerSocket: 1_000,
    http: { requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(2_000, requestTimeoutMs) },
  };
}
/** Open connections at once; more are refused by the server (app.server.maxConnections). */
export const MAX_CONNECTIONS = 256;

const FAILURES_ALLOWED = 10;
const FAILURE_WINDOW_MS = 60_000;
/** Addresses remembered for the 401 limit; the oldest are forgotten beyond it. */
const MAX_TRACKED_CLIENTS = 10_000;

export interface BoundaryOptions {
  token?: string;
  /** The API listens on a loopback address. */
  loopback: boolean;
  /** Paths answered without a token (with `isAuthenticated` false); default /healthz, /readyz, /openapi.json. */
  isPublic?: (path: string) => boolean;
  now?: () => number;
}

/** Refuses (UserError, exit 2) a token too short to be off loopback. */
export function checkTokenStrength(loopback: boolean, token: string | undefined): void {
  if (!loopback && token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UserError(
      `AGENTOS_API_TOKEN is ${token.length} characters; off loopback it must be at least ${MIN_TOKEN_LENGTH} (e.g. \`openssl rand -hex 16\`)`,
      "AGENTOS_INVALID_ARGUMENT",
    );
  }
}

const AUTHENTICATED = Symbol("agentos.authenticated");
type Marked = FastifyRequest & { [AUTHENTICATED]?: boolean };

/** True when the request carried the token, or when the API has none (loopback, Host checked). */
export function isAuthenticated(req: FastifyRequest): boolean {
  return (req as Marked)[AUTHENTICATED] === true;
}

const digest = (s: string) => createHash("sha256").update(s).digest();
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/** The host name of a Host header or an Origin URL, lower case, without port. */
function hostName(value: string): string | undefined {
  try {
    return new URL(value.includes("://") ? value : `http://${value}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

const plugin: FastifyPluginAsync<BoundaryOptions> = async (app: FastifyInstance, opts: BoundaryOptions) => {
  const now = opts.now ?? Date.now;
  const tokenDigest = opts.token ? digest(opts.token) : undefined;
  const isLoopbackName = (name: string | undefined) => name !== undefined && (LOOPBACK_NAMES.has(name) || name.endsWith(".localhost"));
  const isPublic = opts.isPublic ?? ((path: string) => path === "/healthz" || path === "/readyz" || path === "/openapi.json");
  const failures = new Map<string, { count: number; since: number; blockedUntil?: number }>();

  app.server.maxConnections = MAX_CONNECTIONS;

  app.addHook("onRequest", async (req, reply) => {
    const marked = req as Marked;
    marked[AUTHENTICATED] = false;
    if (opts.loopback && !tokenDigest) {
      // Without a token, any local process is trusted, but not a web page: one that rebinds
      // its own name to 127.0.0.1 still sends its own name as Host, and its Origin.
      if (!isLoopbackName(hostName(req.headers.host ?? ""))) {
        throw new UserError("without AGENTOS_API_TOKEN this API answers only to a loopback host name (localhost, 127.0.0.1, [::1])", "AGENTOS_NOT_LOOPBACK_HOST");
      }
      const origin = req.headers.origin;
      if (origin !== undefined && (origin === "null" || !isLoopbackName(hostName(origin)))) {
        throw new UserError("cross-origin requests from web pages are refused", "AGENTOS_CROSS_ORIGIN");
      }
    }
    const path = req.url.split("?")[0]!;
    if (!tokenDigest) {
      marked[AUTHENTICATED] = true;
      return;
    }
    const client = req.ip;
    const record = failures.get(client);
    const t = now();
    if (record?.blockedUntil !== undefined && record.blockedUntil > t) {
      const seconds = Math.ceil((record.blockedUntil - t) / 1000);
      reply.header("retry-after", String(seconds));
      throw new UserError(`too many failed authentications from this address; retry in ${seconds} s`, "AGENTOS_TOO_MANY_FAILURES");
    }
    const header = req.headers.authorization ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m && timingSafeEqual(digest(m[1]!.trim()), tokenDigest)) {
      marked[AUTHENTICATED] = true;
      failures.delete(client);
      return;
    }
    if (isPublic(path) && !m) return; // answered, with nothing about the installation
    reply.header("www-authenticate", 'Bearer realm="agentos"');
    if (!m) throw new UserError("missing 'Authorization: Bearer <AGENTOS_API_TOKEN>' header", "AGENTOS_UNAUTHORIZED");
    // Only a wrong token is a guess worth counting.
    const r = record && t - record.since < FAILURE_WINDOW_MS ? record : { count: 0, since: t };
    r.count++;
    if (r.count >= FAILURES_ALLOWED) r.blockedUntil = t + FAILURE_WINDOW_MS;
    failures.delete(client);
    failures.set(client, r);
    if (failures.size > MAX_TRACKED_CLIENTS) failures.delete(failures.keys().next().value!);
    throw new UserError("wrong bearer token", "AGENTOS_UNAUTHORIZED");
  });
};

// Hooks of a registered plugin normally stay inside it; this one guards the whole app
// (what the fastify-plugin package does, without the package).
(plugin as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;

export const boundary = plugin;
