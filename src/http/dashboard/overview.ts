// The dashboard's overview: one row per agent in agents.yaml, built from the same reports
// as `agentos status` and GET /v1/agents, the live scheduler when this process runs the
// agent, the dead letters and the git history. Read-only.
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../agent/runtime.js";
import { agentReports } from "../../ops/status.js";
import { parseDeadLetter, type StoredDeadLetter } from "../../store/dead-letters.js";
import { listFolder, readTextIfExists } from "../../store/files.js";
import { agentPaths, sharedPaths } from "../../store/layout.js";
import { statusFilePath } from "../../store/status-file.js";
import { readHead } from "../../commit/git/refs.js";
import { AgentHistories, rewardSeries, tokensSince } from "./history.js";
import type { OverviewAgent } from "./schemas.js";

export interface DashboardContext {
  runtime: Runtime;
  dataDir: string;
  histories: AgentHistories;
  deadLetters: DeadLetterCache;
  now?: () => Date;
}

export async function overview(ctx: DashboardContext): Promise<OverviewAgent[]> {
  const file = ctx.runtime.config;
  const now = ctx.now?.() ?? new Date();
  const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const [reports, letters] = await Promise.all([agentReports(ctx.dataDir, file), ctx.deadLetters.list(sharedPaths(ctx.dataDir, file.iac.dead_letter_path).deadLetters)]);
  return Promise.all(
    reports.map(async (r): Promise<OverviewAgent> => {
      const live = ctx.runtime.agents.get(r.name)?.status();
      const commits = await ctx.histories.commits(agentPaths(ctx.dataDir, r.name).dir);
      const tokens = tokensSince(commits, midnight);
      const last10 = rewardSeries(commits.slice(0, 50)).slice(-10);
      const trend = last10.length ? Math.round((last10.reduce((n, r) => n + r.reward, 0) / last10.length) * 100) / 100 : undefined;
      const paused = live ? live.paused : r.paused;
      const running = !!live || r.running;
      return {
        name: r.name,
        state: paused ? "paused" : running ? "running" : "stopped",
        ...(paused ? { paused } : {}),
        running_here: !!live,
        // Unfinished tasks in its files (admitted or not): what it still has to work through.
        queue_depth: r.pending,
        in_flight: live ? live.in_flight : r.in_flight,
        retrying: live?.retrying ?? 0,
        done: r.done,
        dead_letters: letters.filter((d) => d.agent === r.name).length,
        ...(r.last_reward ? { last_reward: r.last_reward } : {}),
        ...(trend === undefined ? {} : { reward_trend: trend }),
        ...(tokens === undefined ? {} : { tokens_today: tokens }),
        problems: r.problems,
      };
    }),
  );
}

/**
 * What the overview is built from, as sizes and times of files (and this process's live
 * status): a stat per file instead of reading and parsing them. While it stays the same,
 * the overview cannot have changed, except for a lease going stale (a time, not a file):
 * the stream rebuilds at least every few seconds anyway.
 */
export async function overviewFingerprint(ctx: DashboardContext): Promise<string> {
  const file = ctx.runtime.config;
  const shared = sharedPaths(ctx.dataDir, file.iac.dead_letter_path);
  const stamp = async (path: string) => {
    const st = await lstat(path).catch(() => undefined);
    return st ? `${st.size}:${st.mtimeMs}` : "-";
  };
  const parts = await Promise.all(
    file.agents.map(async (a) => {
      const p = agentPaths(ctx.dataDir, a.name);
      const files = [p.queue, p.ledger, p.rewards, p.skills, p.goals, statusFilePath(p), join(shared.inboxRoot, a.name), join(shared.handoffsRoot, a.name)];
      const live = ctx.runtime.agents.get(a.name)?.status();
      return [a.name, ...(await Promise.all(files.map(stamp))), await readHead(join(p.dir, ".git")).catch(() => "-"), live ? JSON.stringify(live) : ""].join("|");
    }),
  );
  return [await stamp(shared.deadLetters), ...parts].join("\n");
}

/**
 * Dead letters, re-read only when a file changed: the overview is rebuilt every second
 * while someone watches, and a letter only changes when it is requeued.
 */
export class DeadLetterCache {
  private readonly byFile = new Map<string, { stamp: string; letter: StoredDeadLetter | undefined }>();

  /** Every readable dead letter in `dir`, oldest first (file names start with their time). */
  async list(dir: string): Promise<StoredDeadLetter[]> {
    // Regular files only: a link or a FIFO among the letters is never followed or opened.
    const names = (await listFolder(dir).catch(() => []))
      .filter((e) => e.kind === "file" && e.name.endsWith(".md"))
      .map((e) => e.name)
      .sort();
    const out: StoredDeadLetter[] = [];
    const seen = new Set<string>();
    for (const name of names) {
      const path = join(dir, name);
      seen.add(path);
      const st = await lstat(path).catch(() => undefined);
      if (!st?.isFile()) continue;
      const stamp = `${st.size}:${st.mtimeMs}`;
      let cached = this.byFile.get(path);
      if (cached?.stamp !== stamp) {
        const text = (await readTextIfExists(path).catch(() => undefined)) ?? "";
        cached = { stamp, letter: parseDeadLetter(text, path) };
        this.byFile.set(path, cached);
      }
      if (cached.letter) out.push(cached.letter);
    }
    for (const f of this.byFile.keys()) if (!seen.has(f)) this.byFile.delete(f);
    return out;
  }
}
