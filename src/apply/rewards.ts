// The rules over rewards.md: every outcome is counted in the totals, only the last
// `keep_last` lines are kept, and a run of -1 outcomes is measured for the watchdog.
// The file's format is store/rewards.ts.
import { countInto, type RewardEntry, type RewardsFile } from "../store/rewards.js";

export function addReward(file: RewardsFile, entry: RewardEntry, keepLast: number): RewardsFile {
  const totals = { ...file.totals };
  countInto(totals, entry);
  return { ...file, entries: [...file.entries, entry].slice(-keepLast), totals, totalsFound: true };
}

/** Consecutive -1 outcomes at the end of the history. */
export function negativeStreak(entries: RewardEntry[]): number {
  let n = 0;
  for (let i = entries.length - 1; i >= 0 && entries[i]!.reward === -1; i--) n++;
  return n;
}
