// The timers one agent sets (retries, re-reads, spool checks, pause probes), tracked
// so that stop() clears every one; a timer that fires after stop does nothing.
export class TimerScope {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  /** Runs `fn` after `ms`, unless the scope is closed first. */
  set(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    // A timer set while stopping (a compaction finishing) must not hold the exiting
    // process for seconds; while running, the watcher keeps the process alive anyway.
    t.unref();
    this.timers.add(t);
    return t;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
