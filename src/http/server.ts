// REST API, health and metrics (fastify + prom-client). Placeholder until the OPS work lands.
import type { Logger } from "../log.js";
import type { Runtime } from "../runtime/runtime.js";

export interface HttpOptions {
  addr: string;
  token?: string;
  dataDir: string;
  log: Logger;
}

export async function startHttp(_runtime: Runtime, opts: HttpOptions): Promise<() => Promise<void>> {
  opts.log.warn(`the HTTP API is not available in this build; ignoring ${opts.addr}`);
  return async () => {};
}
