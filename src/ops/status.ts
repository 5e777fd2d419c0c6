// Status reports, for `agentos status` and the REST API: what each agent holds and has
// learned, read from its files (and from the runtime's status snapshot when one is alive,
// or from the live agent when this very process runs it). Read-only.
import { hostname } from "node:os";
import type { AgentsFile } from "../config/schema.js";
import { parseGoals } from "../store/goals.js";
import { parseRewards, type RewardEntry } from "../store/rewards.js";
import { parseSkills, skillsOf } from "../store/skills.js";
import { readAgentStatusFile, type TokenCounts } from "../store/status-file.js";
import { readTextIfExists } from "../store/files.js";
import { readTaskFile } from "../store/task-file-read.js";
import { agentPaths } from "../store/layout.js";
import { leaseIsLive, readLease, LEASE_STALE_MS, type Lease } from "../store/lease.js";
import { readLedger } from "../store/ledger.js";
import { agentTaskFiles } from "../store/task-files.js";
import { parseTaskFile } from "../parse/task-blocks.js";
import { maxQueueDepth } from "./enqueue.js";
import { unknownAgent } from "./errors.js";

/** What the CLI and HTTP need of an agent that runs in this process (a narrow port on AgentRuntime). */
export interface LiveAgent {
  status(): { waiting: number; ready: number; in_flight: number; committing?: number; paused?: { reason: string; since: string }; tokens?: TokenCounts };
  taskState(id: string): { state: "waiting" | "ready" | "running" | "retrying"; attempts: number; lastError?: string } | undefined;
}
export interface LiveAgents {
  get(name: string): LiveAgent | undefined;
}

export interface AgentReport {
  name: string;
  running: boolean;
  /** Why running is false although a runtime may hold the agent (see leaseUnknown). */
  unknown?: string;
  /** Present when the caller passed the agents this process runs (REST API). */
  running_here?: boolean;
  pending: number;
  waiting: number;
  in_flight: number;
  done: number;
  paused?: { reason: string; since: string };
  tokens?: TokenCounts;
  last_reward?: { reward: number; task: string; at: string; audit?: number };
  totals: { plus: number; zero: number; minus: number; disagreed: number };
  skills: { slug: string; evidence: number; last_success: string }[];
  goals: string[];
  problems: string[];
}

export interface AgentDetail extends AgentReport {
  throughput_class: string;
  max_queue_depth: number;
  recent_rewards: RewardEntry[];
}

/** One report per agent in agents.yaml, in its order. */
export async function agentReports(dataDir: string, file: AgentsFile, live?: LiveAgents): Promise<AgentReport[]> {
  return Promise.all(file.agents.map((a) => reportOf(dataDir, file, a.name, live)));
}

/** One agent's report with its recent rewards; throws AGENTOS_UNKNOWN_AGENT. */
export async function agentDetail(dataDir: string, file: AgentsFile, name: string, live?: LiveAgents): Promise<AgentDetail> {
  const cfg = file.agents.find((a) => a.name === name);
  if (!cfg) throw unknownAgent(name, file.agents);
  const report = await reportOf(dataDir, file, name, live);
  const rewards = parseRewards((await readTextIfExists(agentPaths(dataDir, name).rewards)) ?? "").entries.slice(-10);
  return { ...report, throughput_class: cfg.throughput_class, max_queue_depth: maxQueueDepth(file, name), recent_rewards: rewards };
}

async function reportOf(dataDir: string, file: AgentsFile, name: string, live: LiveAgents | undefined): Promise<AgentReport> {
  const p = agentPaths(dataDir, name);
  const ledger = await readLedger(p.ledger);
  let pending = 0;
  const problems: string[] = [];
  for (const f of await agentTaskFiles(dataDir, file.iac.dead_letter_path, name)) {
    const r = await readTaskFile(f);
    if (!r.ok) {
      if (!r.missing) problems.push(`${f}: ${r.message}`);
      continue;
    }
    pending += parseTaskFile(r.text, { settled: true }).blocks.filter((b) => b.kind === "task" && !ledger.isHandled(b.block.id)).length;
  }
  const lease = await readLease(p.lease);
  const running = !!lease && leaseIsLive(lease);
  const unknown = lease && !running ? leaseUnknown(lease) : undefined;
  const snapshot = running ? await readAgentStatusFile(p) : undefined;
  const rewards = parseRewards((await readTextIfExists(p.rewards)) ?? "");
  const last = rewards.entries.at(-1);
  const report: AgentReport = {
    name,
    running,
    unknown,
    pending,
    waiting: snapshot?.waiting ?? 0,
    // In flight: being answered, or answered and being committed.
    in_flight: (snapshot?.in_flight ?? 0) + (snapshot?.committing ?? 0),
    done: ledger.done,
    paused: snapshot?.paused,
    tokens: snapshot?.tokens,
    last_reward: last ? { reward: last.reward, task: last.task, at: last.at, audit: last.audit } : undefined,
    totals: rewards.totals,
    skills: skillsOf(parseSkills((await readTextIfExists(p.skills)) ?? "")).map((s) => ({ slug: s.slug, evidence: s.evidence, last_success: s.lastSuccess })),
    goals: parseGoals((await readTextIfExists(p.goals)) ?? "").active.map((g) => g.text),
    problems: [...problems, ...(snapshot?.source_errors ?? [])],
  };
  if (!live) return report;
  // This process runs it: its own numbers are fresher than the 10 s snapshot.
  const here = live.get(name);
  if (!here) return { ...report, running_here: false };
  const s = here.status();
  return { ...report, running: true, running_here: true, waiting: s.waiting + s.ready, in_flight: s.in_flight + (s.committing ?? 0), paused: s.paused, tokens: s.tokens ?? report.tokens };
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
