// Finds the step in what a model actually says. Models wrap JSON in prose, fences and
// reasoning; add keys of their own; get an optional part wrong while the answer is fine.
// This keeps what can be kept and says what it did, so a good answer is never thrown
// away for a malformed extra. Pure: text in, value and notes out.
import { SkillClaim, StepResponse } from "./schema.js";
import * as z from "zod";

export interface Salvaged {
  ok: true;
  value: StepResponse;
  /** Optional parts dropped because they were malformed: WARN and a reflection. */
  dropped: { part: string; why: string }[];
  /** Keys we do not know, ignored (DEBUG). */
  ignored: string[];
  /** Forms we read leniently, e.g. `reward: "+1"`. */
  repaired: string[];
}
export type SalvageResult = Salvaged | { ok: false; error: string };

/** Text of a chat message: a string, or content parts joined (reasoning parts and fields ignored). */
export function contentText(message: unknown): string | undefined {
  const m = message as { content?: unknown } | undefined;
  const c = m?.content;
  if (typeof c === "string") return c;
  if (Array.isArray(c)) {
    // Mistral's reasoning models answer `[{type: "thinking", thinking: [...]}, {type: "text", text}]`.
    const texts = c.flatMap((p) => (p && typeof p === "object" && (p as { type?: unknown }).type === "text" && typeof (p as { text?: unknown }).text === "string" ? [(p as { text: string }).text] : typeof p === "string" ? [p] : []));
    return texts.length ? texts.join("") : undefined;
  }
  return undefined;
}

/** The reply without reasoning: after the last `</think>`; an unclosed `<think>` is all reasoning. */
export function withoutThinking(text: string): string {
  const close = text.lastIndexOf("</think>");
  if (close >= 0) return text.slice(close + "</think>".length);
  const open = text.indexOf("<think>");
  return open >= 0 ? text.slice(0, open) : text;
}

const MAX_CANDIDATES = 64;

/** Every JSON object in the text, in order: the whole text, fenced blocks, then balanced braces. */
export function jsonObjects(text: string): Record<string, unknown>[] {
  return [...objectsIn(text)];
}

/** The same, lazily: a reply that is one clean object costs one JSON.parse. */
function* objectsIn(text: string): Generator<Record<string, unknown>> {
  const parse = (s: string): Record<string, unknown> | undefined => {
    try {
      const v = JSON.parse(s) as unknown;
      return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const whole = text.trim();
  const first = parse(whole);
  if (first) yield first;
  for (const m of text.matchAll(/```[a-zA-Z]*[ \t]*\r?\n([\s\S]*?)\r?\n[ \t]*```/g)) {
    const o = parse(m[1]!.trim());
    if (o) yield o;
  }
  let tries = 0;
  for (let i = text.indexOf("{"); i >= 0 && tries < MAX_CANDIDATES; tries++) {
    const end = balancedEnd(text, i);
    const candidate = end > 0 ? text.slice(i, end) : undefined;
    // The whole text again adds nothing; otherwise a whole object: look after it. Not JSON (prose braces): look inside it too.
    const o = candidate !== undefined && candidate !== whole ? parse(candidate) : undefined;
    if (o) yield o;
    if (o || (candidate !== undefined && candidate === whole && first)) {
      i = text.indexOf("{", end);
      continue;
    }
    i = text.indexOf("{", i + 1);
  }
}

/** Index just past the `}` closing the `{` at `start`, strings respected; -1 if it never closes. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return i + 1;
  }
  return -1;
}

/** The first JSON object in a reply (the grader and other callers that want any object). */
export function extractJson(content: string): unknown {
  return objectsIn(withoutThinking(content)).next().value;
}

/** Finds and reads the step in a reply: the first object with an `answer` that can be used. */
export function salvageStep(content: string): SalvageResult {
  let seen = false;
  let first: SalvageResult | undefined;
  for (const o of objectsIn(withoutThinking(content))) {
    seen = true;
    if (!("answer" in o)) continue;
    const r = readStep(o);
    if (r.ok) return r;
    first ??= r;
  }
  return first ?? { ok: false, error: seen ? 'no JSON object with an "answer" key in the reply' : "no JSON object found in the reply" };
}

const KNOWN = new Set(["answer", "reward", "reward_reason", "skill", "reflection", "goals", "handoff", "share"]);
const strings = (v: unknown): string[] | undefined =>
  v === undefined || v === null ? [] : typeof v === "string" ? [v] : Array.isArray(v) && v.every((x) => typeof x === "string") ? v : undefined;

/** Validates one parsed value as a step (leniently, as readStep does). */
export function validateStep(json: unknown): { ok: true; value: StepResponse } | { ok: false; error: string } {
  if (!json || typeof json !== "object" || Array.isArray(json)) return { ok: false, error: "expected a JSON object" };
  const r = readStep(json as Record<string, unknown>);
  return r.ok ? { ok: true, value: r.value } : r;
}

/** Reads one object as a step: the answer and reward must be right; the optional parts may be dropped. */
export function readStep(o: Record<string, unknown>): SalvageResult {
  const dropped: Salvaged["dropped"] = [];
  const repaired: string[] = [];
  const ignored = Object.keys(o).filter((k) => !KNOWN.has(k));
  if (typeof o.answer !== "string") return { ok: false, error: `"answer" must be text, got ${kind(o.answer)}` };
  const reward = readReward(o.reward);
  if (reward === undefined) return { ok: false, error: `"reward" must be -1, 0 or 1, got ${JSON.stringify(o.reward) ?? "nothing"}` };
  if (typeof o.reward !== "number") repaired.push(`reward ${JSON.stringify(o.reward)} read as ${reward}`);
  let reason = o.reward_reason;
  if (typeof reason !== "string") {
    repaired.push(`reward_reason ${reason === undefined ? "missing" : `was ${kind(reason)}`}`);
    reason = typeof reason === "number" ? String(reason) : "(the model gave no reason)";
  }
  const optional = <T>(part: string, read: (v: unknown) => T | undefined): T | null => {
    const v = o[part];
    if (v === undefined || v === null) return null;
    const r = read(v);
    if (r === undefined) dropped.push({ part, why: describe(part, v) });
    return r ?? null;
  };
  const value: StepResponse = {
    answer: o.answer,
    reward,
    reward_reason: reason as string,
    skill: optional("skill", readSkill),
    reflection: optional("reflection", (v) => (typeof v === "string" ? v : undefined)),
    goals: optional("goals", (v) => {
      const g = v as { add?: unknown; complete?: unknown };
      if (typeof v !== "object" || Array.isArray(v)) return undefined;
      const add = strings(g.add);
      const complete = strings(g.complete);
      return add && complete ? { add, complete } : undefined;
    }),
    handoff: optional("handoff", (v) => {
      const h = v as { to?: unknown; task?: unknown; priority?: unknown };
      if (typeof h.to !== "string" || typeof h.task !== "string" || !h.to.trim() || !h.task.trim()) return undefined;
      const priority = typeof h.priority === "string" && ["high", "normal", "low"].includes(h.priority.toLowerCase()) ? (h.priority.toLowerCase() as "high" | "normal" | "low") : "normal";
      return { to: h.to, task: h.task, priority };
    }),
    share: optional("share", (v) => {
      const s = v as { segment?: unknown; note?: unknown };
      return typeof s.segment === "string" && typeof s.note === "string" ? { segment: s.segment, note: s.note } : undefined;
    }),
  };
  // The contract still holds (a last check that this reading did not let anything odd through).
  const checked = StepResponse.safeParse(value);
  if (!checked.success) return { ok: false, error: z.prettifyError(checked.error).replace(/\n\s*→ at /g, " at ").replace(/\n/g, "; ") };
  return { ok: true, value: checked.data, dropped, ignored, repaired };
}

/** -1, 0 or 1 in the forms models write them: `1`, `1.0`, `"+1"`, `"-1 (failed)"`. Anything else is ambiguous. */
function readReward(v: unknown): -1 | 0 | 1 | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(/^\s*([+-]?\d+(?:\.0+)?)(?:\s*(?:\(.*\)|\/\s*1)?\s*)$/.exec(v)?.[1] ?? NaN) : NaN;
  return n === 1 || n === 0 || n === -1 ? (n === 0 ? 0 : (n as -1 | 1)) : undefined;
}

function readSkill(v: unknown): z.infer<typeof SkillClaim> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const s = v as Record<string, unknown>;
  if (typeof s.name !== "string" || !s.name.trim()) return undefined;
  const steps = strings(s.steps);
  const tags = strings(s.tags);
  if (!steps || !tags) return undefined;
  return { name: s.name, summary: typeof s.summary === "string" ? s.summary : "", steps, tags };
}

const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "a list" : v === undefined ? "nothing" : typeof v === "object" ? "an object" : `a ${typeof v}`);

function describe(part: string, v: unknown): string {
  if (part === "skill") return 'expected {"name", "summary", "steps": [], "tags": []}';
  if (part === "goals") return 'expected {"add": [], "complete": []} of text';
  if (part === "handoff") return 'expected {"to": "<agent>", "task": "<text>", "priority"}';
  if (part === "share") return 'expected {"segment", "note"}';
  return `expected text or null, got ${kind(v)}`;
}
