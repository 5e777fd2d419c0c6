// Dead letters, for the CLI and the REST API: list, read, requeue and purge. Reads and
// writes only the dead-letter folder and the target agent's inbox.
import { readFile, unlink } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { isoSecond } from "../store/markdown.js";
import { listDeadLetters, parseDeadLetter, renderDeadLetter, type StoredDeadLetter } from "../store/dead-letters.js";
import { ensureDir, writeFileAtomic } from "../store/files.js";
import { agentPaths, sharedPaths } from "../store/layout.js";
import { readLedger } from "../store/ledger.js";
import { parseTaskFile } from "../parse/task-blocks.js";
import { serializeBlock } from "../parse/serialize.js";
import { unknownAgent, UserError } from "./errors.js";

/** The name of a dead-letter file inside the dead-letter folder (what `writeDeadLetter` writes). */
export const DEAD_LETTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.md$/;

export interface DeadLetterFilter {
  agent?: string;
  reason?: string;
}

/** Dead letters oldest first, optionally of one agent and/or one reason. */
export async function findDeadLetters(dataDir: string, file: AgentsFile, filter: DeadLetterFilter = {}): Promise<StoredDeadLetter[]> {
  const all = await listDeadLetters(sharedPaths(dataDir, file.iac.dead_letter_path).deadLetters);
  return all.filter((d) => (!filter.agent || d.agent === filter.agent) && (!filter.reason || d.reason === filter.reason));
}

/** A path a person typed (CLI): a bare name is looked up in the dead-letter folder, a path is taken as given. */
export function resolveDeadLetterPath(dataDir: string, file: AgentsFile, name: string): string {
  if (isAbsolute(name) || name.includes("/")) return resolve(name);
  return deadLetterPath(dataDir, file, name);
}

/** A dead letter's bare file name (REST API): never a path, so nothing outside the folder is reached. */
export function deadLetterPath(dataDir: string, file: AgentsFile, name: string): string {
  if (!DEAD_LETTER_NAME.test(name)) throw new UserError(`invalid dead letter name '${name}': expected a file name such as 20260429T100000Z-orion-task-1-a1b2c3.md`, "AGENTOS_INVALID_ARGUMENT");
  return join(sharedPaths(dataDir, file.iac.dead_letter_path).deadLetters, basename(name));
}

export async function readDeadLetterFile(path: string): Promise<StoredDeadLetter> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new UserError(`${path}: no such dead letter`, "AGENTOS_UNKNOWN_DEAD_LETTER");
  });
  const d = parseDeadLetter(text, path);
  if (!d) throw new UserError(`${path}: not a dead letter file (expected '- reason:' and an '## Original block')`, "AGENTOS_NOT_A_DEAD_LETTER");
  return d;
}

export interface Requeued {
  /** The ids of the blocks put back, comma-separated. */
  id: string;
  agent: string;
  /** The inbox message file they went to. */
  target: string;
}

/**
 * Puts a dead letter's task blocks back into an agent's inbox as one message file, each
 * with a fresh `created` and `iac.default_message_ttl`, and records that in the letter.
 * A letter may hold several blocks (a whole file sent to an unknown agent): all go back.
 */
export async function requeueDeadLetter(dataDir: string, file: AgentsFile, path: string, to: string | undefined, now = new Date()): Promise<Requeued> {
  const d = await readDeadLetterFile(path);
  if (d.reason === "duplicate" && !to) {
    // Its id already ran (or is queued) for this agent: back under the same id it would be
    // a duplicate again. Another agent has its own ids.
    throw new UserError(
      `${path}: task '${d.taskId}' is a duplicate of one ${d.agent} already has (git -C agents/${d.agent} log --grep 'Task-Id: ${d.taskId}'); to run it again, enqueue it under a new id, or requeue it to another agent (--to AGENT; REST API: "to")`,
      "AGENTOS_DUPLICATE_REQUEUE",
    );
  }
  const agent = to ?? d.agent;
  if (!file.agents.some((a) => a.name === agent)) throw unknownAgent(agent, file.agents, to ? "" : '; use --to AGENT (REST API: "to")');
  const blocks = parseTaskFile(d.original.endsWith("\n") ? d.original : d.original + "\n", { settled: true }).blocks;
  const invalid = blocks.find((b) => b.kind === "invalid");
  if (!blocks.length || invalid) {
    const why = invalid?.kind === "invalid" ? `line ${invalid.block.line}: ${invalid.block.problems.map((p) => p.message).join("; ")}` : "no task block";
    throw new UserError(`${path}: the original block is not a valid task (${why}); fix it and enqueue it by hand`, "AGENTOS_UNRUNNABLE_DEAD_LETTER");
  }
  const tasks = blocks.flatMap((b) => (b.kind === "task" ? [b.block] : []));
  await refuseRequeueThatWouldVanish(dataDir, path, d, agent, tasks.map((b) => b.id));
  const created = isoSecond(now);
  const text = tasks
    .map((b) => serializeBlock({ id: b.id, task: b.task, priority: b.priority, created, ttlSeconds: file.iac.default_message_ttl, from: b.from, parent: b.parent, hops: b.hops }))
    .join("")
    .replace(/^\n/, "");
  const first = tasks[0]!.id;
  const inbox = join(sharedPaths(dataDir, file.iac.dead_letter_path).inboxRoot, agent);
  await ensureDir(inbox);
  const target = join(inbox, `${first}-requeued-${created.replace(/[-:]/g, "")}.md`);
  // The letter says so first: a runtime that sees the new file checks the letter to tell a
  // requeue from a stale copy of a task it already dead-lettered.
  d.requeued = [...(d.requeued ?? []), `${created} to ${agent} as ${target}`];
  await writeFileAtomic(path, renderDeadLetter(d));
  await writeFileAtomic(target, text);
  return { id: tasks.map((b) => b.id).join(", "), agent, target };
}

/**
 * The runtime runs a requeued copy only while its id is not done for that agent: a second
 * requeue of a letter whose first copy already ran would be dropped as handled. Say so
 * here instead, and say how to run it again.
 */
async function refuseRequeueThatWouldVanish(dataDir: string, path: string, d: StoredDeadLetter, agent: string, ids: string[]): Promise<void> {
  const earlier = (d.requeued ?? []).filter((r) => r.includes(` to ${agent} as `));
  const last = earlier[earlier.length - 1];
  const lastFile = last?.slice(last.indexOf(" as ") + 4);
  if (lastFile && (await readFile(lastFile).then(() => true, () => false))) {
    throw new UserError(`${path}: already requeued at ${last!.slice(0, last!.indexOf(" "))} as ${lastFile}, which has not run yet; nothing to do`, "AGENTOS_REQUEUE_PENDING");
  }
  const ledger = await readLedger(agentPaths(dataDir, agent).ledger);
  const done = ids.filter((id) => ledger.state(id) === "done");
  if (!done.length) return;
  const when = last ? ` after its requeue at ${last.slice(0, last.indexOf(" "))}` : "";
  throw new UserError(
    `${path}: task '${done[0]}' already ran for ${agent}${when} (git -C agents/${agent} log --grep 'Task-Id: ${done[0]}'); ` +
      `a task id runs once per agent: to run it again, enqueue it under a new id (agentos enqueue ${agent} --id ${done[0]}-2 --task ...) or requeue it --to another agent`,
    "AGENTOS_TASK_ID_USED",
  );
}

/** `30d`, `12h`, `45m`, `90s` → milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new UserError(`older than: expected a number and a unit such as 30d, 12h, 45m or 90s, got '${text}'`, "AGENTOS_INVALID_ARGUMENT");
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s"] * 1000;
}

/** Deletes the dead letters (of the filter) older than `olderThanMs`; returns their paths. */
export async function purgeDeadLetters(dataDir: string, file: AgentsFile, olderThanMs: number, now = new Date(), filter: DeadLetterFilter = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const d of await findDeadLetters(dataDir, file, filter)) {
    if (now.getTime() - Date.parse(d.at) > olderThanMs) {
      await unlink(d.file);
      removed.push(d.file);
    }
  }
  return removed;
}

/** Deletes one dead letter (it must be one); returns it as it was. */
export async function deleteDeadLetter(path: string): Promise<StoredDeadLetter> {
  const d = await readDeadLetterFile(path);
  await unlink(path);
  return d;
}
