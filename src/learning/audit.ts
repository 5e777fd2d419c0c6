// Rule-based reward audit: a deterministic second opinion on the agent's own score.
// It never overrides the agent; divergence is recorded, logged and shown next time.
import type { Reward } from "./rewards.js";

export interface AuditInput {
  reward: Reward;
  answer: string;
  rewardReason: string;
  skill?: { name: string; steps: string[] } | null;
}

export interface Audit {
  score: Reward;
  notes: string[];
}

const REFUSAL = /\b(i can(?:'|no)t|i cannot|i am unable|i'm unable|unable to (?:help|complete|comply)|as an ai\b|i won't be able)/i;
const FAILURE_WORDS = /\b(does not work|doesn't work|did not work|failed|not possible|could not|couldn't|incomplete|todo)\b/i;
const SUCCESS_REASON = /\b(succeeded|successful(?:ly)?|completed|works|solved|done|correct)\b/i;
const NEGATED_SUCCESS = /\b(not|never|partially|partly|un)\s*(?:fully\s+)?(succeeded|successful|completed|works|solved|done|correct)/i;

export function auditOutcome(o: AuditInput): Audit {
  const notes: string[] = [];
  const answer = o.answer.trim();
  if (o.reward === 1) {
    if (answer.length < 20) notes.push("+1 with an empty or near-empty answer");
    else if (REFUSAL.test(answer)) notes.push("+1 on an answer that refuses or says it cannot do the task");
    else if (FAILURE_WORDS.test(answer) && FAILURE_WORDS.test(o.rewardReason)) notes.push("+1 while answer and reason both report failure");
    if (o.skill && o.skill.steps.filter((s) => s.trim()).length === 0) notes.push("+1 claims a skill with no steps");
    if (notes.length === 0) return { score: 1, notes };
    return { score: notes.some((n) => n.includes("refuses")) ? -1 : 0, notes };
  }
  if (SUCCESS_REASON.test(o.rewardReason) && !NEGATED_SUCCESS.test(o.rewardReason) && !FAILURE_WORDS.test(o.rewardReason) && answer.length >= 20) {
    notes.push(`${o.reward} with a reason that says the task succeeded`);
    return { score: 1, notes };
  }
  if (o.reward === 0 && (answer.length < 20 || REFUSAL.test(answer))) {
    notes.push("0 on an empty or refusing answer");
    return { score: -1, notes };
  }
  return { score: o.reward, notes };
}
