// Dead letters: one markdown file per task that could not (or must not) run, with
// the original block verbatim and why. Written atomically; never deleted by the
// runtime (only `dead-letters purge` removes them).
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { redact, redactKnown } from "../redact.js";
import { ensureDir, listFolder, readTextIfExists, writeFileAtomic } from "./files.js";

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
  const name = `${stamp}-${namePart(d.agent)}-${namePart(d.taskId ?? d.reason)}-${randomBytes(3).toString("hex")}.md`;
  const path = join(dir, name);
  await writeFileAtomic(path, renderDeadLetter(d));
  return path;
}

/**
 * An agent or task id as part of a file name: safe characters, and a name over 64
 * characters (a 200-character inbox folder) shortened with a hash of the whole, so the
 * letter's name stays far below the filesystem's 255 bytes (harden).
 */
export function namePart(s: string): string {
  const safe = s.replace(/[^A-Za-z0-9._-]/g, "_");
  return safe.length <= 64 ? safe : `${safe.slice(0, 40)}~${createHash("sha256").update(s).digest("hex").slice(0, 12)}`;
}

/** Redacted on the way out: a provider's words (last_error, the reply) fully, the block only of keys in use (it stays verbatim otherwise). */
export function renderDeadLetter(d: DeadLetter): string {
  d = { ...d, original: redactKnown(d.original), lastError: d.lastError === undefined ? undefined : redact(d.lastError), lastReply: d.lastReply === undefined ? undefined : redact(d.lastReply) };
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

/** Regular *.md files of the folder (a link, FIFO or device planted there is skipped, never opened). */
async function letterNames(dir: string): Promise<string[]> {
  const entries = await listFolder(dir).catch(() => []);
  return entries.filter((e) => e.kind === "file" && e.name.endsWith(".md")).map((e) => e.name);
}

/** A letter's text, or "" when it cannot be read safely (it changed into something else meanwhile). */
const letterText = (path: string) => readTextIfExists(path).then((t) => t ?? "", () => "");

export async function listDeadLetters(dir: string): Promise<StoredDeadLetter[]> {
  const out: StoredDeadLetter[] = [];
  for (const name of (await letterNames(dir)).sort()) {
    const d = parseDeadLetter(await letterText(join(dir, name)), join(dir, name));
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
  const safe = namePart(taskId);
  const names = (await letterNames(dir)).filter((n) => n.includes(`-${safe}-`));
  const letters: StoredDeadLetter[] = [];
  for (const name of names) {
    const d = parseDeadLetter(await letterText(join(dir, name)), join(dir, name));
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
