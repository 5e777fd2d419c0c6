// `agentos enqueue`: one well-formed block, appended with a single O_APPEND write,
// to queue.md (or dropped into the agent's inbox as a new file).
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { AgentsFile, Priority } from "../config/schema.js";
import { appendDurable, ensureDir, readTaskFile, readTextIfExists, writeFileAtomic } from "../store/files.js";
import { agentPaths, isMessageFileName, sharedPaths } from "../store/layout.js";
import { headerIds, TASK_ID_PATTERN } from "../parse/task-blocks.js";
import { generateTaskId, serializeBlock, taskTextProblem } from "../parse/serialize.js";
import { UserError } from "./common.js";

export interface EnqueueRequest {
  agent: string;
  task: string;
  id?: string;
  priority?: Priority;
  ttlSeconds?: number;
  inbox?: boolean;
  /** Refuse instead of queueing when the agent already holds a full queue. */
  noWait?: boolean;
  now?: Date;
}

export const QUEUE_FULL_EXIT = 75; // EX_TEMPFAIL: try again later

export class QueueFullError extends UserError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message, QUEUE_FULL_EXIT);
  }
}

/** Appends a task for an agent; returns its id and the file it went to. Throws UserError for bad input. */
export async function enqueueTask(dataDir: string, file: AgentsFile, req: EnqueueRequest): Promise<{ id: string; path: string }> {
  const agent = file.agents.find((a) => a.name === req.agent);
  if (!agent) throw new UserError(`unknown agent '${req.agent}' (agents.yaml has ${file.agents.map((a) => a.name).join(", ")})`, 2);
  if (!req.task.trim()) throw new UserError("the task is empty: give --task TEXT, --file FILE, or pipe the text on stdin", 2);
  const textProblem = taskTextProblem(req.task); // harden: NUL and control characters refused at the door
  if (textProblem) throw new UserError(textProblem, 2);
  const now = req.now ?? new Date();
  const id = req.id ?? generateTaskId(now);
  if (!TASK_ID_PATTERN.test(id)) throw new UserError(`invalid task id '${id}': expected letters, digits, '.', '-' or '_' (no spaces or slashes)`, 2);
  const paths = agentPaths(dataDir, agent.name);

  const ledgerText = (await readTextIfExists(paths.ledger)) ?? "";
  if (ledgerText.split("\n").some((l) => /^(done|dead)\t/.test(l) && l.split("\t")[1] === id)) {
    throw new UserError(`task id '${id}' was already used for ${agent.name} (git log --grep 'Task-Id: ${id}'); choose another id`, 3);
  }
  const queued = await readTaskFile(paths.queue);
  if (queued.ok && headerIds(queued.text).includes(id)) {
    throw new UserError(`task id '${id}' is already queued in ${paths.queue}`, 3);
  }

  if (req.noWait) {
    const cls = file.throughput_classes[agent.throughput_class];
    const depth = file.iac.backpressure.max_queue_depth_per_agent ?? cls.max_queue_depth;
    const held = await heldTasks(dataDir, file, agent.name, ledgerText);
    if (file.iac.backpressure.enabled && held >= depth) {
      throw new QueueFullError(`queue full: ${agent.name} holds ${held} task(s), its max_queue_depth is ${depth}; try again later`, 30);
    }
  }

  const block = serializeBlock({
    id,
    task: req.task,
    priority: req.priority,
    ttlSeconds: req.ttlSeconds,
    created: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
  });
  if (req.inbox) {
    const dir = join(sharedPaths(dataDir, file.iac.dead_letter_path).inboxRoot, agent.name);
    await ensureDir(dir);
    const path = join(dir, `${id}-${randomBytes(2).toString("hex")}.md`);
    await writeFileAtomic(path, block.replace(/^\n/, ""));
    return { id, path };
  }
  await ensureDir(paths.dir);
  await appendDurable(paths.queue, block);
  return { id, path: paths.queue };
}

/**
 * Tasks an agent holds right now: blocks in its queue.md, inbox and handoff files that
 * are not done or dead-lettered yet (a block leaves its file only once handled). Read
 * from the files, so it is as fresh as they are, whether or not a runtime is running.
 */
async function heldTasks(dataDir: string, file: AgentsFile, agent: string, ledgerText: string): Promise<number> {
  const handled = new Set(ledgerText.split("\n").filter((l) => /^(done|dead)\t/.test(l)).map((l) => l.split("\t")[1]));
  const shared = sharedPaths(dataDir, file.iac.dead_letter_path);
  const files = [agentPaths(dataDir, agent).queue];
  for (const dir of [join(shared.inboxRoot, agent), join(shared.handoffsRoot, agent)]) {
    for (const n of (await readdir(dir).catch(() => [] as string[])).filter(isMessageFileName)) files.push(join(dir, n));
  }
  let held = 0;
  for (const f of files) {
    const r = await readTaskFile(f);
    if (r.ok) held += headerIds(r.text).filter((id) => !handled.has(id)).length;
  }
  return held;
}
