// Read-only JSON the dashboard's agent and task pages need beyond GET /v1/agents/{name}:
// what an agent has learned (skills with decay, archive, goals, reflections), its git
// history with the reward trend, and the prompt it last sent. Never writes anything.
import { join } from "node:path";
import type { AgentConfig } from "../../config/schema.js";
import { unknownAgent } from "../../ops/errors.js";
import type { Runtime } from "../../agent/runtime.js";
import { effectiveEvidence } from "../../apply/skills.js";
import { parseGoals } from "../../store/goals.js";
import { parseReflections } from "../../store/reflections.js";
import { parseSkills, skillsOf } from "../../store/skills.js";
import { listFolder, readTextIfExists } from "../../store/files.js";
import { estimateTokens } from "../../store/markdown.js";
import { agentPaths } from "../../store/layout.js";
import { rewardSeries, type AgentHistories } from "./history.js";
import type { History, Learning, PromptAnswer } from "./schemas.js";

export function agentNamed(runtime: Runtime, name: string): AgentConfig {
  const cfg = runtime.config.agents.find((a) => a.name === name);
  if (!cfg) throw unknownAgent(name, runtime.config.agents);
  return cfg;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

export async function learningOf(dataDir: string, runtime: Runtime, name: string, now = new Date()): Promise<Learning> {
  const p = agentPaths(dataDir, name);
  const halflife = runtime.config.skills.decay_halflife_days;
  // A file that is a link or too big reads as empty here; `agentos status` and the overview name the problem.
  const [skillsText, goalsText, reflectionsText] = await Promise.all([p.skills, p.goals, p.reflections].map(async (f) => (await readTextIfExists(f).catch(() => undefined)) ?? ""));
  const skills = skillsOf(parseSkills(skillsText!))
    .map((s) => ({
      slug: s.slug,
      summary: s.summary,
      evidence: s.evidence,
      effective_evidence: round(effectiveEvidence(s, now, halflife)),
      last_success: s.lastSuccess,
      created: s.created,
      failures: s.failures,
    }))
    .sort((a, b) => b.effective_evidence - a.effective_evidence);
  const goals = parseGoals(goalsText!);
  return {
    agent: name,
    decay_halflife_days: halflife,
    skills,
    archived_skills: await archivedSkills(p.skillsArchive),
    goals: { active: goals.active, completed: goals.completed, displaced: goals.displaced },
    reflections: parseReflections(reflectionsText!).reverse(),
  };
}

/** skills/archive/*.md: the header and fields renderArchivedSkill writes; a file a person wrote shows by name. */
async function archivedSkills(dir: string): Promise<Learning["archived_skills"]> {
  const names = (await listFolder(dir).catch(() => []))
    .filter((e) => e.kind === "file" && e.name.endsWith(".md"))
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (n) => {
      const text = (await readTextIfExists(join(dir, n)).catch(() => undefined)) ?? "";
      const field = (k: string) => new RegExp(`^- ${k}: (.*)$`, "m").exec(text)?.[1];
      const slug = /^# (\S+)/m.exec(text)?.[1] ?? n.replace(/\.md$/, "");
      const archived = field("archived");
      const reason = field("reason");
      const summary = field("summary");
      return { file: `skills/archive/${n}`, slug, ...(archived ? { archived } : {}), ...(reason ? { reason } : {}), ...(summary ? { summary } : {}) };
    }),
  );
}

export async function historyOf(dataDir: string, histories: AgentHistories, name: string, q: { limit?: number; task?: string }): Promise<History> {
  const commits = await histories.commits(agentPaths(dataDir, name).dir);
  const chosen = q.task ? commits.filter((c) => c.trailers["Task-Id"] === q.task) : commits;
  return { agent: name, commits: chosen.slice(0, q.limit ?? 50), rewards: rewardSeries(commits) };
}

/**
 * What an agent's runtime keeps of the prompt it last sent: its sections (preferred), or
 * the chat messages as sent, which are split into sections here. Only an agent this
 * process runs knows it (in Compose, the process that runs the agent).
 */
interface KeptPrompt {
  task?: string;
  taskId?: string;
  at?: string | Date;
  tokens?: number;
  sections?: { name: string; tokens?: number; text: string }[];
  messages?: { role: string; content: string }[];
  dropped?: { part: string; count: number }[];
}

export function lastPromptOf(runtime: Runtime, name: string): PromptAnswer {
  const live = runtime.agents.get(name) as unknown as { lastPrompt?: KeptPrompt } | undefined;
  const last = live?.lastPrompt;
  if (!last) return { agent: name, prompt: null, why: live ? `${name} has not sent a prompt since this process started` : `${name} does not run in this process; the API of the process that runs it shows it` };
  const sections = last.sections?.map((s) => ({ name: s.name, text: s.text, tokens: s.tokens ?? estimateTokens(s.text) })) ?? promptSections(last.messages ?? []);
  const at = last.at instanceof Date ? last.at.toISOString() : (last.at ?? "");
  return {
    agent: name,
    prompt: { task: last.task ?? last.taskId ?? "", at, tokens: last.tokens ?? sections.reduce((n, s) => n + s.tokens, 0), max_tokens: runtime.config.prompt.max_tokens, sections, dropped: last.dropped ?? [] },
  };
}

/**
 * The chat messages of a prompt as sections: the system message is cut before each heading
 * that starts a paragraph (`# Constraints`, `## Active goals`…; the text before the first
 * one is the system prompt), the user message is the task. Token counts as the prompt
 * builder estimates them (4 characters a token).
 */
export function promptSections(messages: { role: string; content: string }[]): { name: string; tokens: number; text: string }[] {
  const out: { name: string; tokens: number; text: string }[] = [];
  for (const m of messages) {
    if (m.role !== "system") {
      out.push({ name: m.role === "user" ? "Task (user message)" : m.role, tokens: estimateTokens(m.content), text: m.content });
      continue;
    }
    const chunks = m.content.split(/\n\n(?=#{1,2} )/);
    chunks.forEach((text, i) => {
      const heading = /^#{1,2} (.+)/.exec(text)?.[1]?.trim();
      out.push({ name: heading ?? (i === 0 ? "System prompt" : "System message"), tokens: estimateTokens(text), text });
    });
  }
  return out;
}
