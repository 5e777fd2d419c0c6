// One runtime owns an agent at a time: .agentos/lease.json names the host and pid
// and carries a heartbeat (also what the Docker HEALTHCHECK reads). A lease whose pid
// is dead on this host, or whose heartbeat is stale, is taken over.
import { hostname } from "node:os";
import { readTextIfExists, writeFileAtomic } from "./files.js";

export interface Lease {
  host: string;
  pid: number;
  started: string;
  heartbeat: string;
}

export const LEASE_STALE_MS = 30_000;

export type LeaseCheck = { ok: true } | { ok: false; owner: Lease; message: string };

export async function readLease(path: string): Promise<Lease | undefined> {
  const text = await readTextIfExists(path);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as Lease;
  } catch {
    return undefined;
  }
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
  if (l.host === hostname()) return l.pid !== process.pid && pidAlive(l.pid) && fresh;
  return fresh;
}

export async function acquireLease(path: string, agent: string, now = new Date()): Promise<LeaseCheck> {
  const current = await readLease(path);
  if (current && leaseIsLive(current, now.getTime())) {
    return {
      ok: false,
      owner: current,
      message: `agent '${agent}' is already run by pid ${current.pid} on host ${current.host} (since ${current.started}, last heartbeat ${current.heartbeat}); stop that runtime first, or run the other agents with --agent`,
    };
  }
  await writeLease(path, { host: hostname(), pid: process.pid, started: now.toISOString(), heartbeat: now.toISOString() });
  return { ok: true };
}

export async function writeLease(path: string, lease: Lease): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(lease) + "\n");
}
