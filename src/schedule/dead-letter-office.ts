// The one place a task becomes a dead letter. Callers say why and what; the office
// fills in the rest the same way every time — the block verbatim, `file:line`
// relative to DATA_DIR, first seen, attempts from the ledger — marks the ledger,
// logs, and, for a task that had been accepted, asks for an escalation commit.
// It never throws for the letter's sake: a letter that cannot be written is logged.
import { relative } from "node:path";
import type { Logger } from "../log.js";
import { writeDeadLetter, type DeadLetterReason } from "../store/dead-letters.js";
import type { Ledger } from "../store/ledger.js";
import { isoSecond } from "../store/markdown.js";
import type { TrackedTask } from "./task-table.js";

export interface Letter {
  /** A tracked task: its id, block, place, first sight and attempts are used. */
  task?: TrackedTask;
  /** A block that never became a task (invalid, duplicate, over the hop limit), and its file. */
  block?: { id?: string; raw: string; line: number };
  file?: string;
  /** Overrides, for letters about something that is not a block in a file (a planned handoff). */
  taskId?: string;
  original?: string;
  source?: string;
  attempts?: number;
  lastError: string;
  /** The model's last reply (already bounded and redacted: work/llm/evidence.ts), when a reply was the problem. */
  lastReply?: string;
  /** The ledger key to mark dead (a task's key, an invalid block's key, a duplicate copy's key). */
  key?: string;
  /** Commit an escalation with this subject (the task had been accepted and now will not run). */
  escalation?: string;
}

export interface DeadLetterOfficeContext {
  /** The dead-letter folder. */
  dir: string;
  dataDir: string;
  agent: string;
  now: () => Date;
  log: Logger;
  ledger?: Ledger;
  /** Told of every letter written (metrics, `run --once` counts). */
  onLetter?(reason: DeadLetterReason, file: string): void;
  /** Commits the escalation reflection; its failure is logged, never fatal. */
  escalate?(e: { reason: DeadLetterReason; taskId: string; lastError: string; file: string; subject: string }): Promise<void>;
}

export class DeadLetterOffice {
  /**
   * Keys whose letter is being written. The task has left the table already, and the
   * ledger says `dead` only once the letter is on disk (a crash in between must leave the
   * task in its file, not nowhere): meanwhile a read of its file must not take its block
   * for a new task. It did, and a task with max_attempts 1 ran twice, with two letters.
   */
  private readonly writing = new Set<string>();

  constructor(private readonly ctx: DeadLetterOfficeContext) {}

  /** Whether the letter for ledger key `key` is being written right now (it is as good as handled). */
  isWriting(key: string): boolean {
    return this.writing.has(key);
  }

  /** Writes the letter; resolves to its path, or undefined if it could not be written. */
  async send(reason: DeadLetterReason, l: Letter): Promise<string | undefined> {
    const now = this.ctx.now();
    const taskId = l.taskId ?? l.task?.key ?? (l.block?.id || undefined);
    const line = l.task?.block.line ?? l.block?.line;
    const file = l.task?.source.path ?? l.file;
    const source = l.source ?? (file ? `${this.rel(file)}${line !== undefined ? `:${line}` : ""}` : "(unknown)");
    const attempts = l.attempts ?? (l.key && this.ctx.ledger ? this.ctx.ledger.attemptsOf(l.key) : 0);
    if (l.key) this.writing.add(l.key);
    try {
      return await this.deliver(reason, l, { now, taskId, source, attempts });
    } finally {
      if (l.key) this.writing.delete(l.key);
    }
  }

  private async deliver(reason: DeadLetterReason, l: Letter, d: { now: Date; taskId?: string; source: string; attempts: number }): Promise<string | undefined> {
    const { now, taskId, source, attempts } = d;
    let path: string;
    try {
      path = await writeDeadLetter(this.ctx.dir, {
        reason,
        agent: this.ctx.agent,
        taskId,
        source,
        firstSeen: isoSecond(l.task?.firstSeen ?? now),
        at: isoSecond(now),
        attempts,
        lastError: l.lastError,
        lastReply: l.lastReply,
        original: l.original ?? l.task?.block.raw ?? l.block?.raw ?? "",
      });
    } catch (err) {
      this.ctx.log.error(`dead letter (${reason}) for ${taskId ?? "(no id)"} could not be written: ${(err as Error).message}; it stays where it is`);
      return undefined;
    }
    if (l.key) await this.ctx.ledger?.mark(l.key, "dead");
    this.ctx.log.warn(`dead letter (${reason}): ${taskId ?? "(no id)"} -> ${this.rel(path)}`);
    this.ctx.onLetter?.(reason, path);
    if (l.escalation && this.ctx.escalate) {
      await this.ctx
        .escalate({ reason, taskId: taskId ?? "-", lastError: l.lastError, file: this.rel(path), subject: l.escalation })
        .catch((err: unknown) => this.ctx.log.error(`escalation commit for ${taskId} failed: ${(err as Error).message}`));
    }
    return path;
  }

  private rel(path: string): string {
    return relative(this.ctx.dataDir, path) || path;
  }
}
