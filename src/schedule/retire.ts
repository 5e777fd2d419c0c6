// Retirement: soon after tasks finish, handled blocks leave queue.md (by compaction,
// see source/task-source.ts) and finished message files are deleted. A file is held
// while this runs, so no read sees it half done; one that changed since it was read
// is read again, never deleted.
import { relative } from "node:path";
import type { Logger } from "../log.js";
import type { ParsedBlock } from "../parse/task-blocks.js";
import type { SourceSet } from "../source/source-set.js";
import { blockKey, SLICE_BLOCKS, type TaskSource } from "../source/task-source.js";
import type { Ledger } from "../store/ledger.js";
import type { TaskTable } from "./task-table.js";

/** Small files are compacted at once; bigger ones once half of them is handled. */
const COMPACT_AT_ONCE_BYTES = 64 * 1024;
/**
 * queue.md is compacted once it has been still this long: a compaction holds the file
 * (two fsyncs and a rename), and a task appended meanwhile would wait for it.
 */
const QUIET_MS = 250;
/**
 * At most one compaction a second per file (unless half a slice is handled): a drain's
 * tail, a small file, was rewritten every few tasks, each time leaving a spool.
 */
const COMPACT_GAP_MS = 1_000;

export interface RetireContext {
  dataDir: string;
  spoolDir: string;
  sources: SourceSet;
  table: TaskTable;
  ledger: Ledger;
  log: Logger;
  isBlockHandled(src: TaskSource, b: ParsedBlock): boolean;
  /** queue.md was compacted (copies it dropped are gone for good). */
  compacted(): void;
  /** Check the spool for late appends again after `ms` (writers that held the old file). */
  later(ms: number, fn: () => void): void;
}

export class Retirer {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** The last run, at stop: queue.md too, at once (what a late writer appends waits in the spool for the next start). */
  private final = false;
  /** When each queue.md was last compacted (wall clock: see COMPACT_GAP_MS). */
  private readonly compactedAt = new WeakMap<TaskSource, number>();

  constructor(private readonly ctx: RetireContext) {}

  private readonly isKeyHandled = (key: string): boolean => this.ctx.ledger.isHandled(key);

  /** Retires what is handled in a moment (a burst of finished tasks is one compaction). */
  soon(ms = 50): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  /** No more scheduled runs (a final `run(true)` may still be called). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Retires every file that has handled blocks; `final` (at stop) does not wait for a still moment. */
  async run(final = false): Promise<void> {
    this.final = final;
    for (const src of this.ctx.sources.values()) {
      const handledHere = src.knownBlocks.filter((b) => this.ctx.isBlockHandled(src, b));
      if (handledHere.length === 0) continue;
      try {
        const held = await this.ctx.sources.hold(src, () => (src.kind === "queue" ? this.compact(src, handledHere) : this.retireMessage(src, handledHere)));
        if (!held) this.soon(); // being read: next time
      } catch (err) {
        this.ctx.log.error(`cleaning up ${relative(this.ctx.dataDir, src.path)} failed: ${(err as Error).message}`);
      }
    }
  }

  private async compact(src: TaskSource, handledHere: ParsedBlock[]): Promise<void> {
    const bytes = src.knownBlocks.reduce((n, b) => n + b.block.raw.length, 0);
    const done = handledHere.reduce((n, b) => n + b.block.raw.length, 0);
    // A 10,000-block backlog is rewritten a few times per slice, not once per task. A file
    // read in slices is big whatever its parsed part weighs: compacting it after every
    // burst rewrote a megabyte every dozen tasks (and left a spool of it each time).
    const big = src.hasMore || bytes > COMPACT_AT_ONCE_BYTES;
    if (big && done * 2 < bytes && handledHere.length < SLICE_BLOCKS / 2 && this.ctx.table.inSource(src)) return;
    // Someone is appending right now: compact in the next still moment, not in their way.
    if (!this.final && src.quietMs < QUIET_MS && handledHere.length < SLICE_BLOCKS / 2) return this.soon(QUIET_MS);
    const since = performance.now() - (this.compactedAt.get(src) ?? -Infinity);
    if (!this.final && since < COMPACT_GAP_MS && handledHere.length < SLICE_BLOCKS / 2) return this.soon(COMPACT_GAP_MS - since);
    this.compactedAt.set(src, performance.now());
    const removed = await src.compact((b) => this.ctx.isBlockHandled(src, b), this.ctx.spoolDir, this.isKeyHandled);
    if (!removed) return;
    await this.ctx.ledger.markRemoved(removed);
    for (const b of src.knownBlocks) {
      const t = this.ctx.table.get(blockKey(b));
      if (t && t.source === src && b.kind === "task") t.block = b.block;
    }
    this.ctx.compacted();
    for (const ms of [2_000, 12_000]) this.ctx.later(ms, () => void src.checkSpools(this.isKeyHandled));
  }

  private async retireMessage(src: TaskSource, handledHere: ParsedBlock[]): Promise<void> {
    // Blocks not parsed yet (a big file read in slices) are still to run: not finished.
    if (!src.knownBlocks.every((b) => this.ctx.isBlockHandled(src, b)) || src.isIncomplete || src.hasMore) return;
    // Someone added to the message file since we read it: read it again, do not delete.
    if (!(await src.unchangedSinceRead())) return this.ctx.sources.readAgain(src);
    await src.remove();
    await this.ctx.ledger.markRemoved(handledHere.map(blockKey));
    this.ctx.sources.delete(src);
  }
}
