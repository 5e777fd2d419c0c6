// Task lookup, for the REST API (and anyone asking "where is task <id> of agent <name>?"):
// from the same places a person would look, in order: the live scheduler (when this
// process runs the agent), the processed ledger, results/, the task files, dead letters.
// Read-only.
import { join, relative } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { parseRewards } from "../store/rewards.js";
import { listDeadLetters, type DeadLetterReason } from "../store/dead-letters.js";
import { readTextIfExists } from "../store/files.js";
import { readTaskFile } from "../store/task-file-read.js";
import { agentPaths, sharedPaths } from "../store/layout.js";
import { readLedger } from "../store/ledger.js";
import { agentTaskFiles } from "../store/task-files.js";
import { parseTaskFile, TASK_ID_PATTERN } from "../parse/task-blocks.js";
import { unknownAgent, UserError } from "./errors.js";
import { readResult } from "./results.js";
import type { LiveAgents } from "./status.js";

export interface TaskReport {
  id: string;
  agent: string;
  status: "queued" | "running" | "done" | "dead";
  /** queued/running: where it is; in_file = in a task file, not (yet) held by this process. */
  state?: "in_file" | "waiting" | "ready" | "running" | "retrying";
  attempts?: number;
  last_error?: string;
  /** queued in a file: that file, relative to DATA_DIR. */
  source?: string;
  reward?: number;
  result?: string;
  dead_letter?: { reason: DeadLetterReason; at: string; attempts: number; last_error?: string; file: string };
}

/** Where task `id` of `agent` is; throws AGENTOS_UNKNOWN_AGENT, AGENTOS_INVALID_TASK_ID or AGENTOS_UNKNOWN_TASK. */
export async function findTask(dataDir: string, file: AgentsFile, agent: string, id: string, live?: LiveAgents): Promise<TaskReport> {
  if (!file.agents.some((a) => a.name === agent)) throw unknownAgent(agent, file.agents);
  if (!TASK_ID_PATTERN.test(id)) throw new UserError(`invalid task id '${id}': expected 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit`, "AGENTOS_INVALID_TASK_ID");
  const found = await lookUp(dataDir, file, agent, id, live);
  if (!found) throw new UserError(`no task '${id}' for ${agent}: not queued, running, done or dead-lettered`, "AGENTOS_UNKNOWN_TASK");
  return found;
}

async function lookUp(dataDir: string, file: AgentsFile, agent: string, id: string, live: LiveAgents | undefined): Promise<TaskReport | undefined> {
  const paths = agentPaths(dataDir, agent);
  const base = { id, agent };
  const inProcess = live?.get(agent)?.taskState(id);
  if (inProcess) {
    return { ...base, status: inProcess.state === "running" ? "running" : "queued", state: inProcess.state, attempts: inProcess.attempts, last_error: inProcess.lastError };
  }

  const handled = (await readLedger(paths.ledger)).state(id);
  if (handled === "done") {
    const reward = parseRewards((await readTextIfExists(paths.rewards)) ?? "").entries.findLast((e) => e.task === id)?.reward;
    const result = (await readResult(dataDir, agent, id))?.text;
    return { ...base, status: "done", reward, result };
  }
  if (handled !== "dead") {
    for (const f of await agentTaskFiles(dataDir, file.iac.dead_letter_path, agent)) {
      const r = await readTaskFile(f);
      if (!r.ok) continue;
      if (parseTaskFile(r.text, { settled: true }).blocks.some((b) => b.kind === "task" && b.block.id === id)) {
        return { ...base, status: "queued", state: "in_file", source: relative(dataDir, f) };
      }
    }
  }
  const letters = await listDeadLetters(sharedPaths(dataDir, file.iac.dead_letter_path).deadLetters);
  const mine = letters.filter((d) => d.agent === agent && d.taskId === id);
  // A later copy of a handled id leaves a `duplicate` letter; the task's own fate is the other one.
  const letter = mine.filter((d) => d.reason !== "duplicate").at(-1) ?? mine.at(-1);
  if (!letter) return undefined;
  return {
    ...base,
    status: "dead",
    attempts: letter.attempts,
    dead_letter: { reason: letter.reason, at: letter.at, attempts: letter.attempts, last_error: letter.lastError, file: relative(dataDir, letter.file) },
  };
}
