// `agentos status`: what each agent holds and has learned, read from its files
// (and from the running runtime's status snapshot when one is alive).
import { readdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { parseGoals } from "../store/goals.js";
import { parseRewards } from "../store/rewards.js";
import { parseSkills, skillsOf } from "../store/skills.js";
import { readAgentStatusFile, type TokenCounts } from "../store/status-file.js";
import { readTaskFile, readTextIfExists } from "../store/files.js";
import { agentPaths, isMessageFileName, sharedPaths } from "../store/layout.js";
import { leaseIsLive, readLease, LEASE_STALE_MS, type Lease } from "../store/lease.js";
import { parseTaskFile } from "../parse/task-blocks.js";

export interface AgentReport {
  name: string;
  running: boolean;
  /** Why running is false although a runtime may hold the agent (see leaseUnknown). */
  unknown?: string;
  pending: number;
  waiting: number;
  in_flight: number;
  done: number;
  paused?: { reason: string; since: string };
  tokens?: TokenCounts;
  last_reward?: { reward: number; task: string; at: string; audit?: number };
  totals: { plus: number; zero: number; minus: number };
  skills: { slug: string; evidence: number; last_success: string }[];
  goals: string[];
  problems: string[];
}

export async function agentReports(dataDir: string, file: AgentsFile): Promise<AgentReport[]> {
  const shared = sharedPaths(dataDir, file.iac.dead_letter_path);
  return Promise.all(
    file.agents.map(async (a) => {
      const p = agentPaths(dataDir, a.name);
      const ledgerText = (await readTextIfExists(p.ledger)) ?? "";
      const handled = new Set(ledgerText.split("\n").filter((l) => /^(done|dead)\t/.test(l)).map((l) => l.split("\t")[1]));
      const done = ledgerText.split("\n").filter((l) => l.startsWith("done\t")).length;
      let pending = 0;
      const problems: string[] = [];
      const files = [p.queue];
      for (const dir of [join(shared.inboxRoot, a.name), join(shared.handoffsRoot, a.name)]) {
        for (const n of (await readdir(dir).catch(() => [] as string[])).filter(isMessageFileName)) files.push(join(dir, n));
      }
      for (const f of files) {
        const r = await readTaskFile(f);
        if (!r.ok) {
          if (!r.missing) problems.push(`${f}: ${r.message}`);
          continue;
        }
        pending += parseTaskFile(r.text, { settled: true }).blocks.filter((b) => b.kind === "task" && !handled.has(b.block.id)).length;
      }
      const lease = await readLease(p.lease);
      const running = !!lease && leaseIsLive(lease);
      const unknown = lease && !running ? leaseUnknown(lease) : undefined;
      const live = running ? await readAgentStatusFile(p) : undefined;
      const rewards = parseRewards((await readTextIfExists(p.rewards)) ?? "");
      const last = rewards.entries[rewards.entries.length - 1];
      return {
        name: a.name,
        running,
        unknown,
        pending,
        waiting: live?.waiting ?? 0,
        in_flight: live?.in_flight ?? 0,
        done,
        paused: live?.paused,
        tokens: live?.tokens,
        last_reward: last ? { reward: last.reward, task: last.task, at: last.at, audit: last.audit } : undefined,
        totals: rewards.totals,
        skills: skillsOf(parseSkills((await readTextIfExists(p.skills)) ?? "")).map((s) => ({ slug: s.slug, evidence: s.evidence, last_success: s.lastSuccess })),
        goals: parseGoals((await readTextIfExists(p.goals)) ?? "").active.map((g) => g.text),
        problems: [...problems, ...(live?.source_errors ?? [])],
      };
    }),
  );
}

/**
 * A fresh heartbeat from a pid this process cannot see on this host name: the runtime may
 * be alive in another PID namespace (a container with the host's network) or just died.
 * From here it cannot be told; say why instead of calling it stopped.
 */
function leaseUnknown(lease: Lease, now = Date.now()): string | undefined {
  const age = now - Date.parse(lease.heartbeat);
  if (lease.host !== hostname() || age >= LEASE_STALE_MS) return undefined;
  return (
    `its lease (pid ${lease.pid} on host ${lease.host}) has a heartbeat ${Math.round(age / 1000)} s old, but no pid ${lease.pid} is visible from here: ` +
    `the runtime may run in another PID namespace (a container with the host's network) or have just died; it counts as stopped once the heartbeat is ${LEASE_STALE_MS / 1000} s old`
  );
}

export function renderReports(reports: AgentReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    const last = r.last_reward ? `${r.last_reward.reward > 0 ? "+" : ""}${r.last_reward.reward} on ${r.last_reward.task}` : "none yet";
    out.push(
      `${r.name}  ${r.running ? (r.paused ? "PAUSED" : "running") : r.unknown ? "unknown" : "stopped"}  pending ${r.pending}${r.running ? ` (waiting ${r.waiting})` : ""}  in flight ${r.in_flight}  done ${r.done}  last reward ${last}`,
    );
    if (r.paused) out.push(`  paused since ${r.paused.since}: ${r.paused.reason}`);
    if (r.tokens) out.push(`  tokens: ${r.tokens.today} today${r.tokens.perDay ? ` of ${r.tokens.perDay}` : ""}; since start ${r.tokens.prompt} in, ${r.tokens.completion} out`);
    if (r.unknown) out.push(`  unknown: ${r.unknown}`);
    out.push(`  rewards: +1 x${r.totals.plus}, 0 x${r.totals.zero}, -1 x${r.totals.minus}`);
    out.push(`  skills (${r.skills.length}): ${r.skills.map((s) => `${s.slug} (${s.evidence})`).join(", ") || "none"}`);
    out.push(`  goals (${r.goals.length}): ${r.goals.join("; ") || "none"}`);
    for (const p of r.problems) out.push(`  problem: ${p}`);
  }
  return out.join("\n");
}
