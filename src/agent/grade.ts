// The reward audit's grader for `reward_audit.method: llm`: one grader call to the
// model, outside the apply lock. On any failure the rule-based audit stands in, and
// the audit says why. With the rule-based method (the default) nothing happens here:
// the audit is scored when the outcome is applied.
import type { AgentsFile } from "../config/schema.js";
import type { Logger } from "../log.js";
import { oneLine } from "../store/markdown.js";
import { fallbackAudit, GRADE_FORMAT, llmGrader, type Audit, type Grader } from "../apply/audit.js";
import type { StepModel, StepResult } from "../work/llm/types.js";

export interface Grading {
  file: () => AgentsFile;
  model: StepModel;
  /** Injected in tests; default: a grader prompt to `model.chat`. */
  grader?: Grader;
  log: Logger;
}

export async function grade(g: Grading, task: { key: string; text: string }, result: StepResult, signal: AbortSignal): Promise<Audit | undefined> {
  const cfg = g.file().reward_audit;
  if (!cfg.enabled || cfg.method !== "llm") return undefined;
  const r = result.response;
  const input = { reward: r.reward, answer: r.answer, rewardReason: r.reward_reason, skill: r.skill, task: { id: task.key, text: task.text } };
  const model = g.model;
  const grader = g.grader ?? (model.chat ? llmGrader((m, s) => model.chat!(m, { signal: s, format: GRADE_FORMAT })) : undefined);
  if (!grader) return fallbackAudit(input, `model '${model.name}' cannot grade`);
  try {
    return await grader(input, signal);
  } catch (err) {
    if (signal.aborted) throw err;
    const why = oneLine((err as Error).message ?? String(err), 200);
    g.log.warn(`reward audit grader failed on ${task.key} (${why}); using the rule-based audit`);
    return fallbackAudit(input, why);
  }
}
