// Enqueue, for the CLI and the REST API alike: one well-formed block, appended to the
// agent's queue.md with a single fsync'd O_APPEND write (or dropped into its inbox as a
// new file). Checks the agent, the text, the id and, when asked, the queue depth first.
import { maxQueueDepth as depthOf } from "../config/depth.js";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { AgentsFile, Priority } from "../config/schema.js";
import { appendDurable, ensureDir, writeFileAtomic } from "../store/files.js";
import { readTaskFile } from "../store/task-file-read.js";
import { agentPaths, sharedPaths } from "../store/layout.js";
import { readLedger, type LedgerView } from "../store/ledger.js";
import { agentTaskFiles } from "../store/task-files.js";
import { headerIds, TASK_ID_PATTERN } from "../parse/task-blocks.js";
import { generateTaskId, serializeBlock, taskTextProblem } from "../parse/serialize.js";
import { QueueFullError, unknownAgent, UserError } from "./errors.js";

export interface EnqueueRequest {
  agent: string;
  task: string;
  id?: string;
  priority?: Priority;
  ttlSeconds?: number;
  inbox?: boolean;
  /** Refuse (QueueFullError) instead of queueing when the agent already holds a full queue. */
  noWait?: boolean;
  now?: Date;
}

export interface Enqueued {
  id: string;
  agent: string;
  /** The file the block went to. */
  path: string;
}

/** The depth over which an agent's queue counts as full (iac.backpressure, else its throughput class). */
export function maxQueueDepth(file: AgentsFile, agent: string): number {
  const cfg = file.agents.find((a) => a.name === agent);
  if (!cfg) throw unknownAgent(agent, file.agents);
  return depthOf(file, cfg.throughput_class);
}

// One enqueue at a time per agent and data directory in this process (the REST API takes
// many at once), so the depth check and the append cannot interleave.
const enqueueing = new Map<string, Promise<unknown>>();

/** Appends a task for an agent; returns its id and the file it went to. Throws UserError for bad input. */
export async function enqueueTask(dataDir: string, file: AgentsFile, req: EnqueueRequest): Promise<Enqueued> {
  const key = `${dataDir}\0${req.agent}`;
  const mine = (enqueueing.get(key) ?? Promise.resolve()).catch(() => {}).then(() => enqueueNow(dataDir, file, req));
  enqueueing.set(key, mine);
  try {
    return await mine;
  } finally {
    if (enqueueing.get(key) === mine) enqueueing.delete(key);
  }
}

async function enqueueNow(dataDir: string, file: AgentsFile, req: EnqueueRequest): Promise<Enqueued> {
  const agent = file.agents.find((a) => a.name === req.agent);
  if (!agent) throw unknownAgent(req.agent, file.agents);
  if (!req.task.trim()) throw new UserError("the task is empty: give a task text with at least one non-whitespace character", "AGENTOS_EMPTY_TASK");
  const textProblem = taskTextProblem(req.task); // harden: NUL and control characters refused at the door
  if (textProblem) throw new UserError(textProblem, "AGENTOS_INVALID_TASK_TEXT");
  const now = req.now ?? new Date();
  const id = req.id ?? generateTaskId(now);
  if (!TASK_ID_PATTERN.test(id)) throw new UserError(`invalid task id '${id}': expected 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit`, "AGENTOS_INVALID_TASK_ID");
  const paths = agentPaths(dataDir, agent.name);

  const ledger = await readLedger(paths.ledger);
  if (ledger.isHandled(id)) {
    throw new UserError(`task id '${id}' was already used for ${agent.name} (git log --grep 'Task-Id: ${id}'); choose another id`, "AGENTOS_TASK_ID_USED");
  }
  const queued = await readTaskFile(paths.queue);
  if (queued.ok && headerIds(queued.text).includes(id)) {
    throw new UserError(`task id '${id}' is already queued in ${paths.queue}`, "AGENTOS_TASK_ID_QUEUED");
  }

  if (req.noWait && file.iac.backpressure.enabled) {
    const depth = maxQueueDepth(file, agent.name);
    const held = await heldTasks(dataDir, file, agent.name, ledger);
    if (held >= depth) throw new QueueFullError(`queue full: ${agent.name} holds ${held} unfinished task(s), its max_queue_depth is ${depth}; try again later`);
  }

  const block = serializeBlock({ id, task: req.task, priority: req.priority, ttlSeconds: req.ttlSeconds, created: now.toISOString().replace(/\.\d{3}Z$/, "Z") });
  if (req.inbox) {
    const dir = join(sharedPaths(dataDir, file.iac.dead_letter_path).inboxRoot, agent.name);
    await ensureDir(dir);
    const path = join(dir, `${id}-${randomBytes(2).toString("hex")}.md`);
    await writeFileAtomic(path, block.replace(/^\n/, ""));
    return { id, agent: agent.name, path };
  }
  await ensureDir(paths.dir);
  await appendDurable(paths.queue, block);
  return { id, agent: agent.name, path: paths.queue };
}

/**
 * Tasks an agent holds right now: blocks in its queue.md, inbox and handoff files that
 * are not done or dead-lettered yet (a block leaves its file only once handled). Read
 * from the files, so it is as fresh as they are, whether or not a runtime is running.
 */
async function heldTasks(dataDir: string, file: AgentsFile, agent: string, ledger: LedgerView): Promise<number> {
  let held = 0;
  for (const f of await agentTaskFiles(dataDir, file.iac.dead_letter_path, agent)) {
    const r = await readTaskFile(f);
    if (r.ok) held += headerIds(r.text).filter((id) => !ledger.isHandled(id)).length;
  }
  return held;
}
