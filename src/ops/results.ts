// A task's result by its id, for `agentos result <id>` and the API: from the work tree
// (fan-out folders, or the flat `results/<id>.md` of data dirs from before them), else
// from git history (a result a person removed, or a task committed in another clone).
import { join, relative } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { AgentRepo } from "../commit/git/repo.js";
import { TASK_ID_PATTERN } from "../parse/task-blocks.js";
import { readTextIfExists } from "../store/files.js";
import { agentPaths, flatResultFile, resultFile } from "../store/layout.js";
import { unknownAgent, UserError } from "./errors.js";

export interface FoundResult {
  agent: string;
  taskId: string;
  /** Where it is, relative to the data dir (for history: the path in the commit). */
  path: string;
  /** `file`: in the work tree; `history`: only in the commit that recorded the task. */
  from: "file" | "history";
  /** The commit of the task, when read from history. */
  commit?: string;
  text: string;
}

/** At most this many commits are searched for a result that is not in the work tree. */
const HISTORY_DEPTH = 100_000;

/** The result of task `taskId` of one agent, or undefined when it has none. */
export async function readResult(dataDir: string, agent: string, taskId: string): Promise<FoundResult | undefined> {
  const p = agentPaths(dataDir, agent);
  for (const rel of [resultFile(taskId), flatResultFile(taskId)]) {
    const text = await readTextIfExists(join(p.dir, rel));
    if (text !== undefined) return { agent, taskId, path: relative(dataDir, join(p.dir, rel)), from: "file", text };
  }
  const repo = new AgentRepo(p.dir, { name: agent, email: `${agent}@agentos.local` });
  const commit = (await repo.log(HISTORY_DEPTH).catch(() => [])).find((c) => c.trailers["Task-Id"] === taskId && c.subject.includes("(task):"));
  if (!commit) return undefined;
  for (const rel of [resultFile(taskId), flatResultFile(taskId)]) {
    const text = await repo.fileAt(commit.oid, rel);
    if (text !== undefined) return { agent, taskId, path: relative(dataDir, join(p.dir, rel)), from: "history", commit: commit.oid, text };
  }
  return undefined;
}

/** The result of `taskId` for the named agent, or for whichever agent has one; a UserError naming what was searched when none has. */
export async function findResult(dataDir: string, file: AgentsFile, taskId: string, agent?: string): Promise<FoundResult> {
  if (!TASK_ID_PATTERN.test(taskId)) throw new UserError(`invalid task id '${taskId}': expected 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit`, "AGENTOS_INVALID_TASK_ID");
  const names = agent ? [agent] : file.agents.map((a) => a.name);
  if (agent && !file.agents.some((a) => a.name === agent)) throw unknownAgent(agent, file.agents);
  for (const name of names) {
    const found = await readResult(dataDir, name, taskId);
    if (found) return found;
  }
  throw new UserError(`no result for task '${taskId}' ${agent ? `of ${agent}` : `in any of ${names.length} agent(s)`}: not in ${resultFile(taskId)}, ${flatResultFile(taskId)} or git history`, "AGENTOS_UNKNOWN_RESULT");
}
