// The crash test hook: `AGENTOS_CRASH_AT=point[@n]` SIGKILLs the process the n-th time
// it passes `point` (before-llm, after-llm, and the committer's points), so the
// durability tests can kill it exactly where a power cut would hurt most.
const counts = new Map<string, number>();

export function crashAt(spec: string | undefined, point: string): void {
  if (!spec) return;
  const [name, nth] = spec.split("@");
  if (name !== point) return;
  counts.set(point, (counts.get(point) ?? 0) + 1);
  if (counts.get(point)! >= Number(nth ?? 1)) process.kill(process.pid, "SIGKILL");
}
