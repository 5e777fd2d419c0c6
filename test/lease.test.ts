// The lease on its own (.agentos/lease.json): one runtime owns an agent at a time. A
// live owner is refused by name; a dead or silent one is taken over; a graceful stop
// releases it at once. Real files in a temp dir, real processes for live and dead pids.
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireLease, LEASE_STALE_MS, leaseIsLive, readLease, releaseLease, touchLease, type Lease } from "../src/store/lease.js";
import { tempDir } from "./support/data.js";

const leasePath = () => join(tempDir(), "lease.json");

/** A lease file as another runtime wrote it, its heartbeat (mtime) `ageMs` old. */
function writeTheirs(path: string, owner: Partial<Lease>, ageMs = 0): Lease {
  const lease: Lease = { host: hostname(), pid: process.ppid, started: "2026-04-29T10:00:00.000Z", heartbeat: "2026-04-29T10:00:00.000Z", token: "theirs", ...owner };
  writeFileSync(path, JSON.stringify(lease) + "\n");
  const at = new Date(Date.now() - ageMs);
  utimesSync(path, at, at);
  return lease;
}

/** The pid of a process that has just exited. */
async function deadPid(): Promise<number> {
  const p = spawn("true");
  await new Promise((r) => p.once("exit", r));
  return p.pid!;
}

describe("the lease", () => {
  it("is acquired when there is none: host, pid, start time and a token of its own, the heartbeat in the file's mtime", async () => {
    const path = leasePath();
    const r = await acquireLease(path, "orion");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.lease).toMatchObject({ host: hostname(), pid: process.pid, token: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(r.lease);
    const read = (await readLease(path))!;
    expect(read.token).toBe(r.lease.token);
    expect(read.heartbeat).toBe(statSync(path).mtime.toISOString());
    expect(leaseIsLive(read)).toBe(true);
  });

  it("refuses while a live runtime on this host holds it, naming its pid, host and start", async () => {
    const path = leasePath();
    const theirs = writeTheirs(path, { pid: process.ppid });
    const r = await acquireLease(path, "orion");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.owner).toMatchObject({ pid: theirs.pid, host: theirs.host, token: "theirs" });
    expect(r.message).toMatch(
      new RegExp(`^agent 'orion' is already run by pid ${process.ppid} on host ${hostname()} \\(since 2026-04-29T10:00:00\\.000Z, last heartbeat \\S+\\); stop that runtime first, or run the other agents with --agent$`),
    );
    expect(JSON.parse(readFileSync(path, "utf8")).token).toBe("theirs"); // untouched
  });

  it("refuses a live runtime's lease also when told there is most likely none (a folder made a moment ago), and takes one that is missing", async () => {
    const path = leasePath();
    writeTheirs(path, { pid: process.ppid });
    const r = await acquireLease(path, "orion", new Date(), true);
    expect(r.ok).toBe(false);
    expect(JSON.parse(readFileSync(path, "utf8")).token).toBe("theirs"); // untouched
    rmSync(path);
    const mine = await acquireLease(path, "orion", new Date(), true);
    expect(mine.ok && JSON.parse(readFileSync(path, "utf8")).token === mine.lease.token).toBe(true);
  });

  it("refuses a lease from another host while its heartbeat is fresh, and takes it over once it is stale", async () => {
    const path = leasePath();
    writeTheirs(path, { host: "elsewhere", pid: 1 }, LEASE_STALE_MS - 5_000);
    const fresh = await acquireLease(path, "orion");
    expect(fresh.ok).toBe(false);
    expect(!fresh.ok && fresh.message).toMatch(/already run by pid 1 on host elsewhere/);

    writeTheirs(path, { host: "elsewhere", pid: 1 }, LEASE_STALE_MS + 1_000);
    const stale = await acquireLease(path, "orion");
    expect(stale.ok).toBe(true);
    expect(JSON.parse(readFileSync(path, "utf8"))).toMatchObject({ host: hostname(), pid: process.pid });
  });

  it("takes over at once from a runtime on this host whose pid is dead, even with a fresh heartbeat", async () => {
    const path = leasePath();
    const pid = await deadPid();
    writeTheirs(path, { pid });
    expect(leaseIsLive((await readLease(path))!)).toBe(false);
    const r = await acquireLease(path, "orion");
    expect(r.ok).toBe(true);
    expect(JSON.parse(readFileSync(path, "utf8")).token).toBe(r.ok && r.lease.token);
  });

  it("trusts only the heartbeat when the pid is its own number (PID 1 of another container, or itself before a restart)", async () => {
    const path = leasePath();
    writeTheirs(path, { pid: process.pid });
    expect((await acquireLease(path, "orion")).ok).toBe(false);
    writeTheirs(path, { pid: process.pid }, LEASE_STALE_MS + 1_000);
    expect((await acquireLease(path, "orion")).ok).toBe(true);
  });

  it("beats by moving the file's mtime only: same text, same inode", async () => {
    const path = leasePath();
    expect((await acquireLease(path, "orion")).ok).toBe(true);
    const [text, ino] = [readFileSync(path, "utf8"), statSync(path).ino];
    const later = new Date(Date.now() + 7_000);
    touchLease(path, later);
    expect(statSync(path).mtimeMs).toBe(later.getTime());
    expect((await readLease(path))!.heartbeat).toBe(later.toISOString());
    expect([readFileSync(path, "utf8"), statSync(path).ino]).toEqual([text, ino]);
  });

  it("is free for the next runtime as soon as it is released, though its owner is still alive", async () => {
    const path = leasePath();
    writeTheirs(path, { pid: process.ppid });
    expect((await acquireLease(path, "orion")).ok).toBe(false);
    releaseLease(path);
    expect(statSync(path).mtimeMs).toBe(0);
    expect(leaseIsLive((await readLease(path))!)).toBe(false);
    expect((await acquireLease(path, "orion")).ok).toBe(true);
  });

  it("lets exactly one of several runtimes racing for the same lease win", async () => {
    const path = leasePath();
    for (let round = 0; round < 10; round++) {
      rmSync(path, { force: true });
      const results = await Promise.all(Array.from({ length: 5 }, () => acquireLease(path, "orion")));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = results.find((r) => r.ok)!;
      expect(JSON.parse(readFileSync(path, "utf8")).token).toBe(winner.ok && winner.lease.token);
    }
  });

  it("races for a stale lease the same way: one of them takes it over", async () => {
    const path = leasePath();
    for (let round = 0; round < 5; round++) {
      writeTheirs(path, { host: "elsewhere", pid: 1 }, LEASE_STALE_MS + 1_000);
      const results = await Promise.all(Array.from({ length: 4 }, () => acquireLease(path, "orion")));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
    }
  });
});
