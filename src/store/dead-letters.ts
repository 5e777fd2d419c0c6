// Dead letters: one markdown file per task that could not (or must not) run, with
// the original block verbatim and why. Written atomically; never deleted by the
// runtime (only `dead-letters purge` removes them).
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureDir, writeFileAtomic } from "./files.js";

export const DEAD_LETTER_REASONS = ["expired", "invalid", "duplicate", "delivery_limit", "hop_limit", "unknown_agent"] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export interface DeadLetter {
  reason: DeadLetterReason;
  agent: string;
  taskId?: string;
  /** Where the block was found, `file:line` relative to DATA_DIR. */
  source: string;
  firstSeen: string;
  at: string;
  attempts: number;
  lastError?: string;
  /** The block exactly as it was written. */
  original: string;
  /** The model's last reply, bounded and with secrets removed (work/llm/evidence.ts), when a reply was the problem. */
  lastReply?: string;
  requeued?: string[];
}

export interface StoredDeadLetter extends DeadLetter {
  file: string;
}

export async function writeDeadLetter(dir: string, d: DeadLetter): Promise<string> {
  await ensureDir(dir);
  const stamp = d.at.replace(/[-:]/g, "").replace(/\.\d+/, "");
  const name = `${stamp}-${d.agent}-${(d.taskId ?? d.reason).replace(/[^A-Za-z0-9._-]/g, "_")}-${randomBytes(3).toString("hex")}.md`;
  const path = join(dir, name);
  await writeFileAtomic(path, renderDeadLetter(d));
  return path;
}

export function renderDeadLetter(d: DeadLetter): string {
  const fence = "`".repeat(Math.max(3, longestRun(d.original, "`") + 1));
  return [
    `# Dead letter: ${d.taskId ?? "(no id)"}`,
    "",
    `- reason: ${d.reason}`,
    `- agent: ${d.agent}`,
    `- task: ${d.taskId ?? ""}`,
    `- source: ${d.source}`,
    `- first_seen: ${d.firstSeen}`,
    `- at: ${d.at}`,
    `- attempts: ${d.attempts}`,
    `- last_error: ${(d.lastError ?? "").replace(/\s*\n\s*/g, " / ")}`,
    ...(d.requeued ?? []).map((r) => `- requeued: ${r}`),
    "",
    "## Original block",
    "",
    `${fence}markdown`,
    d.original.replace(/\n$/, ""),
    fence,
    "",
    ...(d.lastReply ? lastReplySection(d.lastReply) : []),
  ].join("\n");
}

/** After the original block, so a reader of the block (and requeue) never sees it. */
function lastReplySection(reply: string): string[] {
  const fence = "`".repeat(Math.max(3, longestRun(reply, "`") + 1));
  return ["## Last reply from the model (bounded, secrets removed)", "", `${fence}text`, reply.replace(/\n$/, ""), fence, ""];
}

export function parseDeadLetter(text: string, file: string): StoredDeadLetter | undefined {
  const field = (k: string) => new RegExp(`^- ${k}: ?(.*)$`, "m").exec(text)?.[1] ?? "";
  const m = /^## Original block\n\n(`{3,})markdown\n([\s\S]*?)\n?\1\n?/m.exec(text);
  const reason = field("reason") as DeadLetterReason;
  if (!m || !DEAD_LETTER_REASONS.includes(reason)) return undefined;
  return {
    file,
    reason,
    agent: field("agent"),
    taskId: field("task") || undefined,
    source: field("source"),
    firstSeen: field("first_seen"),
    at: field("at"),
    attempts: Number(field("attempts")) || 0,
    lastError: field("last_error") || undefined,
    original: m[2]! + "\n",
    requeued: [...text.matchAll(/^- requeued: (.*)$/gm)].map((x) => x[1]!),
    ...lastReplyOf(text),
  };
}

function lastReplyOf(text: string): { lastReply?: string } {
  const m = /^## Last reply from the model[^\n]*\n\n(`{3,})text\n([\s\S]*?)\n?\1\n?/m.exec(text);
  return m ? { lastReply: m[2]! } : {};
}

export async function listDeadLetters(dir: string): Promise<StoredDeadLetter[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: StoredDeadLetter[] = [];
  for (const name of names.filter((n) => n.endsWith(".md")).sort()) {
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    const d = parseDeadLetter(text, join(dir, name));
    if (d) out.push(d);
  }
  return out;
}

/**
 * Whether the message file `fileName` in `agent`'s inbox was put there by `dead-letters
 * requeue` for `taskId`: "pending" until that copy is itself dead-lettered (a letter
 * whose source is this file), then "consumed"; undefined if no letter names the file.
 * Reads only the dead letters of that task (their names carry its id).
 */
export async function requeueState(dir: string, agent: string, taskId: string, fileName: string): Promise<"pending" | "consumed" | undefined> {
  const safe = taskId.replace(/[^A-Za-z0-9._-]/g, "_");
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".md") && n.includes(`-${safe}-`));
  const letters: StoredDeadLetter[] = [];
  for (const name of names) {
    const d = parseDeadLetter(await readFile(join(dir, name), "utf8").catch(() => ""), join(dir, name));
    if (d && d.taskId === taskId) letters.push(d);
  }
  const isThisFile = (path: string) => path.endsWith(`/${fileName}`);
  if (!letters.some((d) => d.requeued?.some((r) => r.includes(` to ${agent} as `) && isThisFile(r)))) return undefined;
  return letters.some((d) => d.agent === agent && isThisFile(d.source.replace(/:\d+$/, ""))) ? "consumed" : "pending";
}

function longestRun(s: string, ch: string): number {
  let best = 0;
  let cur = 0;
  for (const c of s) {
    cur = c === ch ? cur + 1 : 0;
    best = Math.max(best, cur);
  }
  return best;
}
