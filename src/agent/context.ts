// What an agent is given by the process that runs it (data dir, config, model, clock,
// events), and the words it answers in.
import type { AgentsFile } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Grader } from "../apply/audit.js";
import type { TaskState } from "../schedule/task-table.js";
import type { DeadLetterReason } from "../store/dead-letters.js";
import type { LlmEvents, StepModel } from "../work/llm/types.js";
import type { TaskDoneInfo } from "./outcome.js";

/** What an agent reports as it goes (metrics); the LLM client's own events are included. */
export interface AgentEvents extends LlmEvents {
  taskDone?(agent: string, info: TaskDoneInfo): void;
  taskFailed?(agent: string, info: { id: string; error: string; attempt: number }): void;
  deadLetter?(agent: string, reason: DeadLetterReason): void;
  escalation?(agent: string, kind: string): void;
  /** A group commit made `tasks` task outcomes durable together. */
  groupCommitted?(agent: string, tasks: number): void;
}

export interface AgentContext {
  dataDir: string;
  file: AgentsFile;
  model: StepModel;
  log: Logger;
  now: () => Date;
  /** Names of every agent in agents.yaml (handoff targets). */
  knownAgents: () => Set<string>;
  events?: AgentEvents;
  /** Test hook: SIGKILL ourselves at a named point (`AGENTOS_CRASH_AT`). */
  crashAt?: string;
  /** Where requests for a watchdog webhook go (injectable for tests). */
  postWebhook?: (url: string, body: unknown) => Promise<void>;
  /** The reward audit's grader for `reward_audit.method: llm`; default: a grader prompt to `model.chat`. */
  grader?: Grader;
}

/** Where a task is in this process, in the REST API's words (settling counts as running: its commit is under way). */
export interface TaskWhere {
  state: "waiting" | "ready" | "running" | "retrying";
  attempts: number;
  lastError?: string;
}

export const API_STATE: Record<Exclude<TaskState, "done" | "dead">, TaskWhere["state"]> = { waiting: "waiting", admitted: "ready", running: "running", settling: "running", retrying: "retrying" };

/** What AgentRuntime.start may skip: the runtime knows how it found the agent's folder. */
export interface StartOptions {
  /** Its folder is new (bootstrap.ts): nothing to recover there, and its git history is the first commit only. */
  fresh?: boolean;
  /** The caller reconciles the agent right after (mailboxes scanned, queue.md read): a fresh agent need not read them at start too. */
  readLater?: boolean;
  /** This process made the agent's mailbox folders just now: no temp file of a crashed run can be in them. */
  newMailboxes?: boolean;
}
