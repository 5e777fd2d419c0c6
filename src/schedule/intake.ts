// Intake: what a read of one task file means for one agent. Each complete block is
// checked against the ledger and the task table — new (tracked and offered to the
// queue), already handled (left for retirement), edited while waiting, moved by a
// compaction, a duplicate or a broken block (dead letters) — and a task whose block
// left its file before it ran is forgotten, with a log line.
import { basename, join, relative } from "node:path";
import type { AgentsFile } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { ParsedBlock, TaskBlock } from "../parse/task-blocks.js";
import type { SourceSet } from "../source/source-set.js";
import { blockKey, SLICE_BLOCKS, type SourceKind, type SourceRead, type TaskSource } from "../source/task-source.js";
import { requeueState } from "../store/dead-letters.js";
import { listFolder } from "../store/files.js";
import { isMessageFileName } from "../store/layout.js";
import type { Ledger } from "../store/ledger.js";
import type { AgentQueue } from "./agent-queue.js";
import type { DeadLetterOffice } from "./dead-letter-office.js";
import type { TaskTable, TrackedTask } from "./task-table.js";
import { expiryOf } from "./ttl.js";

export interface IntakeContext {
  agent: string;
  dataDir: string;
  file: () => AgentsFile;
  /** This agent's inbox and handoffs folders, and the dead-letter folder. */
  inbox: string;
  handoffs: string;
  deadLetters: string;
  sources: SourceSet;
  table: TaskTable;
  queue: AgentQueue<TrackedTask>;
  ledger: Ledger;
  office: DeadLetterOffice;
  log: Logger;
  now: () => Date;
  /** A task arrived whose TTL has already passed. */
  expire(t: TrackedTask): Promise<void>;
  /** A task with a TTL was tracked (the sweeper re-arms). */
  onTtl(): void;
  /** Something may be ready to retire (handled blocks, finished message files). */
  onHandled(): void;
  /** Run `fn` once the file has been still for `ms` (a block still being written). */
  later(ms: number, fn: () => void): void;
}

export class Intake {
  /** Duplicate copies already dead-lettered, by place and text: retirement takes them out. */
  private readonly duplicateCopies = new Set<string>();
  private readonly sourceErrors = new Map<string, string>();
  /** Files read in slices whose next slice waits for room among the waiting tasks. */
  private readonly waitingForRoom = new Set<TaskSource>();
  /**
   * Message files not read at all yet, oldest first: read one at a time, while fewer than
   * a slice of message tasks are still to run (200 inbox files of 500 blocks put 50,000
   * tasks in memory when each was read on sight). Their TTL counts from when they are read.
   */
  private readonly unread = new Set<TaskSource>();
  private readingUnread = false;
  /** Sources read at least once (a message file is deferred only before its first read). */
  private readonly everRead = new WeakSet<TaskSource>();
  private stopped = false;

  constructor(private readonly ctx: IntakeContext) {
    // A task left: maybe there is room for the next slice of a big file.
    ctx.table.on("left", () => {
      if ((this.waitingForRoom.size && this.hasRoom()) || (this.unread.size && this.hasMessageRoom())) queueMicrotask(() => this.refill());
    });
  }

  /**
   * Memory stays bounded whatever a file holds: at most about two slices of tasks wait
   * in the table; the rest wait, unparsed, in their file.
   */
  private hasRoom(src?: TaskSource): boolean {
    if (this.ctx.table.count("waiting") >= SLICE_BLOCKS) return false;
    // queue.md keeps handled blocks until its next compaction: those count too.
    return !src || src.kind !== "queue" || src.knownBlocks.length <= SLICE_BLOCKS;
  }

  private refill(): void {
    for (const src of [...this.waitingForRoom]) {
      if (this.stopped) return;
      if (!this.hasRoom(src)) continue;
      this.waitingForRoom.delete(src);
      void this.ctx.sources.read(src, () => src.readMore());
    }
    this.readNextUnread();
  }

  /**
   * Room for another message file: fewer than a slice of message tasks still to run. Not
   * counted with queue.md's backlog, which is bounded by its own slices: a handoff from
   * another agent must not wait behind 100,000 blocks of queue.md.
   */
  private hasMessageRoom(): boolean {
    let open = 0;
    for (const src of this.ctx.sources.values()) {
      if (src.kind === "queue") continue;
      for (const b of src.knownBlocks) if (!this.isBlockHandled(src, b) && ++open >= SLICE_BLOCKS) return false;
    }
    return true;
  }

  /** One deferred message file at a time, while there is room: each read adds up to a slice. */
  private readNextUnread(): void {
    const src = this.unread.values().next().value;
    if (!src || this.readingUnread || this.stopped || !this.hasMessageRoom()) return;
    this.unread.delete(src);
    this.readingUnread = true;
    void this.ctx.sources.read(src).finally(() => {
      this.readingUnread = false;
      this.readNextUnread();
    });
  }

  /** A message file not read yet for want of room: read when there is, not by a re-read of every file. */
  isDeferred(src: TaskSource): boolean {
    return this.unread.has(src);
  }

  /**
   * Reads `src`; a message file's first read waits its turn (`unread`): one at a time, and
   * only while there is room (30 files found at once were all read at once, before any of
   * their tasks counted: 200 files of 500 blocks held 50,000 tasks).
   */
  private readOrDefer(src: TaskSource): void {
    if (src.kind === "queue" || this.everRead.has(src)) {
      void this.ctx.sources.read(src);
      return;
    }
    this.unread.add(src);
    this.readNextUnread();
  }

  /** Problems that keep a file's tasks waiting, as `file: problem`. */
  get errors(): string[] {
    return [...this.sourceErrors].map(([f, e]) => `${f}: ${e}`);
  }

  stop(): void {
    this.stopped = true;
  }

  /** The watcher saw something at `path` (queue.md or a message file of this agent). */
  onFileEvent(path: string, kind: SourceKind): void {
    if (this.stopped) return;
    this.readOrDefer(this.ctx.sources.add(path, kind));
  }

  /** Finds message files the watcher may have missed (also the safety-net scan). */
  async scanMessageDirs(): Promise<void> {
    for (const [dir, kind] of [[this.ctx.inbox, "inbox"], [this.ctx.handoffs, "handoff"]] as const) {
      // Listed, never followed: a link or a special file is refused when it is read, by name.
      const entries = await listFolder(dir).catch(() => []);
      for (const n of entries.map((e) => e.name).filter(isMessageFileName)) {
        const path = join(dir, n);
        if (!this.ctx.sources.has(path)) this.readOrDefer(this.ctx.sources.add(path, kind));
      }
    }
  }

  /** Whether a block in `src` is handled: retirement may take it out of its file. */
  isBlockHandled = (src: TaskSource, b: ParsedBlock): boolean => {
    if (this.duplicateCopies.size > 0 && this.duplicateCopies.has(copyKey(src, b.block))) return true;
    const key = blockKey(b);
    if (!this.ctx.ledger.isHandled(key)) return false;
    // Still tracked from this file (a requeued dead letter runs under its old id): not yet.
    const t = this.ctx.table.get(key);
    if (t && t.source === src) return false;
    // A tracked task with this key in another place is a different copy: not this one.
    return true;
  };

  /** A compaction rewrote queue.md: the copies it took out are gone for good, and its next slice may fit. */
  compacted(): void {
    this.duplicateCopies.clear();
    if (this.waitingForRoom.size) queueMicrotask(() => this.refill());
  }

  /** What one read of `src` found. */
  readonly onRead = async (src: TaskSource, r: SourceRead): Promise<void> => {
    this.everRead.add(src);
    this.unread.delete(src);
    const where = this.rel(src.path);
    if (r.error) {
      if (this.sourceErrors.get(where) !== r.error) this.ctx.log.error(`${where}: ${r.error}; its tasks wait until it is fixed (nothing was deleted)`);
      this.sourceErrors.set(where, r.error);
      return;
    }
    if (this.sourceErrors.delete(where)) this.ctx.log.info(`${where} is readable again`);
    if (r.missing) {
      this.waitingForRoom.delete(src);
      this.dropVanished(src, new Set(), false);
      if (src.kind !== "queue") this.ctx.sources.delete(src);
      return;
    }
    if (r.full) this.dropVanished(src, new Set(src.knownBlocks.map(blockKey)), r.more === true);
    // Handled blocks a person took out themselves count as removed: a stale copy that comes back is a duplicate.
    if (r.gone) await this.ctx.ledger.markRemoved(r.gone.filter((k) => this.ctx.ledger.isHandled(k)));
    for (const pb of r.blocks) await this.onBlock(src, pb);
    if (r.more) {
      if (this.stopped) return;
      if (!this.hasRoom(src)) this.waitingForRoom.add(src);
      else {
        // The next slice, after letting the event loop breathe (100,000 blocks never hold it long).
        await new Promise((resolve) => setImmediate(resolve));
        return this.onRead(src, await src.readMore());
      }
    } else this.waitingForRoom.delete(src);
    if (r.empty && src.kind !== "queue") {
      const sent = await this.ctx.office.send("invalid", {
        file: src.path,
        original: r.text ?? "",
        lastError: `${where}: no task block found (expected a \`## <task-id>\` header followed by \`task: ...\`)`,
      });
      if (sent) await src.remove();
      this.ctx.sources.delete(src);
      return;
    }
    if (r.incomplete) this.ctx.later(this.ctx.file().tasks.settle_ms + 20, () => void this.ctx.sources.read(src));
    this.ctx.onHandled();
  };

  /**
   * Waiting tasks whose block left the file (a person deleted it) are dropped, with a log
   * line. When only a slice was read, one not in it may just lie beyond it: it is
   * forgotten quietly and found again when its slice is read.
   */
  private dropVanished(src: TaskSource, present: Set<string>, sliced: boolean): void {
    for (const t of [...this.ctx.table.values()]) {
      if (t.source === src && !present.has(t.key) && t.state === "waiting" && this.ctx.queue.withdraw(t.key)) {
        this.ctx.table.forget(t);
        if (sliced) continue; // still in its file, beyond this slice: it keeps its arrival
        this.ctx.log.warn(`task ${t.key} was removed from ${this.rel(src.path)} before it ran; dropped`);
        this.ctx.ledger.forgetSeen(t.key);
      }
    }
  }

  private async onBlock(src: TaskSource, pb: ParsedBlock): Promise<void> {
    const key = blockKey(pb);
    if (this.ctx.office.isWriting(key)) return; // it is being dead-lettered: handled, not new
    if (pb.kind === "invalid") {
      if (this.ctx.ledger.isHandled(key)) return;
      const problems = pb.block.problems.map((p) => `${this.rel(src.path)}:${p.line}:${p.column}: ${p.message}`);
      this.ctx.log.error(`invalid task block${pb.block.id ? ` '${pb.block.id}'` : ""}: ${problems.join("; ")}`);
      await this.ctx.office.send("invalid", { block: pb.block, file: src.path, lastError: problems.join("\n"), key });
      return;
    }
    const block = pb.block;
    const tracked = this.ctx.table.get(key);
    const handled = this.ctx.ledger.state(key);
    if (handled && !tracked) {
      // `dead-letters requeue` puts a dead letter back under its own id: that copy runs once more.
      const requeue = src.kind !== "queue" && (handled === "dead" || this.ctx.ledger.isRemoved(key)) ? await requeueState(this.ctx.deadLetters, this.ctx.agent, key, basename(src.path)) : undefined;
      if (requeue === "pending" && handled === "dead" && !this.ctx.table.get(key)) {
        this.ctx.log.info(`task ${key} was requeued from dead letters (${this.rel(src.path)}:${block.line}); running it again`);
      } else {
        if (this.ctx.ledger.isRemoved(key) && !requeue) await this.duplicate(src, block, `task '${key}' was already ${handled === "done" ? "processed" : "dead-lettered"} (git log --grep 'Task-Id: ${key}'); a stale copy came back in ${this.rel(src.path)}:${block.line}`);
        return; // else: processed, and retirement will take the block out of its file
      }
    }
    if (tracked) return this.again(src, tracked, block);
    const file = this.ctx.file();
    if (src.kind === "handoff" && (block.hops ?? 0) > file.iac.max_hops) {
      await this.ctx.office.send("hop_limit", { block, file: src.path, lastError: `hops ${block.hops} is over iac.max_hops ${file.iac.max_hops}`, key });
      return;
    }
    // The TTL counts from arrival, never from `created:` (the sender's word, informational):
    // a date copied from the docs does not kill a message, one in the future does not keep it
    // alive. An arrival in the ledger survives a restart; a requeued copy arrives anew (its
    // `dead` line cleared the old one).
    const now = this.ctx.now().getTime();
    const recorded = this.ctx.ledger.arrivalOf(key);
    const bornAt = recorded !== undefined && recorded <= now ? recorded : now;
    const expiresAt = expiryOf(block, src.kind, file.iac.default_message_ttl, bornAt);
    if (expiresAt !== undefined && recorded !== bornAt) this.ctx.ledger.markSeen(key, bornAt);
    const t = this.ctx.table.add({ key, priority: block.priority, seenAt: bornAt, block, source: src, firstSeen: new Date(bornAt), bornAt, expiresAt });
    if (t.expiresAt !== undefined && t.expiresAt <= now) return this.ctx.expire(t);
    this.ctx.queue.offer(t);
    if (t.expiresAt !== undefined) this.ctx.onTtl();
  }

  /** A block whose key is already tracked: the same task seen again, edited, moved, or a duplicate. */
  private async again(src: TaskSource, tracked: TrackedTask, block: TaskBlock): Promise<void> {
    if (tracked.source === src && tracked.block.start === block.start) {
      // Edited while it waits in its file: it runs as it reads now.
      if (tracked.block.raw !== block.raw && tracked.state === "waiting" && this.ctx.queue.withdraw(tracked.key)) {
        tracked.block = block;
        tracked.priority = block.priority;
        this.ctx.queue.offer(tracked);
      }
      return;
    }
    // The same block moved by a compaction (or re-read whole after a foreign append): only the
    // blank lines after it may differ, since they depend on what was appended next.
    if (tracked.source === src && tracked.block.raw.trimEnd() === block.raw.trimEnd()) {
      tracked.block = block;
      return;
    }
    await this.duplicate(src, block, `task id '${tracked.key}' is already queued at ${this.rel(tracked.source.path)}:${tracked.block.line}`);
  }

  private async duplicate(src: TaskSource, block: TaskBlock, why: string): Promise<void> {
    const dupKey = `dup:${block.id}:${block.start}:${block.raw.length}`;
    if (this.ctx.ledger.isHandled(dupKey) || this.ctx.office.isWriting(dupKey)) return;
    this.ctx.log.warn(`duplicate task: ${why}`);
    await this.ctx.office.send("duplicate", { block, file: src.path, lastError: why, key: dupKey, attempts: 0 });
    // Mark this exact copy handled so retirement takes it out of the file.
    this.duplicateCopies.add(copyKey(src, block));
  }

  private rel(path: string): string {
    return relative(this.ctx.dataDir, path) || path;
  }
}

const copyKey = (src: TaskSource, b: { start: number; raw: string }) => `${src.path}\0${b.start}\0${b.raw}`;
