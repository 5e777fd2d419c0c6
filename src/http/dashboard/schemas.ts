// Schemas of the read-only routes the dashboard's views need (zod): fastify validates and
// serialises with them, the OpenAPI document describes the routes with them, and the page
// imports their types (so this file imports nothing with Node types).
import * as z from "zod";

const Reward = z.int().min(-1).max(1);

export const OverviewAgent = z.object({
  name: z.string(),
  state: z.enum(["running", "paused", "stopped"]).describe("paused: the provider refuses work (see `paused.reason`); stopped: no runtime holds its lease"),
  paused: z.object({ reason: z.string(), since: z.string() }).optional(),
  running_here: z.boolean().describe("This process runs the agent (Compose: each container runs one)"),
  queue_depth: z.int().describe("Unfinished task blocks in its queue.md, inbox and handoffs"),
  in_flight: z.int(),
  retrying: z.int().describe("Tasks waiting to be tried again after a failure (only known for agents this process runs)"),
  done: z.int(),
  dead_letters: z.int(),
  last_reward: z.object({ reward: Reward, task: z.string(), at: z.string(), audit: Reward.optional() }).optional(),
  reward_trend: z.number().optional().describe("Mean reward of its last 10 task commits (the agent page's rolling mean, now); absent before the first"),
  tokens_today: z.int().optional().describe("Tokens the provider reported on today's (UTC) commits (Tokens-In + Tokens-Out trailers); absent when none were reported"),
  problems: z.array(z.string()),
});
export type OverviewAgent = z.infer<typeof OverviewAgent>;

export const Overview = z.object({ at: z.string(), agents: z.array(OverviewAgent) });
export type Overview = z.infer<typeof Overview>;

const Skill = z.object({
  slug: z.string(),
  summary: z.string(),
  evidence: z.number(),
  effective_evidence: z.number().describe("evidence × 0.5^(days since last success / decay_halflife_days)"),
  last_success: z.string(),
  created: z.string(),
  failures: z.int(),
});

const Goal = z.object({ text: z.string(), date: z.string() });

export const Learning = z.object({
  agent: z.string(),
  decay_halflife_days: z.number(),
  skills: z.array(Skill).describe("skills.md, strongest (effective evidence) first"),
  archived_skills: z.array(z.object({ file: z.string(), slug: z.string(), archived: z.string().optional(), reason: z.string().optional(), summary: z.string().optional() })),
  goals: z.object({ active: z.array(Goal), completed: z.array(Goal), displaced: z.array(Goal) }),
  reflections: z.array(z.object({ at: z.string(), task: z.string(), text: z.string() })).describe("reflections.md, newest first"),
});
export type Learning = z.infer<typeof Learning>;

export const HistoryCommitOut = z.object({ oid: z.string(), at: z.string(), subject: z.string(), body: z.string(), trailers: z.record(z.string(), z.string()) });

export const History = z.object({
  agent: z.string(),
  commits: z.array(HistoryCommitOut).describe("Newest first"),
  rewards: z.array(z.object({ task: z.string(), at: z.string(), reward: Reward, audit: Reward.optional() })).describe("Each task commit's Reward and Audit trailers, oldest first (the trend chart)"),
});
export type History = z.infer<typeof History>;

// Query strings are strings (the API does not coerce types): a number is a pattern here.
export const HistoryQuery = z.strictObject({
  limit: z.string().regex(/^(?:[1-9]\d?|[1-4]\d\d|500)$/, "Expected a number from 1 to 500").optional().describe("Commits to return, 1 to 500 (default 50)"),
  // Only compared with Task-Id trailers, never used as a path: a length bound is enough.
  task: z.string().min(1).max(128).optional().describe("Only the commits of this task id (Task-Id trailer)"),
});

export const PromptSection = z.object({ name: z.string(), tokens: z.int(), text: z.string() });
export const LastPrompt = z.object({
  task: z.string(),
  at: z.string(),
  tokens: z.int().describe("Estimated at 4 characters a token"),
  max_tokens: z.int(),
  sections: z.array(PromptSection),
  dropped: z.array(z.object({ part: z.string(), count: z.int() })).describe("What did not fit the budget and was left out"),
});
export type LastPrompt = z.infer<typeof LastPrompt>;

export const PromptAnswer = z.object({
  agent: z.string(),
  prompt: LastPrompt.nullable().describe("null until this process has sent one for the agent"),
  why: z.string().optional().describe("Why there is no prompt to show"),
});
export type PromptAnswer = z.infer<typeof PromptAnswer>;
