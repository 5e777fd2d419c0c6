// Answers "where is task <id> of agent <name>?" for the REST API from the same
// places a person would look: the live scheduler (when this process runs the agent),
// the processed ledger, results/, dead letters and the task files. Read-only.
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { parseRewards } from "../store/rewards.js";
import type { AgentRuntime } from "../agent/agent.js";
import { listDeadLetters } from "../store/dead-letters.js";
import { readTaskFile, readTextIfExists } from "../store/files.js";
import { agentPaths, isMessageFileName, sharedPaths } from "../store/layout.js";
import { parseTaskFile } from "../parse/task-blocks.js";
import type { TaskStatus } from "./schemas.js";
import { readResult } from "../ops/results.js";

/** The task files an agent reads: queue.md, then its inbox and handoff message files. */
export async function taskFilesOf(dataDir: string, file: AgentsFile, agent: string): Promise<string[]> {
  const shared = sharedPaths(dataDir, file.iac.dead_letter_path);
  const files = [agentPaths(dataDir, agent).queue];
  for (const dir of [join(shared.inboxRoot, agent), join(shared.handoffsRoot, agent)]) {
    for (const n of (await readdir(dir).catch(() => [] as string[])).filter(isMessageFileName).sort()) files.push(join(dir, n));
  }
  return files;
}

function ledgerState(ledgerText: string, id: string): "done" | "dead" | undefined {
  let state: "done" | "dead" | undefined;
  for (const line of ledgerText.split("\n")) {
    const [event, key] = line.split("\t");
    if (key === id && (event === "done" || event === "dead")) state = event;
  }
  return state;
}

export async function findTask(dataDir: string, file: AgentsFile, agent: string, id: string, live: AgentRuntime | undefined): Promise<TaskStatus | undefined> {
  const paths = agentPaths(dataDir, agent);
  const base = { id, agent };
  const inProcess = live?.taskState(id);
  if (inProcess) {
    return { ...base, status: inProcess.state === "running" ? "running" : "queued", state: inProcess.state, attempts: inProcess.attempts, last_error: inProcess.lastError };
  }

  const handled = ledgerState((await readTextIfExists(paths.ledger)) ?? "", id);
  if (handled === "done") {
    const reward = parseRewards((await readTextIfExists(paths.rewards)) ?? "").entries.findLast((e) => e.task === id)?.reward;
    const result = (await readResult(dataDir, agent, id))?.text;
    return { ...base, status: "done", reward, result };
  }
  if (handled !== "dead") {
    for (const f of await taskFilesOf(dataDir, file, agent)) {
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
  if (letter) {
    return {
      ...base,
      status: "dead",
      attempts: letter.attempts,
      dead_letter: { reason: letter.reason, at: letter.at, attempts: letter.attempts, last_error: letter.lastError, file: relative(dataDir, letter.file) },
    };
  }
  return undefined;
}
