// status.json in an agent's .agentos/: the last snapshot a runtime wrote of its agent
// (written at each changed heartbeat and at stop), read by `agentos status` and the API
// when no runtime in this process holds the agent.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AgentPaths } from "./layout.js";

export interface AgentStatus {
  name: string;
  throughput_class: string;
  waiting: number;
  ready: number;
  in_flight: number;
  /** Answered and applied, waiting for their group commit (they no longer count against the depth). */
  committing?: number;
  retrying: number;
  processed: number;
  paused?: { reason: string; since: string; fault?: string };
  source_errors: string[];
  /** Tokens the provider reported: today (UTC), since the runtime started, and the daily budget if set. */
  tokens?: TokenCounts;
}

export interface TokenCounts {
  today: number;
  prompt: number;
  completion: number;
  total: number;
  reasoning?: number;
  perDay?: number;
}

export function statusFilePath(paths: AgentPaths): string {
  return join(paths.state, "status.json");
}

export async function readAgentStatusFile(paths: AgentPaths): Promise<AgentStatus | undefined> {
  const text = await readFile(statusFilePath(paths), "utf8").catch(() => undefined);
  return text ? (JSON.parse(text) as AgentStatus) : undefined;
}
