// rewards.md: one line per outcome (the seed's `grep "^-\s*reward:"` works), the last
// `keep_last` kept, and a running totals line so history stays summarised after trimming.
import { isoSecond, oneLine } from "./markdown.js";

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
}

export interface RewardsFile {
  entries: RewardEntry[];
  totals: Totals;
}

const TOTALS = /^Totals since start: \+1: (\d+) \| 0: (\d+) \| -1: (\d+)/m;

export function emptyRewards(): string {
  return renderRewards({ entries: [], totals: { plus: 0, zero: 0, minus: 0 } });
}

export function parseRewards(text: string): RewardsFile {
  const entries: RewardEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^-\s*reward:\s*(-?[01])\s*\|(.*)$/.exec(line);
    if (!m) continue;
    const fields = Object.fromEntries(
      m[2]!.split(" | ").map((part) => {
        const i = part.indexOf(":");
        return [part.slice(0, i).trim(), part.slice(i + 1).trim()];
      }),
    );
    entries.push({
      reward: Number(m[1]) as Reward,
      task: fields.task ?? "",
      at: fields.at ?? "",
      audit: fields.audit !== undefined && /^-?[01]$/.test(fields.audit) ? (Number(fields.audit) as Reward) : undefined,
      reason: fields.reason ?? "",
    });
  }
  const t = TOTALS.exec(text);
  const totals = t
    ? { plus: Number(t[1]), zero: Number(t[2]), minus: Number(t[3]) }
    : { plus: entries.filter((e) => e.reward === 1).length, zero: entries.filter((e) => e.reward === 0).length, minus: entries.filter((e) => e.reward === -1).length };
  return { entries, totals };
}

export function addReward(file: RewardsFile, entry: RewardEntry, keepLast: number): RewardsFile {
  const totals = { ...file.totals };
  if (entry.reward === 1) totals.plus++;
  else if (entry.reward === 0) totals.zero++;
  else totals.minus++;
  return { entries: [...file.entries, entry].slice(-keepLast), totals };
}

export function renderRewardLine(e: RewardEntry): string {
  const audit = e.audit === undefined ? "" : ` | audit: ${e.audit}`;
  return `- reward: ${e.reward} | task: ${e.task} | at: ${e.at}${audit} | reason: ${oneLine(e.reason.replace(/\|/g, "/"))}`;
}

export function renderRewards(file: RewardsFile): string {
  const { plus, zero, minus } = file.totals;
  return [
    "# Rewards",
    "",
    `Totals since start: +1: ${plus} | 0: ${zero} | -1: ${minus} (${plus + zero + minus} outcomes; older lines are in git history)`,
    "",
    ...file.entries.map(renderRewardLine),
    "",
  ].join("\n");
}

/** Consecutive -1 outcomes at the end of the history. */
export function negativeStreak(entries: RewardEntry[]): number {
  let n = 0;
  for (let i = entries.length - 1; i >= 0 && entries[i]!.reward === -1; i--) n++;
  return n;
}

export const rewardEntry = (reward: Reward, task: string, at: Date, reason: string, audit?: Reward): RewardEntry => ({
  reward,
  task,
  at: isoSecond(at),
  audit,
  reason,
});
