// Holds one agent's lease for as long as this process runs it: takes it (waiting out a
// stale heartbeat of our own pid), beats, notices a takeover and says so once
// (`onLost`), and releases it at stop. The lease format and the takeover rules are
// store/lease.ts; this is only the lock's life cycle, behind a narrow port.
import { statSync } from "node:fs";
import { hostname } from "node:os";
import type { Logger } from "../log.js";
import { acquireLease, LEASE_STALE_MS, readLease, releaseLease, touchLease, writeLease, type Lease } from "../store/lease.js";

export class LeaseKeeper {
  private lease?: Lease;
  /** Inode of our lease file: another runtime taking it over replaces the file. */
  private ino?: number;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly agent: string,
    private readonly log: Logger,
    private readonly now: () => Date,
    /** Another runtime took the agent over: this one must stop running it. */
    private readonly onLost: (by: Lease) => void,
  ) {}

  get held(): boolean {
    return this.lease !== undefined;
  }

  /** Takes the lease; throws (with the owner named) if a live runtime holds it. `none`: there is most likely no lease file yet (a folder made just now). */
  async acquire(none = false): Promise<void> {
    for (let waited = false; ; none = false) {
      const r = await acquireLease(this.path, this.agent, this.now(), none);
      if (r.ok) {
        this.lease = r.lease;
        this.ino = statSync(this.path).ino;
        return;
      }
      // Our own pid on our own host, yet not us: this container before a kill (docker rm -f,
      // OOM) or another container's PID 1. Only the heartbeat can tell; wait for it to go
      // stale rather than give up, so a replacement container starts by itself.
      const o = r.owner;
      if (o.host !== hostname() || o.pid !== process.pid) throw new Error(r.message);
      if (!waited) this.log.warn(`${r.message} — pid ${o.pid} is also ours (a previous run of this container?); waiting up to ${LEASE_STALE_MS / 1000} s for its heartbeat to stop`);
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  /** One heartbeat; beats never overlap, and release() waits for the one under way. */
  beat(): Promise<void> {
    this.beating = this.beating.then(() => this.beatOnce()).catch((err: unknown) => this.log.warn(`heartbeat failed: ${(err as Error).message}`));
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    if (!this.lease) return;
    // Cheap when nothing happened (the usual case): one stat and one utimes.
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (st?.ino !== this.ino) {
      const current = await readLease(this.path);
      if (current?.token && current.token !== this.lease.token) {
        // Another runtime took the agent over (we were stalled past the stale limit): two
        // owners would commit side by side, so this one steps back.
        this.lease = undefined;
        this.onLost(current);
        return;
      }
      if (!current) await writeLease(this.path, this.lease); // deleted by someone: ours again
      this.ino = statSync(this.path).ino;
    }
    // The wall clock, not the injected one: other processes judge this heartbeat by theirs.
    const now = new Date();
    touchLease(this.path, now);
    this.lease = { ...this.lease, heartbeat: now.toISOString() };
  }

  /** At stop: the heartbeat goes to 1970 (if the lease is still ours), so a successor need not wait. */
  async release(): Promise<void> {
    await this.beating;
    if (!this.lease) return;
    this.lease = undefined;
    if (statSync(this.path, { throwIfNoEntry: false })?.ino !== this.ino) return;
    try {
      releaseLease(this.path);
    } catch {
      // Gone already: nothing to release.
    }
  }
}
