// Time to live. A message (inbox or handoff file) lives `ttl_seconds`, or the data
// dir's `iac.default_message_ttl`, from the moment its agent's runtime first saw it (the
// arrival, kept in the ledger across restarts). `created:` is informational, the sender's
// word: one copied from the docs would otherwise expire at once, one in the future would
// outlive its TTL. queue.md tasks have no TTL unless they set `ttl_seconds`.
import type { TaskBlock } from "../parse/task-blocks.js";
import type { SourceKind } from "../source/task-source.js";
import type { Ledger } from "../store/ledger.js";
import type { AgentQueue } from "./agent-queue.js";
import type { DeadLetterOffice } from "./dead-letter-office.js";
import type { TaskTable, TrackedTask } from "./task-table.js";

/** When the task's TTL runs out (ms since the epoch), or undefined if it has none. */
export function expiryOf(block: TaskBlock, kind: SourceKind, defaultTtlSeconds: number, arrivedAt: number): number | undefined {
  const ttl = block.ttlSeconds ?? (kind === "queue" ? undefined : defaultTtlSeconds);
  return ttl === undefined ? undefined : arrivedAt + ttl * 1000;
}

/** The dead letter's reason text for an expired task. */
export function expiredBecause(t: TrackedTask, now: number): string {
  const age = Math.round((now - t.bornAt) / 1000);
  const ttl = Math.round(((t.expiresAt ?? t.bornAt) - t.bornAt) / 1000);
  return `expired ${age} s after it arrived (ttl ${ttl} s)`;
}

/**
 * Expires tasks on time wherever they wait (in their file, admitted behind a long task,
 * or waiting for a retry); a running or settling task finishes first. One timer for
 * the earliest expiry, re-armed after each sweep.
 */
export class ExpirySweeper {
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly agent: string,
    private readonly table: TaskTable,
    private readonly queue: AgentQueue<TrackedTask>,
    private readonly ledger: Ledger,
    private readonly office: DeadLetterOffice,
    private readonly now: () => number,
  ) {}

  /** Dead-letters a task whose TTL has passed (not running), wherever it waits, with an escalation. */
  readonly expire = async (t: TrackedTask): Promise<void> => {
    if (!this.table.holds(t)) return;
    this.queue.withdraw(t.key);
    const lastError = t.lastError ?? expiredBecause(t, this.now());
    const attempts = this.ledger.attemptsOf(t.key);
    this.table.move(t, "dead");
    await this.office.send("expired", { task: t, attempts, lastError, key: t.key, escalation: `${this.agent}(escalation): ${t.key} expired` });
  };

  /** Arms the timer for the earliest expiry (call after a task with a TTL arrives or stops running). */
  schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.table.nextExpiry();
    if (next === undefined) return;
    // At most a minute ahead: a clock that jumps (suspend, an injected test clock) is caught up.
    const delay = Math.max(0, Math.min(next - this.now(), 60_000)) + 5;
    this.timer = setTimeout(() => void this.sweep(), delay);
    this.timer.unref();
  }

  /** Expires every task whose TTL has passed and that is not running or settling. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const t of [...this.table.values()]) {
      if (this.stopped) return;
      if (t.expiresAt === undefined || t.expiresAt > now || t.state === "running" || t.state === "settling") continue;
      await this.expire(t);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
