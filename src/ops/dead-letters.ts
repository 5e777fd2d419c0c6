// `agentos dead-letters list|show|requeue|purge`.
import { readFile, unlink } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import { isoSecond } from "../store/markdown.js";
import { listDeadLetters, parseDeadLetter, renderDeadLetter, type StoredDeadLetter } from "../store/dead-letters.js";
import { ensureDir, writeFileAtomic } from "../store/files.js";
import { agentPaths, sharedPaths } from "../store/layout.js";
import { parseTaskFile } from "../parse/task-blocks.js";
import { serializeBlock } from "../parse/serialize.js";
import { UserError } from "./common.js";

export async function findDeadLetters(dataDir: string, file: AgentsFile, filter: { agent?: string; reason?: string }): Promise<StoredDeadLetter[]> {
  const all = await listDeadLetters(sharedPaths(dataDir, file.iac.dead_letter_path).deadLetters);
  return all.filter((d) => (!filter.agent || d.agent === filter.agent) && (!filter.reason || d.reason === filter.reason));
}

export function resolveDeadLetterPath(dataDir: string, file: AgentsFile, name: string): string {
  if (isAbsolute(name) || name.includes("/")) return resolve(name);
  return join(sharedPaths(dataDir, file.iac.dead_letter_path).deadLetters, basename(name));
}

export async function readDeadLetterFile(path: string): Promise<StoredDeadLetter> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new UserError(`${path}: no such dead letter`);
  });
  const d = parseDeadLetter(text, path);
  if (!d) throw new UserError(`${path}: not a dead letter file (expected '- reason:' and an '## Original block')`);
  return d;
}

/**
 * Puts a dead letter's task blocks back into an agent's inbox as one message file, each
 * with a fresh `created` and `iac.default_message_ttl`, and records that in the letter.
 * A letter may hold several blocks (a whole file sent to an unknown agent): all go back.
 */
export async function requeueDeadLetter(dataDir: string, file: AgentsFile, path: string, to: string | undefined, now = new Date()) {
  const d = await readDeadLetterFile(path);
  if (d.reason === "duplicate" && !to) {
    // Its id already ran (or is queued) for this agent: back under the same id it would be
    // a duplicate again. Another agent has its own ids.
    throw new UserError(
      `${path}: task '${d.taskId}' is a duplicate of one ${d.agent} already has (git -C agents/${d.agent} log --grep 'Task-Id: ${d.taskId}'); to run it again, enqueue it under a new id, or requeue it --to another agent`,
    );
  }
  const agent = to ?? d.agent;
  if (!file.agents.some((a) => a.name === agent)) {
    throw new UserError(`unknown agent '${agent}' (agents.yaml has ${file.agents.map((a) => a.name).join(", ")}); use --to AGENT`);
  }
  const blocks = parseTaskFile(d.original.endsWith("\n") ? d.original : d.original + "\n", { settled: true }).blocks;
  const invalid = blocks.find((b) => b.kind === "invalid");
  if (!blocks.length || invalid) {
    const why = invalid?.kind === "invalid" ? `line ${invalid.block.line}: ${invalid.block.problems.map((p) => p.message).join("; ")}` : "no task block";
    throw new UserError(`${path}: the original block is not a valid task (${why}); fix it and enqueue it by hand`);
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
    throw new UserError(`${path}: already requeued at ${last!.slice(0, last!.indexOf(" "))} as ${lastFile}, which has not run yet; nothing to do`);
  }
  const ledger = (await readFile(agentPaths(dataDir, agent).ledger, "utf8").catch(() => "")).split("\n");
  const done = ids.filter((id) => ledger.findLast((l) => l.endsWith(`\t${id}`) && /^(done|dead)\t/.test(l))?.startsWith("done\t"));
  if (!done.length) return;
  const when = last ? ` after its requeue at ${last.slice(0, last.indexOf(" "))}` : "";
  throw new UserError(
    `${path}: task '${done[0]}' already ran for ${agent}${when} (git -C agents/${agent} log --grep 'Task-Id: ${done[0]}'); ` +
      `a task id runs once per agent: to run it again, enqueue it under a new id (agentos enqueue ${agent} --id ${done[0]}-2 --task ...) or requeue it --to another agent`,
  );
}

export function parseAge(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new UserError(`--older-than: expected a number and a unit such as 30d, 12h, 45m or 90s, got '${text}'`, 2);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s"] * 1000;
}

export async function purgeDeadLetters(dataDir: string, file: AgentsFile, olderThanMs: number, now = new Date()): Promise<string[]> {
  const removed: string[] = [];
  for (const d of await findDeadLetters(dataDir, file, {})) {
    if (now.getTime() - Date.parse(d.at) > olderThanMs) {
      await unlink(d.file);
      removed.push(d.file);
    }
  }
  return removed;
}
