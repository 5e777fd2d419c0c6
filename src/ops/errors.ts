// The errors a user can cause, each with a code (as fastify's FST_ERR_*), and the one
// table that says what each code means to the CLI (exit code) and to HTTP (status).
// Nothing else picks exit codes or statuses for user errors: both layers read this table.

/** Exit 2 is a usage error, 3 a conflict with what is already there, 75 (EX_TEMPFAIL) "try again later". */
export const ERROR_CODES = {
  AGENTOS_FAILED: { exit: 1, status: 400, meaning: "The request cannot be carried out; the message says why" },
  AGENTOS_INVALID_CONFIG: { exit: 1, status: 500, meaning: "agents.yaml or the environment has a problem (file:line:column in the message)" },
  AGENTOS_INVALID_ARGUMENT: { exit: 2, status: 400, meaning: "An argument or field is malformed: what was found and what was expected" },
  AGENTOS_INVALID_REQUEST: { exit: 2, status: 400, meaning: "The request does not match its schema; `issues` lists each field" },
  AGENTOS_INVALID_JSON: { exit: 2, status: 400, meaning: "The request body is not valid JSON" },
  AGENTOS_EMPTY_TASK: { exit: 2, status: 400, meaning: "The task text is empty or only whitespace" },
  AGENTOS_INVALID_TASK_TEXT: { exit: 2, status: 400, meaning: "The task text holds a control character (only text, tabs and newlines are allowed)" },
  AGENTOS_INVALID_TASK_ID: { exit: 2, status: 400, meaning: "The task id is not 1-128 letters, digits, '.', '-' or '_' starting with a letter or digit" },
  AGENTOS_UNKNOWN_AGENT: { exit: 2, status: 404, meaning: "No agent of that name in agents.yaml" },
  AGENTOS_UNKNOWN_TASK: { exit: 1, status: 404, meaning: "No task with that id: not queued, running, done or dead-lettered" },
  AGENTOS_UNKNOWN_RESULT: { exit: 1, status: 404, meaning: "No result for that task id: not in results/ nor in git history" },
  AGENTOS_UNKNOWN_DEAD_LETTER: { exit: 1, status: 404, meaning: "No dead letter of that name" },
  AGENTOS_NOT_A_DEAD_LETTER: { exit: 1, status: 409, meaning: "The file is not a dead letter" },
  AGENTOS_UNRUNNABLE_DEAD_LETTER: { exit: 1, status: 422, meaning: "The dead letter's original block is not a valid task; fix it and enqueue it by hand" },
  AGENTOS_TASK_ID_USED: { exit: 3, status: 409, meaning: "The task id was already used (done or dead-lettered) for this agent" },
  AGENTOS_TASK_ID_QUEUED: { exit: 3, status: 409, meaning: "The task id is already queued for this agent" },
  AGENTOS_REQUEUE_PENDING: { exit: 3, status: 409, meaning: "The dead letter was already requeued and that copy has not run yet" },
  AGENTOS_DUPLICATE_REQUEUE: { exit: 3, status: 409, meaning: "Requeueing a duplicate under the same id would be a duplicate again" },
  AGENTOS_EXISTS: { exit: 1, status: 409, meaning: "The file already exists; it is not overwritten" },
  AGENTOS_QUEUE_FULL: { exit: 75, status: 429, meaning: "Backpressure: the agent already holds max_queue_depth unfinished tasks; retry later" },
  AGENTOS_UNHEALTHY: { exit: 1, status: 503, meaning: "No fresh heartbeat from the runtime for an agent" },
  AGENTOS_TOO_MANY_LISTENERS: { exit: 1, status: 503, meaning: "The event stream already has as many listeners as it takes; close a dashboard tab" },
  AGENTOS_START_FAILED: { exit: 1, status: 500, meaning: "The runtime or the REST API could not start" },
  AGENTOS_UNAUTHORIZED: { exit: 1, status: 401, meaning: "Missing or wrong `Authorization: Bearer <AGENTOS_API_TOKEN>`" },
  AGENTOS_NOT_LOOPBACK_HOST: { exit: 1, status: 421, meaning: "Without a token the API answers only to a loopback host name (DNS rebinding)" },
  AGENTOS_CROSS_ORIGIN: { exit: 1, status: 403, meaning: "A web page of another origin may not call the API" },
  AGENTOS_TOO_MANY_FAILURES: { exit: 1, status: 429, meaning: "Too many wrong tokens from this address; retry after `Retry-After` seconds" },
  AGENTOS_NO_ROUTE: { exit: 1, status: 404, meaning: "No such path; see /openapi.json" },
  AGENTOS_METHOD_NOT_ALLOWED: { exit: 1, status: 405, meaning: "The path exists but not with this method; `Allow` lists the methods it has" },
  AGENTOS_BODY_TOO_LARGE: { exit: 1, status: 413, meaning: "The request body is over the limit" },
  AGENTOS_UNSUPPORTED_MEDIA_TYPE: { exit: 1, status: 415, meaning: "The request body is not `application/json`" },
  AGENTOS_INTERNAL: { exit: 1, status: 500, meaning: "Not the user's doing: a bug or an I/O failure; the runtime's log has the details" },
} as const satisfies Record<string, { exit: number; status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A mistake the user can fix: the message names what was found and what was expected. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode = "AGENTOS_FAILED",
    /** Response headers that help the client (Retry-After on AGENTOS_QUEUE_FULL). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "UserError";
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** Seconds a client should wait after AGENTOS_QUEUE_FULL: about one task's time, the queue drains one by one. */
export const RETRY_AFTER_SECONDS = 30;

export class QueueFullError extends UserError {
  constructor(
    message: string,
    readonly retryAfterSeconds = RETRY_AFTER_SECONDS,
  ) {
    super(message, "AGENTOS_QUEUE_FULL", { "retry-after": String(retryAfterSeconds) });
  }
}

export const unknownAgent = (name: string, agents: { name: string }[], hint = "") =>
  new UserError(`unknown agent '${name}' (agents.yaml has ${agents.map((a) => a.name).join(", ") || "no agents"})${hint}`, "AGENTOS_UNKNOWN_AGENT");
