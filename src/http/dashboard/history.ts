// Recent git history of each agent for the dashboard: the timeline, the reward trend and
// tokens per day all come from commit subjects and trailers. Read-only, through
// isomorphic-git; each agent's newest commits are cached by HEAD, and a new HEAD costs
// only the commits added since (a first-parent walk stops at the newest one known).
import git from "isomorphic-git";
import { parseTrailers } from "../../commit/git/message.js";
import { gitFs } from "../../commit/git/objects.js";
import { readHead } from "../../commit/git/refs.js";

export interface HistoryCommit {
  oid: string;
  /** Committer time, ISO 8601. */
  at: string;
  subject: string;
  /** The message between subject and trailers (a task commit's task text), cut at BODY_CHARS. */
  body: string;
  trailers: Record<string, string>;
}

/** Commits kept per agent: the chart's range and the timeline's depth. */
export const HISTORY_DEPTH = 500;
const BODY_CHARS = 4000;

interface Cached {
  head: string;
  commits: HistoryCommit[];
}

export class AgentHistories {
  private readonly cache = new Map<string, Cached>();
  /** isomorphic-git's object cache, per repository. */
  private readonly gitCaches = new Map<string, object>();
  private readonly reading = new Map<string, Promise<HistoryCommit[]>>();

  /** The newest commits first (at most HISTORY_DEPTH); [] for a repository without commits. */
  commits(dir: string): Promise<HistoryCommit[]> {
    // One read per repository at a time: the SSE tick and page requests share it.
    const running = this.reading.get(dir);
    if (running) return running;
    const p = this.read(dir).finally(() => this.reading.delete(dir));
    this.reading.set(dir, p);
    return p;
  }

  private async read(dir: string): Promise<HistoryCommit[]> {
    // HEAD, the branch file, packed-refs: three small reads (isomorphic-git's resolveRef probes
    // about ten paths, and this runs for every agent every second while a page is open).
    const head = await readHead(`${dir}/.git`).catch(() => undefined);
    if (!head) return [];
    const known = this.cache.get(dir);
    if (known?.head === head) return known.commits;
    let cache = this.gitCaches.get(dir);
    if (!cache) this.gitCaches.set(dir, (cache = {}));
    const knownOids = new Set(known?.commits.map((c) => c.oid));
    const fresh: HistoryCommit[] = [];
    let oid: string | undefined = head;
    while (oid && !knownOids.has(oid) && fresh.length < HISTORY_DEPTH) {
      // A repack beside us may have deleted a pack this cache opened: the next poll starts afresh.
      let read: Awaited<ReturnType<typeof git.readCommit>>;
      try {
        read = await git.readCommit({ fs: gitFs, dir, oid, cache });
      } catch (err) {
        this.gitCaches.delete(dir);
        throw err;
      }
      const { commit } = read;
      fresh.push(toHistoryCommit(oid, commit.message, commit.committer.timestamp));
      oid = commit.parent[0];
    }
    // A rewritten history (rebase, reset) shares no commit with the cache: start over.
    const rest = oid && knownOids.has(oid) ? known!.commits.slice(known!.commits.findIndex((c) => c.oid === oid)) : [];
    const commits = [...fresh, ...rest].slice(0, HISTORY_DEPTH);
    this.cache.set(dir, { head, commits });
    return commits;
  }
}

export function toHistoryCommit(oid: string, message: string, seconds: number): HistoryCommit {
  const trailers = parseTrailers(message);
  const paragraphs = message.trim().split(/\n\s*\n/);
  const subject = paragraphs[0]?.split("\n")[0] ?? "";
  const bodyParts = paragraphs.slice(1, Object.keys(trailers).length ? -1 : undefined);
  const body = bodyParts.join("\n\n");
  return { oid, at: new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z"), subject, body: body.length > BODY_CHARS ? `${body.slice(0, BODY_CHARS)}…` : body, trailers };
}

/** A task commit's reward point for the trend chart, oldest first. */
export interface RewardPoint {
  task: string;
  at: string;
  reward: number;
  audit?: number;
}

export function rewardSeries(commits: HistoryCommit[]): RewardPoint[] {
  const out: RewardPoint[] = [];
  for (const c of commits) {
    const reward = c.trailers.Reward;
    if (!c.subject.includes("(task):") || reward === undefined || !/^[+-]?[01]$/.test(reward)) continue;
    const audit = c.trailers.Audit !== undefined && /^[+-]?[01]$/.test(c.trailers.Audit) ? Number(c.trailers.Audit) : undefined;
    out.push({ task: c.trailers["Task-Id"] ?? c.subject, at: c.at, reward: Number(reward), ...(audit === undefined ? {} : { audit }) });
  }
  return out.reverse();
}

/** Tokens the provider reported (Tokens-In + Tokens-Out trailers) on commits since `since`; undefined when no commit carries them. */
export function tokensSince(commits: HistoryCommit[], since: Date): number | undefined {
  let total: number | undefined;
  for (const c of commits) {
    if (Date.parse(c.at) < since.getTime()) break;
    const n = ["Tokens-In", "Tokens-Out"].map((k) => Number(c.trailers[k])).filter((x) => Number.isFinite(x));
    if (n.length) total = (total ?? 0) + n.reduce((a, b) => a + b, 0);
  }
  return total;
}
