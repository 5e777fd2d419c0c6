// The built-in offline model: deterministic, contract-valid, no network, no key.
// It lets anyone see the whole flow (`agentos demo`); every answer says it is offline.
import { slugify } from "../../store/markdown.js";
import type { StepResponse } from "./schema.js";
import type { ChatMessage, StepModel, StepResult } from "./types.js";

export const OFFLINE_MODEL = "offline";

export class OfflineModel implements StepModel {
  readonly name = OFFLINE_MODEL;

  async step(messages: ChatMessage[]): Promise<StepResult> {
    const started = performance.now();
    const user = messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
    const id = /^## Task (\S+)/m.exec(user)?.[1] ?? "task";
    const text = user.replace(/^## Task .*\n(\(.*\)\n)?\n?/, "").trim();
    const wordCount = text.split(/\s+/).filter(Boolean).length;
    const firstSentence = (/^[^.!?\n]*[.!?]?/.exec(text)?.[0] ?? text).trim();
    const topic = slugify(id.replace(/[-_]?\d+$/, "")) || "general-task";
    const substantial = wordCount >= 5;
    // "hand off to <agent>" in the task: hand a follow-up to that agent, so the Compose
    // example shows a handoff between containers without a key. The follow-up's text has
    // no such phrase, so a chain stops after one hop.
    const handTo = /\bhand(?:\s+it)?\s+off\s+to\s+([a-z0-9][a-z0-9_-]{0,62})\b/i.exec(text)?.[1]?.toLowerCase();
    const response: StepResponse = {
      answer: [
        `**Offline model** — no LLM was called. This deterministic answer shows the flow end to end.`,
        "",
        `Task \`${id}\` (${wordCount} words) asks: ${firstSentence}`,
        "",
        "To get real answers, set LLM_API_KEY, LLM_BASE_URL and LLM_MODEL and run `agentos run`.",
      ].join("\n"),
      reward: substantial ? 1 : 0,
      reward_reason: substantial
        ? "offline model: a well-formed task was read and answered with the offline template"
        : "offline model: the task is too short to act on, partial answer only",
      skill: substantial
        ? {
            name: topic,
            summary: `Handle '${topic.replace(/-/g, " ")}' tasks: restate the ask, answer, score honestly`,
            steps: ["Restate what the task asks", "Answer in the agent's tone", "Score the outcome honestly"],
            tags: ["offline", ...topic.split("-").slice(0, 2)],
          }
        : null,
      reflection: substantial ? null : `Task ${id} was too short to act on; ask for the missing detail.`,
      goals: substantial ? null : { add: ["Ask for missing detail when a task is underspecified"], complete: [] },
      handoff: handTo ? { to: handTo, task: `Follow-up of task ${id}: check the offline answer and add what is missing.`, priority: "normal" } : null,
      share: null,
    };
    return { response, model: OFFLINE_MODEL, durationMs: performance.now() - started, requests: 0 };
  }
}
