// Talks to the AgentOS REST API with the token a person typed (kept in sessionStorage,
// sent only as `Authorization: Bearer`, never in a URL). Every change goes through the
// same routes and checks a script would use.
import type { History, LastPrompt, Learning, Overview, PromptAnswer } from "../../src/http/dashboard/schemas.js";

export type { History, LastPrompt, Learning, Overview, PromptAnswer };
export type OverviewAgent = Overview["agents"][number];

const TOKEN_KEY = "agentos.api-token";

export const storedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const storeToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the API answers 401: the page asks for a token. */
let onUnauthorized: () => void = () => {};
export const whenUnauthorized = (fn: () => void): void => void (onUnauthorized = fn);

export function authHeaders(): Record<string, string> {
  const token = storedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? "GET",
    headers: { accept: "application/json", ...authHeaders(), ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    cache: "no-store",
  });
  if (res.status === 401) onUnauthorized();
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const body = json as { error?: string; issues?: { path: string; message: string }[] } | undefined;
    const issues = body?.issues?.map((i) => `${i.path}: ${i.message}`).join("; ");
    throw new ApiError(res.status, `${body?.error ?? `HTTP ${res.status}`}${issues ? ` (${issues})` : ""}`);
  }
  return json as T;
}

export const agentPath = (name: string) => `/v1/agents/${encodeURIComponent(name)}`;

export interface AgentDetail {
  name: string;
  throughput_class?: string;
  max_queue_depth?: number;
  totals: { plus: number; zero: number; minus: number };
}

export interface TaskStatus {
  id: string;
  agent: string;
  status: "queued" | "running" | "done" | "dead";
  state?: string;
  attempts?: number;
  last_error?: string;
  source?: string;
  reward?: number;
  result?: string;
  dead_letter?: { reason: string; at: string; attempts: number; last_error?: string; file: string };
}

export interface DeadLetter {
  file: string;
  reason: string;
  agent: string;
  task_id?: string;
  source: string;
  first_seen: string;
  at: string;
  attempts: number;
  last_error?: string;
  original: string;
  requeued?: string[];
  /** The model's last reply (bounded, secrets removed), when a reply was the problem. */
  last_reply?: string;
}

export const DEAD_LETTER_REASONS = ["expired", "invalid", "duplicate", "delivery_limit", "hop_limit", "unknown_agent"] as const;

/** The bare file name the dead-letter routes take. */
export const letterName = (d: DeadLetter): string => d.file.split("/").pop()!;
