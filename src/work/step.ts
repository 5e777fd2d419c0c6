// One worker step for one task: read what the prompt is built from, build it within
// the token budget, ask the model. Reads go through `read` (the agent's files as its
// pending outcomes show them, so the task after an uncommitted one still learns from
// it); nothing here writes. Failures are thrown as they come (StepError says whose).
import { join } from "node:path";
import type { Logger } from "../log.js";
import { parseGoals } from "../store/goals.js";
import { parseReflections } from "../store/reflections.js";
import { parseRewards } from "../store/rewards.js";
import { parseSkills, skillsOf } from "../store/skills.js";
import type { StepModel, StepResult } from "./llm/types.js";
import { buildPrompt, type BuiltPrompt } from "./prompt.js";

export interface StepTask {
  id: string;
  text: string;
  from?: string;
  parent?: string;
}

export interface StepContext {
  agent: string;
  /** An agent file by its path in the agent's repository (`skills.md`, `skills/x.md`). */
  read(rel: string): Promise<string | undefined>;
  /** A shared segment's text (shared/segments/<name>.md). */
  readSegment(name: string): Promise<string | undefined>;
  segments: string[];
  maxTokens: number;
  model: StepModel;
  log: Logger;
}

export interface StepDone {
  prompt: BuiltPrompt;
  result: StepResult;
}

/** The prompt the model sees for `task`, from the agent's files as they read now. */
export async function promptFor(ctx: StepContext, task: StepTask): Promise<BuiltPrompt> {
  const [systemPrompt, constraints, skillsText, goalsText, rewardsText, reflectionsText] = await Promise.all(
    ["system_prompt.md", "constraints.md", "skills.md", "goals.md", "rewards.md", "reflections.md"].map((f) => ctx.read(f).then((x) => x ?? "")),
  );
  const skills = skillsOf(parseSkills(skillsText!));
  const skillTexts: Record<string, string> = {};
  await Promise.all(
    skills.map(async (s) => {
      const text = await ctx.read(s.file).catch(() => undefined);
      if (text) skillTexts[s.slug] = text;
    }),
  );
  // A segment that cannot be read (a link or a special file: refused) is left out, said once.
  const segments = await Promise.all(ctx.segments.map(async (name) => ({ name, text: (await ctx.readSegment(name).catch((err: Error) => refused(ctx, name, err))) ?? "" })));
  const built = buildPrompt({
    agent: ctx.agent,
    systemPrompt: systemPrompt!,
    constraints: constraints!,
    task,
    skills,
    skillTexts,
    activeGoals: parseGoals(goalsText!).active.map((g) => g.text),
    rewards: parseRewards(rewardsText!).entries,
    reflections: parseReflections(reflectionsText!),
    segments,
    maxTokens: ctx.maxTokens,
  });
  if (built.dropped.length) {
    ctx.log.debug(`prompt for ${task.id} left out ${built.dropped.map((d) => `${d.count} ${d.part}`).join(", ")} to stay within ${ctx.maxTokens} tokens`);
  }
  return built;
}

const saidOnce = new Set<string>();
function refused(ctx: StepContext, name: string, err: Error): undefined {
  const line = `segment '${name}' left out of the prompt: ${err.message}`;
  if (!saidOnce.has(`${ctx.agent}\0${line}`)) ctx.log.error(line);
  saidOnce.add(`${ctx.agent}\0${line}`);
  return undefined;
}

/** Builds the prompt and asks the model. */
export async function step(ctx: StepContext, task: StepTask, signal: AbortSignal, sent?: (prompt: BuiltPrompt) => void): Promise<StepDone> {
  const prompt = await promptFor(ctx, task);
  sent?.(prompt);
  const result = await ctx.model.step(prompt.messages, signal);
  return { prompt, result };
}

/** Where a segment lives, for the agent's reader. */
export const segmentPath = (segmentsDir: string, name: string): string => join(segmentsDir, `${name}.md`);
