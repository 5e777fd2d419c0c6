// rewards.md, the format: one line per outcome (the seed's `grep "^-\s*reward:"` works)
// and a totals line counting every outcome since the start, so the history stays
// summarised after old lines are trimmed (they remain in git history). Lines a person
// added are kept; reward lines we cannot read are kept and reported. The rules that
// add and trim lines are in apply/rewards.ts.
import { isoSecond, lines, oneLine, type FileProblem } from "./markdown.js";

export type Reward = -1 | 0 | 1;

export interface RewardEntry {
  reward: Reward;
  task: string;
  at: string;
  audit?: Reward;
  reason: string;
}

export interface Totals {
  plus: number;
  zero: number;
  minus: number;
  /** Outcomes where the audit's score differed from the agent's own. */
  disagreed: number;
}

export interface RewardsFile {
  /** A person's lines (notes, reward lines we could not read), kept verbatim above the entries. */
  notes: string[];
  entries: RewardEntry[];
  totals: Totals;
  /** False when the totals line is missing or unreadable: totals then count only the lines present. */
  totalsFound: boolean;
  problems: FileProblem[];
}

const TOTALS = /^Totals since start: \+1: (\d+) \| 0: (\d+) \| -1: (\d+)(?: \| audit disagreed: (\d+))?/;
const REWARD_LINE = /^-\s*reward:/;
const REWARD = /^-\s*reward:\s*([+-]?[01])\s*(?:\|(.*))?$/;

export const noTotals = (): Totals => ({ plus: 0, zero: 0, minus: 0, disagreed: 0 });

export function emptyRewards(): string {
  return renderRewards({ notes: [], entries: [], totals: noTotals(), totalsFound: true, problems: [] });
}

// Every task reads rewards.md three times (its prompt, its plan, its apply) and writes it
// once, and 29 of its 30 lines are the same as the last version's: parsing and rendering
// them again each time was a quarter of the bytes a drain allocated (~130 KB a task, a
// sampling heap profile of 3,000 tasks). Parsed files, parsed lines and rendered lines
// are remembered; what is remembered is frozen, so no caller can change it for the next.
// Each memo is bounded: past its size it starts again empty (many agents just miss more).
// A line is remembered (and read) as a copy: the line is a slice that keeps its whole file
// alive, and so are the entry's strings cut from it.
const MEMO_LINES = 512;
const MEMO_FILES = 16;
const parsedLines = new Map<string, RewardEntry | undefined>();
const parsedFiles = new Map<string, RewardsFile>();
const renderedLines = new WeakMap<RewardEntry, string>();

function remember<K, V>(memo: Map<K, V>, key: K, value: V, max: number): V {
  if (memo.size >= max) memo.clear();
  memo.set(key, value);
  return value;
}

export function parseRewardLine(line: string): RewardEntry | undefined {
  if (parsedLines.has(line)) return parsedLines.get(line);
  // The entry's strings are slices of the copy too, not of the file.
  const own = copyOf(line);
  const entry = readRewardLine(own);
  return remember(parsedLines, own, entry && Object.freeze(entry), MEMO_LINES);
}

function readRewardLine(line: string): RewardEntry | undefined {
  const m = REWARD.exec(line);
  if (!m) return undefined;
  const fields: Record<string, string> = {};
  for (const part of (m[2] ?? "").split(" | ")) {
    const i = part.indexOf(":");
    if (i > 0) fields[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  const audit = fields.audit !== undefined && /^[+-]?[01]$/.test(fields.audit) ? (Number(fields.audit) as Reward) : undefined;
  return { reward: Number(m[1]) as Reward, task: fields.task ?? "", at: fields.at ?? "", audit, reason: fields.reason ?? "" };
}

/** rewards.md read; the result is shared between callers and frozen. */
export function parseRewards(text: string): RewardsFile {
  const hit = parsedFiles.get(text);
  if (hit) return hit;
  const file = readRewards(text);
  for (const list of [file.entries, file.notes, file.problems]) Object.freeze(list);
  file.problems.forEach((p) => Object.freeze(p));
  Object.freeze(file.totals);
  return remember(parsedFiles, text, Object.freeze(file), MEMO_FILES);
}

/** A string that does not share its characters with a bigger one (V8 makes a slice of 13+ characters a view of its parent). */
const copyOf = (s: string): string => Buffer.from(s, "utf8").toString("utf8");

function readRewards(text: string): RewardsFile {
  const entries: RewardEntry[] = [];
  const notes: string[] = [];
  const problems: FileProblem[] = [];
  let totals: Totals | undefined;
  lines(text).forEach((line, i) => {
    if (REWARD_LINE.test(line)) {
      const entry = parseRewardLine(line);
      if (entry) return void entries.push(entry);
      problems.push({ file: "rewards.md", line: i + 1, message: "expected `- reward: 1|0|-1 | task: <id> | at: <time> | audit: <score> | reason: <text>`" });
      return void notes.push(line);
    }
    const t = TOTALS.exec(line);
    if (t && !totals) {
      totals = { plus: Number(t[1]), zero: Number(t[2]), minus: Number(t[3]), disagreed: Number(t[4] ?? 0) };
      return;
    }
    if (line.startsWith("Totals since start:")) {
      problems.push({ file: "rewards.md", line: i + 1, message: "expected `Totals since start: +1: <n> | 0: <n> | -1: <n>`; totals are rebuilt from git history" });
      return void notes.push(line);
    }
    if (line.trim() === "" || (line === "# Rewards" && !notes.length && !entries.length)) return;
    notes.push(line);
  });
  return { notes, entries, totals: totals ?? countTotals(entries), totalsFound: totals !== undefined, problems };
}

/** Totals of a list of outcomes (the shell counts git history with this when the totals line is gone). */
export function countTotals(entries: Pick<RewardEntry, "reward" | "audit">[]): Totals {
  const t = noTotals();
  for (const e of entries) countInto(t, e);
  return t;
}

/** Adds one outcome to running totals (in place). */
export function countInto(t: Totals, e: Pick<RewardEntry, "reward" | "audit">): void {
  if (e.reward === 1) t.plus++;
  else if (e.reward === 0) t.zero++;
  else t.minus++;
  if (e.audit !== undefined && e.audit !== e.reward) t.disagreed++;
}

export function renderRewardLine(e: RewardEntry): string {
  const known = renderedLines.get(e);
  if (known !== undefined && Object.isFrozen(e)) return known;
  const line = writeRewardLine(e);
  if (Object.isFrozen(e)) renderedLines.set(e, line);
  return line;
}

function writeRewardLine(e: RewardEntry): string {
  const audit = e.audit === undefined ? "" : ` | audit: ${e.audit}`;
  return `- reward: ${e.reward} | task: ${e.task} | at: ${e.at}${audit} | reason: ${oneLine(e.reason.replace(/\|/g, "/"))}`;
}

export function renderTotals(t: Totals): string {
  return `Totals since start: +1: ${t.plus} | 0: ${t.zero} | -1: ${t.minus} | audit disagreed: ${t.disagreed} (${t.plus + t.zero + t.minus} outcomes; older lines are in git history)`;
}

export function renderRewards(file: RewardsFile): string {
  return [
    "# Rewards",
    "",
    renderTotals(file.totals),
    "",
    ...(file.notes.length ? [...file.notes, ""] : []),
    ...file.entries.map(renderRewardLine),
    "",
  ].join("\n");
}

export const rewardEntry = (reward: Reward, task: string, at: Date, reason: string, audit?: Reward): RewardEntry =>
  Object.freeze({ reward, task, at: isoSecond(at), audit, reason });
