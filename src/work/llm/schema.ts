// The contract with the model: the zod schema of one step's response. It is the
// validation, the TypeScript type and (via z.toJSONSchema) the response_format sent.
import * as z from "zod";

export const SkillClaim = z.strictObject({
  name: z.string().describe("Short reusable name, e.g. retry-with-backoff"),
  summary: z.string().describe("One line: what the skill is"),
  steps: z.array(z.string()).describe("How to apply it, step by step"),
  tags: z.array(z.string()).describe("Keywords"),
});

export const StepResponse = z.strictObject({
  answer: z.string().describe("Markdown answer to the task"),
  reward: z.literal([-1, 0, 1]).describe("-1 failed, 0 partial, 1 succeeded with a reusable outcome"),
  reward_reason: z.string().describe("Why -1, 0 or +1"),
  skill: SkillClaim.nullable().describe("A reusable skill learned; only recorded on +1"),
  reflection: z.string().nullable().describe("What to do differently next time"),
  goals: z
    .strictObject({ add: z.array(z.string()), complete: z.array(z.string()) })
    .nullable()
    .describe("Goals to add (mostly after failures) or mark complete"),
  handoff: z
    .strictObject({
      to: z.string().describe("Agent name"),
      task: z.string(),
      priority: z.enum(["high", "normal", "low"]),
    })
    .nullable()
    .describe("Hand part of the work to another agent"),
  share: z
    .strictObject({ segment: z.string(), note: z.string() })
    .nullable()
    .describe("Append a note to a shared memory segment"),
});
export type StepResponse = z.infer<typeof StepResponse>;

/** JSON schema for `response_format: json_schema` (strict: every key required, nullable where optional). */
export const stepJsonSchema = (() => {
  const schema = z.toJSONSchema(StepResponse, { target: "draft-2020-12" }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
})();
