// The REST API, health and metrics of `agentos run --http ADDR` (fastify + prom-client).
// The order is the design: the boundary plugin (auth, and whatever else a request must
// show) first, then every route list with one call each. Routes validate and serialise
// with their own schemas (route.ts); the use-cases they call live in ops/.
import { readFileSync } from "node:fs";
import Fastify from "fastify";
import type { Logger } from "../log.js";
import type { Runtime } from "../agent/runtime.js";
import { parseListenAddress } from "./address.js";
import { boundary, serverLimits } from "./boundary.js";
import { installErrorHandlers } from "./errors.js";
import { closeDashboard, isDashboardAsset } from "./dashboard/index.js";
import { createMetrics, type RuntimeMetrics } from "./metrics.js";
import { openApiDocument } from "./openapi.js";
import { registerRoutes, type ApiContext, type ApiRoute } from "./route.js";
import { API_ROUTES } from "./routes/index.js";
import { BODY_LIMIT_BYTES } from "./schemas.js";

export { createMetrics, parseListenAddress };

export interface HttpOptions {
  addr: string;
  token?: string;
  dataDir: string;
  log: Logger;
  /** The metrics whose events the runtime was built with; created here if absent (then task counters stay 0). */
  metrics?: RuntimeMetrics;
}

export const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** Starts the API on `opts.addr`; resolves to a function that closes it. Throws UserError for a bad address. */
export async function startHttp(runtime: Runtime, opts: HttpOptions): Promise<() => Promise<void>> {
  const listen = parseListenAddress(opts.addr, opts.token);
  const metrics = opts.metrics ?? createMetrics();
  metrics.watch(runtime);
  let closing = false;
  const routes: ApiRoute[] = [];
  let openapi: Record<string, unknown> | undefined;
  const ctx: ApiContext = {
    dataDir: opts.dataDir,
    runtime,
    metrics,
    log: opts.log,
    started: Date.now(),
    closing: () => closing,
    openapi: () => (openapi ??= openApiDocument(routes, VERSION)),
  };

  const app = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 200 },
    logger: false,
    return503OnClosing: true,
    ...serverLimits(),
    // Refuse what the schema does not allow instead of fixing it up: no type coercion,
    // no silent removal of unknown fields, and every problem of a request at once.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true, verbose: true } },
  });
  // JSON is the only body the API takes: a text/plain body is a 415, as documented.
  app.removeContentTypeParser("text/plain");
  installErrorHandlers(app, () => routes, opts.log, opts.dataDir);

  // Host/Origin on loopback, the token, 401 rate limit, connection limits (boundary.ts).
  // Public: the routes marked so (probes, this document) and the dashboard's page and files.
  const publicPaths = new Set(API_ROUTES.filter((r) => r.public).map((r) => r.url));
  await app.register(boundary, { token: opts.token, loopback: listen.loopback, isPublic: (path) => publicPaths.has(path) || isDashboardAsset(path) });
  const register = (list: ApiRoute[]) => {
    routes.push(...list);
    registerRoutes(app, list, ctx);
  };
  register(API_ROUTES);

  await app.listen({ host: listen.host, port: listen.port });
  const address = app.server.address();
  const shown = typeof address === "object" && address ? `${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}` : opts.addr;
  opts.log.info(`REST API listening on http://${shown}${opts.token ? " (bearer token required)" : ""}`);
  return async () => {
    closing = true;
    closeDashboard(ctx);
    await app.close();
  };
}
