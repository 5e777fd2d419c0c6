// One runtime owns an agent at a time: .agentos/lease.json names the host and pid;
// its mtime is the heartbeat (also what the Docker HEALTHCHECK reads). A lease whose pid
// is dead on this host, or whose heartbeat is stale, is taken over.
import { randomBytes } from "node:crypto";
import { linkSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { readTextIfExists } from "./files.js";

export interface Lease {
  host: string;
  pid: number;
  started: string;
  heartbeat: string;
  /** Random per acquisition: tells two runtimes on one host (or PID 1 in two containers) apart. */
  token?: string;
}

export const LEASE_STALE_MS = 30_000;

export type LeaseCheck = { ok: true; lease: Lease } | { ok: false; owner: Lease; message: string };

/**
 * The lease at `path`; its heartbeat is the file's mtime (a beat is one utimes() of the
 * lease, not a rewrite: with 1,000 agents, rewriting every lease every 10 s was most of
 * the CPU an idle runtime used).
 */
export async function readLease(path: string): Promise<Lease | undefined> {
  const text = await readTextIfExists(path);
  if (!text) return undefined;
  try {
    const lease = JSON.parse(text) as Lease;
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? { ...lease, heartbeat: st.mtime.toISOString() } : lease;
  } catch {
    return undefined;
  }
}

/** A heartbeat: the lease file's mtime moves to `at`. */
export function touchLease(path: string, at: Date): void {
  utimesSync(path, at, at);
}

/** A graceful stop: the heartbeat goes to 1970, so the next runtime need not wait for it to go stale. */
export function releaseLease(path: string): void {
  utimesSync(path, 0, 0);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function leaseIsLive(l: Lease, now = Date.now()): boolean {
  const fresh = now - Date.parse(l.heartbeat) < LEASE_STALE_MS;
  if (l.host !== hostname()) return fresh;
  // Our own pid number is no proof of anything: it is also PID 1 of another container
  // sharing the host's network (same hostname), or this container before a restart.
  // Only the heartbeat can tell; a graceful stop zeroes it.
  if (l.pid === process.pid) return fresh;
  return pidAlive(l.pid) && fresh;
}

/**
 * Takes the lease at `path` unless a live runtime holds it. `none`: most likely there is
 * no lease yet (the agent's folder was made just now), so the first try creates it without
 * reading first; if one is there after all, link() says so and the next try reads it.
 */
export async function acquireLease(path: string, agent: string, now = new Date(), none = false): Promise<LeaseCheck> {
  const mine: Lease = { host: hostname(), pid: process.pid, started: now.toISOString(), heartbeat: now.toISOString(), token: randomBytes(8).toString("hex") };
  for (let tries = 0; tries < 5; tries++) {
    const current = none && tries === 0 ? undefined : await readLease(path);
    if (current && leaseIsLive(current, now.getTime())) {
      return {
        ok: false,
        owner: current,
        message: `agent '${agent}' is already run by pid ${current.pid} on host ${current.host} (since ${current.started}, last heartbeat ${current.heartbeat}); stop that runtime first, or run the other agents with --agent`,
      };
    }
    // Synchronously: a few calls on a small file, each cheaper than a trip through the
    // thread pool (1,000 agents take their leases at start).
    const tmp = tempBeside(path);
    writeFileSync(tmp, JSON.stringify(mine) + "\n", { flag: "wx" });
    try {
      // No lease yet: link() fails if another runtime created one meanwhile. A stale
      // lease is replaced; two runtimes replacing it at once both re-read below, and
      // only the one whose token is there goes on.
      if (current) renameSync(tmp, path);
      else linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      continue;
    } finally {
      try {
        unlinkSync(tmp);
      } catch {
        // Renamed into place: gone already.
      }
    }
    if (!current) return { ok: true, lease: mine }; // link() succeeded: nobody else can have it
    await new Promise((r) => setTimeout(r, 25));
    if ((await readLease(path))?.token === mine.token) return { ok: true, lease: mine };
  }
  const owner = await readLease(path);
  return { ok: false, owner: owner ?? mine, message: `agent '${agent}': another runtime is taking it over right now (lease ${path}); try again` };
}

/** Writes the lease again (someone deleted it): replaced by rename, so a reader never sees half of it. */
export async function writeLease(path: string, lease: Lease): Promise<void> {
  const tmp = tempBeside(path);
  await writeFile(tmp, JSON.stringify(lease) + "\n");
  await rename(tmp, path);
}

/** `.lease.json.<pid>.<hex>.tmp`: the name removeStaleTemps cleans up after a kill -9. */
const tempBeside = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
