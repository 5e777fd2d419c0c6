// Builds the bounded prompt for one task from the agent's files. Pure: the caller
// reads the files. Required parts always go in (cut at a paragraph with a visible
// marker if one alone is too big); optional parts are added most relevant first
// and what does not fit is counted, never cut mid-text.
import type { ChatMessage } from "../llm/types.js";
import { estimateTokens, oneLine, words } from "./markdown.js";
import type { Reflection } from "./reflections.js";
import { renderRewardLine, type RewardEntry } from "./rewards.js";
import type { SkillEntry } from "./skills.js";

export interface PromptInput {
  agent: string;
  systemPrompt: string;
  constraints: string;
  task: { id: string; text: string; from?: string; parent?: string };
  skills: SkillEntry[];
  /** Full texts of skills/<slug>.md, by slug (only those worth reading). */
  skillTexts: Record<string, string>;
  activeGoals: string[];
  rewards: RewardEntry[];
  reflections: Reflection[];
  segments: { name: string; text: string }[];
  maxTokens: number;
}

export interface BuiltPrompt {
  messages: ChatMessage[];
  tokens: number;
  /** Skills whose full text was given: a -1 on this task counts against them. */
  usedSkills: string[];
  dropped: { part: string; count: number }[];
}

export const RESPONSE_INSTRUCTIONS = [
  "## How to reply",
  "",
  "Reply with one JSON object and nothing else:",
  '{"answer": "<markdown answer>", "reward": 1 | 0 | -1, "reward_reason": "<why>",',
  ' "skill": {"name", "summary", "steps": [], "tags": []} or null (only when reward is 1 and the approach is reusable),',
  ' "reflection": "<what to do differently next time>" or null,',
  ' "goals": {"add": [], "complete": []} or null, "handoff": {"to", "task", "priority"} or null,',
  ' "share": {"segment", "note"} or null}',
  "Score honestly: +1 only when the task is fully done; rewards are audited.",
].join("\n");

const FULL_TEXT_SKILLS = 3;

export function relevantSkills(skills: SkillEntry[], taskText: string): SkillEntry[] {
  const taskWords = words(taskText);
  const score = (s: SkillEntry) => [...words(`${s.slug.replace(/-/g, " ")} ${s.summary}`)].filter((w) => taskWords.has(w)).length;
  return skills
    .map((s, i) => ({ s, i, score: score(s) }))
    .sort((a, b) => b.score - a.score || b.s.evidence - a.s.evidence || a.i - b.i)
    .map((x) => x.s);
}

export function buildPrompt(input: PromptInput): BuiltPrompt {
  const budget = input.maxTokens;
  const userText = [
    `## Task ${input.task.id}`,
    input.task.from ? `(handed off by ${input.task.from}${input.task.parent ? ` from task ${input.task.parent}` : ""})` : "",
    "",
    input.task.text,
  ]
    .filter((l, i) => l !== "" || i === 2)
    .join("\n");

  // Required parts share the budget with a floor for the optional ones.
  const required = [
    { name: "system_prompt.md", text: input.systemPrompt.trim() },
    { name: "constraints.md", text: input.constraints.trim() },
    { name: "response format", text: RESPONSE_INSTRUCTIONS },
  ];
  let used = estimateTokens(userText);
  const requiredTexts = required.map((r) => {
    const room = Math.max(200, Math.floor((budget - used) / 2));
    const text = estimateTokens(r.text) > room ? cutAtParagraph(r.text, room, r.name) : r.text;
    used += estimateTokens(text) + 1;
    return text;
  });

  const ranked = relevantSkills(input.skills, input.task.text);
  const full = ranked.slice(0, FULL_TEXT_SKILLS).filter((s) => input.skillTexts[s.slug]);
  const divergent = input.rewards.filter((r) => r.audit !== undefined && r.audit !== r.reward);

  // Optional parts, most valuable first; each list is ordered so the tail is dropped first.
  const groups: { part: string; title: string; items: string[] }[] = [
    {
      part: "audit divergences",
      title: "## Audit: where your own score and the audit disagreed",
      items: divergent.slice().reverse().map((r) => `- task ${r.task}: you said ${r.reward}, audit said ${r.audit}`),
    },
    { part: "goals", title: "## Active goals", items: input.activeGoals.map((g) => `- ${g}`) },
    {
      part: "skill texts",
      title: "## Skills most relevant to this task",
      items: full.map((s) => input.skillTexts[s.slug]!.trim()),
    },
    {
      part: "skills",
      title: "## Skills you have (skills.md)",
      items: ranked.map((s) => `- ${s.slug} (evidence ${s.evidence}): ${oneLine(s.summary, 160)}`),
    },
    { part: "rewards", title: "## Recent rewards (newest first)", items: input.rewards.slice().reverse().map(renderRewardLine) },
    { part: "reflections", title: "## Recent reflections (newest first)", items: input.reflections.slice().reverse().map((r) => `- ${r.task}: ${r.text}`) },
    ...input.segments.map((s) => ({ part: `segment ${s.name}`, title: `## Shared segment: ${s.name}`, items: s.text.trim() ? [s.text.trim()] : [] })),
  ];

  const sections: string[] = [];
  const dropped: { part: string; count: number }[] = [];
  const usedSkills: string[] = [];
  for (const g of groups) {
    const kept: string[] = [];
    let titleCost = estimateTokens(g.title) + 1;
    for (const item of g.items) {
      const cost = estimateTokens(item) + 1;
      if (used + titleCost + cost <= budget) {
        kept.push(item);
        used += titleCost + cost;
        titleCost = 0;
      }
    }
    if (g.items.length - kept.length > 0) dropped.push({ part: g.part, count: g.items.length - kept.length });
    if (kept.length) sections.push([g.title, "", ...kept].join("\n"));
    if (g.part === "skill texts") usedSkills.push(...full.filter((s) => kept.includes(input.skillTexts[s.slug]!.trim())).map((s) => s.slug));
  }

  const system = [...requiredTexts.slice(0, 2), ...sections, requiredTexts[2]!].join("\n\n");
  const messages: ChatMessage[] = [
    { role: "system", content: system },
    { role: "user", content: userText },
  ];
  return { messages, tokens: estimateTokens(system) + estimateTokens(userText), usedSkills, dropped };
}

/** Cuts text at the last paragraph break that fits, with a marker saying so. */
export function cutAtParagraph(text: string, maxTokens: number, name: string): string {
  const marker = `\n\n[… ${name} cut here to fit the prompt budget of the agent; see the file for the rest]`;
  const room = Math.max(0, maxTokens * 4 - marker.length);
  const head = text.slice(0, room);
  const brk = head.lastIndexOf("\n\n");
  return (brk > room / 4 ? head.slice(0, brk) : head).trimEnd() + marker;
}
