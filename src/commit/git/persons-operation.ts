// A person's git operation under way in the agent's repository: a merge, revert,
// cherry-pick or rebase that stopped for them (its conflict markers are in the working
// files), or an index in a form the runtime does not write. Task commits wait for it
// instead of failing (a failure costs a task an attempt; five send it to dead letters)
// and new tasks wait too, so no outcome is computed from files with conflict markers.
import { existsSync } from "node:fs";
import { join } from "node:path";

/** A commit that has to wait for a person (RepoBusy): not the task's fault, never counted against it. */
export class RepoBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RepoBusyError";
  }
}

/** The file git leaves while it waits for the person, what it is, and how they end it without finishing. */
const UNDER_WAY: [string, string, string][] = [
  ["MERGE_HEAD", "a merge", "git merge --abort"],
  ["CHERRY_PICK_HEAD", "a cherry-pick", "git cherry-pick --abort"],
  ["REVERT_HEAD", "a revert", "git revert --abort"],
  ["rebase-merge", "a rebase", "git rebase --abort"],
  ["rebase-apply", "a rebase or git am", "git rebase --abort or git am --abort"],
];

/** What a person is in the middle of in `gitDir`, said for the log, or undefined. A few stats: cheap enough for every task. */
export function personsOperation(gitDir: string): string | undefined {
  for (const [name, what, abort] of UNDER_WAY) {
    const path = join(gitDir, name);
    if (existsSync(path)) return `${path}: ${what} is under way; tasks wait until it is finished or aborted (${abort})`;
  }
  return undefined;
}
