// results/ holds the newest results only (`tasks.keep_results`, 1,000 by default); an
// older one leaves the work tree in the commit of the task that pushes it out, and stays
// in git history, where `agentos result <id>`, the API and `git show` still find it.
// Why: every tracked file is an entry of git's index, which every commit reads, hashes
// and writes whole; with every result tracked, a task's cost grew with the agent's age
// (1.9–3.1× at 10,000 results). Bounded, it stays what it was in the first weeks.
// Pure: the agent lists results/ once (store/results-listing.ts) and asks here per task.

export class ResultsWindow {
  /** Results in the work tree in the order they were written (a result written again appears again). */
  private paths: string[] = [];
  /** Each path's newest place in `paths` (absolute, counting what was dropped from the front). */
  private readonly newest = new Map<string, number>();
  /** How many entries were dropped from the front of `paths`. */
  private offset = 0;
  private head = 0;

  /** `existing`: the results in the work tree, oldest first; `keep` 0 keeps every one. */
  constructor(
    existing: string[],
    readonly keep: number,
  ) {
    for (const p of existing) this.push(p);
  }

  /** How many results are in the work tree (as far as this window knows). */
  get size(): number {
    return this.newest.size;
  }

  /**
   * A task's result is being written at `path`: the paths of the oldest results that now
   * leave the work tree (none while there are at most `keep`). Writing a result again
   * (a task id that comes back) makes it the newest.
   */
  add(path: string): string[] {
    this.push(path);
    const out: string[] = [];
    if (this.keep === 0) return out;
    while (this.newest.size > this.keep && this.head < this.paths.length) {
      const at = this.offset + this.head;
      const oldest = this.paths[this.head++]!;
      if (this.newest.get(oldest) !== at) continue; // written again later: its newer place counts
      this.newest.delete(oldest);
      out.push(oldest);
    }
    if (this.head > 4096 && this.head * 2 > this.paths.length) {
      this.paths = this.paths.slice(this.head);
      this.offset += this.head;
      this.head = 0;
    }
    return out;
  }

  private push(path: string): void {
    this.newest.set(path, this.offset + this.paths.length);
    this.paths.push(path);
  }
}
