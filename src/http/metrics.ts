// Prometheus metrics for one runtime (prom-client, own registry): counters fed by the
// runtime's AgentEvents, gauges read from the live agents at scrape time.
// Label values are agent names and fixed enums only, so cardinality stays bounded.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AgentEvents } from "../agent/agent.js";
import type { LlmEvents } from "../work/llm/types.js";
import type { Runtime } from "../agent/runtime.js";

export interface RuntimeMetrics {
  registry: Registry;
  /** Pass to `new Runtime({ events })` so every task outcome and LLM request is counted. */
  events: AgentEvents & LlmEvents;
  /** Gauges read this runtime's agents at scrape time. */
  watch(runtime: Runtime): void;
}

const SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createMetrics(): RuntimeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "agentos_process_" });
  let runtime: Runtime | undefined;
  const agents = () => (runtime ? [...runtime.agents.values()] : []);

  const tasks = new Counter({ name: "agentos_tasks_total", help: "Task attempts by outcome: done, failed (will retry or dead-letter), dead (dead-lettered)", labelNames: ["agent", "outcome"], registers: [registry] });
  const duration = new Histogram({ name: "agentos_task_duration_seconds", help: "Wall time of a successful task: prompt, LLM step, apply and commit", labelNames: ["agent"], buckets: SECONDS_BUCKETS, registers: [registry] });
  const llm = new Histogram({ name: "agentos_llm_request_duration_seconds", help: "Time in the LLM step of a successful task (including provider retries and format fallbacks)", labelNames: ["agent"], buckets: SECONDS_BUCKETS, registers: [registry] });
  const deadLetters = new Counter({ name: "agentos_dead_letters_total", help: "Dead letters written, by reason", labelNames: ["reason"], registers: [registry] });
  const rewards = new Counter({ name: "agentos_rewards_total", help: "Rewards the agents gave their finished tasks (-1, 0, 1)", labelNames: ["agent", "reward"], registers: [registry] });
  const escalations = new Counter({ name: "agentos_escalations_total", help: "Escalation commits: the watchdog's negative streaks and dead letters that need a person", labelNames: ["agent", "kind"], registers: [registry] });
  const audits = new Counter({ name: "agentos_audit_divergences_total", help: "Finished tasks whose reward audit disagreed with the agent's own reward", labelNames: ["agent"], registers: [registry] });
  const groupSize = new Histogram({ name: "agentos_group_commit_tasks", help: "Tasks made durable together by one group commit (one intent, one index write, one ledger fsync)", labelNames: ["agent"], buckets: [1, 2, 4, 8, 16, 32], registers: [registry] });
  const promptTokens = new Histogram({ name: "agentos_prompt_tokens", help: "Estimated prompt size of each successful task, in tokens", labelNames: ["agent"], buckets: [250, 500, 1000, 2000, 4000, 6000, 8000, 16000, 32000], registers: [registry] });
  const llmTokens = new Counter({ name: "agentos_llm_tokens_total", help: "Tokens the provider reported, by type: prompt, completion, reasoning (part of completion)", labelNames: ["agent", "type"], registers: [registry] });
  const llmRequests = new Counter({
    name: "agentos_llm_requests_total",
    help: "LLM requests and what became of them: ok, http_4xx, http_5xx, network, timeout; and per step invalid_reply, format_fallback, repair",
    labelNames: ["agent", "outcome"],
    registers: [registry],
  });
  new Gauge({
    name: "agentos_agent_paused_fault",
    help: "1 for the fault an agent is paused for: unreachable, failing, auth, credit, not_found, quota, refused, budget",
    labelNames: ["agent", "fault"],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of agents()) {
        const p = a.status().paused as { fault?: string } | undefined;
        if (p) this.set({ agent: a.name, fault: p.fault ?? "refused" }, 1);
      }
    },
  });
  new Gauge({
    name: "agentos_queue_depth",
    help: "Tasks this process holds per agent: waiting (not admitted), ready (admitted), in_flight (running), committing (answered, in a group commit), retrying",
    labelNames: ["agent", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of agents()) {
        const s = a.status();
        for (const state of ["waiting", "ready", "in_flight", "committing", "retrying"] as const) this.set({ agent: a.name, state }, s[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: "agentos_oldest_task_age_seconds",
    help: "Age of the oldest unfinished task this process holds, per agent (0 when idle)",
    labelNames: ["agent"],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of agents()) this.set({ agent: a.name }, a.oldestTaskAgeSeconds());
    },
  });
  new Gauge({
    name: "agentos_agent_paused",
    help: "1 while an agent is paused because its provider refuses work (bad key, quota)",
    labelNames: ["agent"],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of agents()) this.set({ agent: a.name }, a.isPaused ? 1 : 0);
    },
  });

  const events: AgentEvents & LlmEvents = {
    llmRequest(agent, outcome) {
      llmRequests.inc({ agent, outcome });
    },
    llmTokens(agent, u) {
      llmTokens.inc({ agent, type: "prompt" }, u.prompt);
      llmTokens.inc({ agent, type: "completion" }, u.completion);
      if (u.reasoning) llmTokens.inc({ agent, type: "reasoning" }, u.reasoning);
    },
    taskDone(agent, info) {
      tasks.inc({ agent, outcome: "done" });
      duration.observe({ agent }, info.seconds);
      llm.observe({ agent }, info.llmSeconds);
      rewards.inc({ agent, reward: String(info.reward) });
      promptTokens.observe({ agent }, info.promptTokens);
      if (info.audit !== undefined && info.audit !== info.reward) audits.inc({ agent });
    },
    groupCommitted(agent, tasks) {
      groupSize.observe({ agent }, tasks);
    },
    escalation(agent, kind) {
      escalations.inc({ agent, kind });
    },
    taskFailed(agent) {
      tasks.inc({ agent, outcome: "failed" });
    },
    deadLetter(agent, reason) {
      // unknown_agent letters are named after a folder someone created, not a configured agent.
      if (reason !== "unknown_agent") tasks.inc({ agent, outcome: "dead" });
      deadLetters.inc({ reason });
    },
  };
  return { registry, events, watch: (r) => void (runtime = r) };
}
