// Builds the bounded prompt for one task from the agent's files. Pure: the caller
// reads the files. Required parts always go in (cut at a paragraph with a visible
// marker if one alone is too big); optional parts are added most valuable first,
// and what does not fit is left out oldest / least relevant first and counted,
// never cut mid-text. The result never exceeds `maxTokens` (estimated at 4 chars a token).
import type { ChatMessage } from "./llm/types.js";
import { estimateTokens, oneLine, words } from "../store/markdown.js";
import type { Reflection } from "../store/reflections.js";
import { renderRewardLine, type RewardEntry } from "../store/rewards.js";
import type { SkillEntry } from "../store/skills.js";

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

/** Skills whose full text is given: the few most relevant to the task, never more. */
export const FULL_TEXT_SKILLS = 3;

/** Keyword overlap between a skill (name and summary) and the task text. */
export function skillRelevance(s: SkillEntry, taskWords: Set<string>): number {
  return [...words(`${s.slug.replace(/-/g, " ")} ${s.summary}`)].filter((w) => taskWords.has(w)).length;
}

/** Skills ordered most relevant first: keyword overlap, then evidence, then file order. */
export function relevantSkills(skills: SkillEntry[], taskText: string): SkillEntry[] {
  const taskWords = words(taskText);
  return skills
    .map((s, i) => ({ s, i, score: skillRelevance(s, taskWords) }))
    .sort((a, b) => b.score - a.score || b.s.evidence - a.s.evidence || a.i - b.i)
    .map((x) => x.s);
}

/** The `[audit S: notes]` the runtime appends to a divergent reward's reason. */
const auditNotes = (reason: string) => /\[audit -?\d: (.*)\]\s*$/.exec(reason)?.[1];

export function buildPrompt(input: PromptInput): BuiltPrompt {
  const budget = input.maxTokens;
  const dropped: { part: string; count: number }[] = [];
  const cut = (name: string, text: string, room: number) => {
    if (estimateTokens(text) <= room) return text;
    dropped.push({ part: `${name} (cut at a paragraph)`, count: 1 });
    return cutAtParagraph(text, room, name);
  };

  // Required parts, each cut at a paragraph (with a marker) only if it alone would not
  // leave room for the rest: the reply format is never cut, the task gets at most half of
  // what is left, the system prompt half of the rest, the constraints half again.
  let used = estimateTokens(RESPONSE_INSTRUCTIONS) + 1;
  const share = () => Math.max(50, Math.floor((budget - used) / 2));
  const header = [
    `## Task ${input.task.id}`,
    ...(input.task.from ? [`(handed off by ${input.task.from}${input.task.parent ? ` from task ${input.task.parent}` : ""})`] : []),
  ].join("\n");
  const userText = `${header}\n\n${cut("task", input.task.text, share() - estimateTokens(header) - 1)}`;
  used += estimateTokens(userText);
  const requiredTexts: string[] = [];
  // system_prompt.md as bootstrap writes it lists the constraints already: once is enough.
  // constraints.md goes in when it says more (a person edited one of the two).
  const systemPrompt = input.systemPrompt.trim();
  const constraintLines = input.constraints.split("\n").filter((l) => /^\s*[-*] /.test(l));
  const repeated = constraintLines.length > 0 && constraintLines.every((l) => systemPrompt.includes(l.trim()));
  for (const [name, text] of [
    ["system_prompt.md", systemPrompt],
    ...(repeated ? [] : ([["constraints.md", input.constraints.trim()]] as const)),
  ] as const) {
    const kept = cut(name, text, share());
    requiredTexts.push(kept);
    used += estimateTokens(kept) + 1;
  }

  const taskWords = words(input.task.text);
  const ranked = relevantSkills(input.skills, input.task.text);
  const full = ranked.filter((s) => skillRelevance(s, taskWords) > 0 && input.skillTexts[s.slug]?.trim()).slice(0, FULL_TEXT_SKILLS);
  const divergent = input.rewards.filter((r) => r.audit !== undefined && r.audit !== r.reward);

  // Optional parts, most valuable first; each list is ordered newest / most relevant first,
  // and only a prefix of it goes in, so what is left out is always the oldest or least relevant.
  const groups: { part: string; title: string; items: string[] }[] = [
    {
      part: "audit divergences",
      title: "## Audit: where your own score and the audit disagreed (newest first)",
      items: divergent
        .slice()
        .reverse()
        .map((r) => {
          const notes = auditNotes(r.reason);
          return `- task ${r.task}: you said ${r.reward}, the audit said ${r.audit}${notes ? ` (${oneLine(notes, 200)})` : ""}`;
        }),
    },
    { part: "goals", title: "## Active goals", items: input.activeGoals.map((g) => `- ${oneLine(g, 200)}`) },
    {
      part: "skill texts",
      title: "## Skills most relevant to this task",
      items: full.map((s) => input.skillTexts[s.slug]!.trim()),
    },
    {
      part: "skills",
      title: "## Skills you have (skills.md)",
      items: ranked.map((s) => `- ${s.slug} (evidence ${Math.round(s.evidence * 100) / 100}): ${oneLine(s.summary, 160)}`),
    },
    { part: "rewards", title: "## Recent rewards (newest first)", items: input.rewards.slice().reverse().map(renderRewardLine) },
    { part: "reflections", title: "## Recent reflections (newest first)", items: input.reflections.slice().reverse().map((r) => `- ${r.task}: ${r.text}`) },
    ...input.segments.map((s) => ({ part: `segment ${s.name}`, title: `## Shared segment: ${s.name}`, items: s.text.trim() ? [s.text.trim()] : [] })),
  ];

  const sections: string[] = [];
  const usedSkills: string[] = [];
  for (const g of groups) {
    const kept: string[] = [];
    let titleCost = estimateTokens(g.title) + 2;
    for (const item of g.items) {
      const cost = estimateTokens(item) + 1;
      if (used + titleCost + cost > budget) break;
      kept.push(item);
      used += titleCost + cost;
      titleCost = 0;
    }
    if (g.items.length > kept.length) dropped.push({ part: g.part, count: g.items.length - kept.length });
    if (kept.length) sections.push([g.title, "", ...kept].join("\n"));
    if (g.part === "skill texts") usedSkills.push(...full.slice(0, kept.length).map((s) => s.slug));
  }

  const system = [...requiredTexts, ...sections, RESPONSE_INSTRUCTIONS].join("\n\n");
  const messages: ChatMessage[] = [
    { role: "system", content: system },
    { role: "user", content: userText },
  ];
  return { messages, tokens: estimateTokens(system) + estimateTokens(userText), usedSkills, dropped };
}

/**
 * Cuts text to about `maxTokens` at the last paragraph break that fits (else a line
 * break, else a sentence end, else a space), with a visible marker saying so.
 */
export function cutAtParagraph(text: string, maxTokens: number, name: string): string {
  const marker = `\n\n[… ${name} cut here to fit the prompt budget; the rest is in the file]`;
  const room = Math.max(0, maxTokens * 4 - marker.length);
  const head = text.slice(0, room);
  const at = [head.lastIndexOf("\n\n"), head.lastIndexOf("\n"), head.search(/[.!?]\s[^.!?]*$/) + 1, head.lastIndexOf(" ")].find((i) => i > room / 4);
  return (at !== undefined ? head.slice(0, at) : head).trimEnd() + marker;
}
