// The reward audit: a second opinion on the agent's own score. It never overrides the
// agent; divergence is recorded, logged, shown in the next prompt and halves the
// evidence of a skill earned on it. Two methods: a deterministic rule table
// (`rule_based`, pure) and a short grader prompt for a model (`llm`), whose call is
// injected so this module does no I/O.
import * as z from "zod";
import type { ChatMessage } from "../work/llm/types.js";
import { extractJson } from "../work/llm/salvage.js";
import type { Reward } from "../store/rewards.js";

export interface AuditInput {
  reward: Reward;
  answer: string;
  rewardReason: string;
  skill?: { name: string; steps: string[] } | null;
}

export interface Audit {
  score: Reward;
  notes: string[];
  method: "rule_based" | "llm";
}

export interface AuditRule {
  id: string;
  /** The agent scores this rule looks at. */
  on: Reward[];
  /** The audit's score when the rule fires. */
  score: Reward;
  /** A note saying what was found, or undefined when the rule does not apply. */
  check(o: AuditInput): string | undefined;
}

const REFUSAL = /\b(i can(?:'|no)t (?:help|do|complete|assist|provide)|i cannot (?:help|do|complete|assist|provide)|i am unable|i'm unable|unable to (?:help|comply|assist)|as an ai\b|i won't be able)/i;
/** Words saying the work itself failed (not just that something in it can fail). */
const FAILURE = /\b(does not work|doesn't work|did not work|didn't work|failed to|could not|couldn't|was unable to|unable to (?:complete|finish|solve|fix|find|do)|not possible|incomplete|not (?:yet )?(?:done|finished|complete|completed|solved))\b/i;
/** A plain claim that the whole task succeeded. */
const SUCCESS_CLAIM = /\b(succeeded|successfully|(?:was|is|been|are) (?:fully |all |now )?(?:completed|complete|done|solved|fixed|working)|works(?: as expected)?|all tests pass(?:ed)?)\b/i;
/** Hedges that make a success claim partial or negative. */
const HEDGE = /\b(not|never|no|only|part|partial(?:ly)?|partly|some|but|except|however|although|though|fail(?:ed|s)?|could ?n[o']t|unable|incomplete|missing|yet|mostly|almost)\b|n't\b/i;
/** The answer says it is finished… */
const DONE_CLAIM = /\b((?:task|it|this|everything|the work|the fix) (?:is|was|has been) (?:fully |now )?(?:done|complete|completed|finished|solved)|successfully (?:completed|finished|solved))\b/i;
/** …and also that it is not. */
const NOT_DONE_CLAIM = /\b(not (?:yet |fully )?(?:done|complete|completed|finished|solved)|incomplete|unfinished|(?:could not|couldn't|unable to) (?:complete|finish|solve))\b/i;

const substantive = (o: AuditInput) => o.answer.trim().length >= 20;
const lastSentence = (s: string) => s.trim().split(/(?<=[.!?])\s+|\n+/).filter((x) => x.trim()).pop() ?? "";

/** The rule table, checked in order. Every rule that fires adds its note; the lowest score wins. */
export const AUDIT_RULES: AuditRule[] = [
  { id: "empty-answer", on: [1], score: 0, check: (o) => (substantive(o) ? undefined : "+1 with an empty or near-empty answer") },
  { id: "refusal", on: [1], score: -1, check: (o) => (substantive(o) && REFUSAL.test(o.answer) ? "+1 on an answer that refuses or says it cannot do the task" : undefined) },
  {
    id: "skill-without-steps",
    on: [1],
    score: 0,
    check: (o) => (o.skill && o.skill.steps.filter((s) => s.trim()).length === 0 ? `+1 claims the skill '${o.skill.name}' with no steps` : undefined),
  },
  {
    id: "self-contradiction",
    on: [1],
    score: 0,
    check: (o) => (DONE_CLAIM.test(o.answer) && NOT_DONE_CLAIM.test(o.answer) ? "+1 on an answer that says both that it is finished and that it is not" : undefined),
  },
  {
    id: "answer-concludes-failure",
    on: [1],
    score: 0,
    check: (o) => (substantive(o) && FAILURE.test(lastSentence(o.answer)) ? "+1 on an answer whose conclusion reports failure" : undefined),
  },
  {
    id: "reason-reports-failure",
    on: [1],
    score: 0,
    check: (o) => (FAILURE.test(o.rewardReason) && !SUCCESS_CLAIM.test(o.rewardReason) ? "+1 with a reason that reports failure" : undefined),
  },
  {
    id: "reason-claims-success",
    on: [0, -1],
    score: 1,
    check: (o) =>
      substantive(o) && !REFUSAL.test(o.answer) && SUCCESS_CLAIM.test(o.rewardReason) && !HEDGE.test(o.rewardReason)
        ? `${o.reward} with a reason that says the task succeeded`
        : undefined,
  },
  {
    id: "zero-on-nothing",
    on: [0],
    score: -1,
    check: (o) => (!substantive(o) || REFUSAL.test(o.answer) ? "0 on an empty or refusing answer" : undefined),
  },
];

/** The rule-based audit: deterministic, no I/O. No rule firing means the audit agrees. */
export function auditOutcome(o: AuditInput, rules: AuditRule[] = AUDIT_RULES): Audit {
  const fired = rules.filter((r) => r.on.includes(o.reward)).flatMap((r) => {
    const note = r.check(o);
    return note ? [{ score: r.score, note }] : [];
  });
  if (!fired.length) return { score: o.reward, notes: [], method: "rule_based" };
  const score = (o.reward === 1 ? Math.min(...fired.map((f) => f.score)) : fired[0]!.score) as Reward;
  return { score, notes: fired.map((f) => f.note), method: "rule_based" };
}

// ── method: llm ────────────────────────────────────────────────────────────────

export interface GradeInput extends AuditInput {
  task: { id: string; text: string };
}

export const GradeResponse = z.strictObject({
  score: z.literal([-1, 0, 1]).describe("-1 failed, 0 partial, 1 fully done"),
  notes: z.array(z.string()).describe("Short reasons for the score"),
});

/** JSON schema for `response_format: json_schema` of the grader call. */
export const gradeJsonSchema = (() => {
  const schema = z.toJSONSchema(GradeResponse, { target: "draft-2020-12" }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
})();

export const GRADE_FORMAT = { name: "agentos_grade", schema: gradeJsonSchema };

/** Sends messages to a model and returns its reply text (the shell's LLM client, injected). */
export type Chat = (messages: ChatMessage[], signal?: AbortSignal) => Promise<string>;
/** Grades one outcome; throws when the grader cannot give a usable score. */
export type Grader = (o: GradeInput, signal?: AbortSignal) => Promise<Audit>;

export const GRADER_SYSTEM = [
  "You audit the self-assessed score of an AI agent. Read the task, the agent's answer and its own score",
  "(+1 fully done, 0 partial, -1 failed) with its reason, and give the score you think is honest.",
  "Judge only from the text given. Be strict about +1: an empty, refusing, self-contradicting or unfinished answer is not +1.",
  'Reply with one JSON object and nothing else: {"score": 1 | 0 | -1, "notes": ["<one short reason>"]}',
].join("\n");

const clip = (s: string, max: number) => (s.length > max ? s.slice(0, max) + "\n[… cut for the grader]" : s);

/** The short grader prompt: bounded, so grading costs little next to the task itself. */
export function graderMessages(o: GradeInput): ChatMessage[] {
  const skill = o.skill ? `\nSkill claimed: ${o.skill.name} (${o.skill.steps.filter((s) => s.trim()).length} steps)` : "";
  return [
    { role: "system", content: GRADER_SYSTEM },
    {
      role: "user",
      content: `Task id: ${o.task.id}\n\nTask:\n${clip(o.task.text.trim(), 4000)}\n\nAnswer:\n${clip(o.answer.trim(), 6000)}\n\nAgent's score: ${o.reward}\nAgent's reason: ${clip(o.rewardReason.trim(), 500)}${skill}`,
    },
  ];
}

export function parseGrade(content: string): { ok: true; audit: Audit } | { ok: false; error: string } {
  const json = extractJson(content);
  if (json === undefined) return { ok: false, error: "no JSON object in the grader's reply" };
  const r = GradeResponse.safeParse(json);
  if (!r.success) return { ok: false, error: `grader reply does not match {"score", "notes"}: ${z.prettifyError(r.error).split("\n")[0]}` };
  return { ok: true, audit: { score: r.data.score as Reward, notes: r.data.notes.map((n) => n.trim()).filter(Boolean).slice(0, 5), method: "llm" } };
}

/** method: llm — one extra call with the grader prompt; an unusable reply throws. */
export function llmGrader(chat: Chat): Grader {
  return async (o, signal) => {
    const parsed = parseGrade(await chat(graderMessages(o), signal));
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.audit;
  };
}

/** When the grader fails, the task still gets an audit: the rule-based one, saying why. */
export function fallbackAudit(o: AuditInput, why: string): Audit {
  const a = auditOutcome(o);
  return { ...a, notes: [...a.notes, `llm grader unavailable (${why}); rule-based audit used`] };
}
