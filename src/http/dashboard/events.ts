// Server-sent events for the dashboard: `GET /v1/events` streams the overview (one
// `overview` event on connect, then one whenever it changes). One shared poller builds it
// every POLL_MS while at least one client listens, and nothing when nobody does; polling
// the files (not only this process's events) is what shows agents that other processes
// (Compose containers) run.
import type { ServerResponse } from "node:http";
import type { Logger } from "../../log.js";
import type { Overview } from "./schemas.js";

export const POLL_MS = 1000;
/** Rebuilt at least this often even when no file changed (a lease goes stale with time). */
const REBUILD_MS = 5000;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** Listeners at once; more get 503 (each holds a socket open). */
export const MAX_LISTENERS = 64;

export class OverviewStream {
  private readonly clients = new Set<ServerResponse>();
  private timer?: NodeJS.Timeout;
  private keepalive?: NodeJS.Timeout;
  private last?: string;
  private building = false;
  private closed = false;

  private lastPrint?: string;
  private lastBuild = 0;

  /** `fingerprint` changes whenever what `build` reads changes; it must be much cheaper than `build`. */
  constructor(
    private readonly build: () => Promise<Overview>,
    private readonly fingerprint: () => Promise<string>,
    private readonly log: Logger,
  ) {}

  get listeners(): number {
    return this.clients.size;
  }

  /** Takes over `res` (already hijacked from fastify) until the client goes away. */
  add(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    this.clients.add(res);
    res.on("close", () => {
      this.clients.delete(res);
      if (!this.clients.size) this.idle();
    });
    // The newest overview at once; a first build (nobody listened before) is broadcast when done.
    if (this.last) res.write(frame(this.last));
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), POLL_MS);
      this.keepalive = setInterval(() => this.broadcast(": keepalive\n\n"), KEEPALIVE_MS);
    }
    void this.tick();
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    this.closed = true;
    this.idle();
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private idle(): void {
    clearInterval(this.timer);
    clearInterval(this.keepalive);
    this.timer = this.keepalive = undefined;
    this.last = this.lastPrint = undefined;
  }

  private async tick(): Promise<void> {
    if (this.building || this.closed) return;
    this.building = true;
    try {
      const print = await this.fingerprint();
      if (print === this.lastPrint && Date.now() - this.lastBuild < REBUILD_MS) return;
      const overview = await this.build();
      this.lastPrint = print;
      this.lastBuild = Date.now();
      // Compare without the time stamp: an unchanged overview is not sent again.
      const json = JSON.stringify(overview.agents);
      if (json !== this.last) {
        this.last = json;
        this.broadcast(frame(json));
      }
    } catch (err) {
      this.log.warn(`dashboard overview could not be built: ${(err as Error).message}`);
    } finally {
      this.building = false;
    }
  }

  private broadcast(text: string): void {
    for (const c of this.clients) if (!c.writableEnded) c.write(text);
  }
}

const frame = (agentsJson: string) => `event: overview\ndata: {"at":"${new Date().toISOString()}","agents":${agentsJson}}\n\n`;
