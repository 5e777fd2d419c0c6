// The task files an agent reads, in the order it reads them: its queue.md, then the
// message files of its inbox and handoff folders (sorted by name). Read-only.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { agentPaths, isMessageFileName, sharedPaths } from "./layout.js";

export async function agentTaskFiles(dataDir: string, deadLetterPath: string, agent: string): Promise<string[]> {
  const shared = sharedPaths(dataDir, deadLetterPath);
  const files = [agentPaths(dataDir, agent).queue];
  for (const dir of [join(shared.inboxRoot, agent), join(shared.handoffsRoot, agent)]) {
    for (const n of (await readdir(dir).catch(() => [] as string[])).filter(isMessageFileName).sort()) files.push(join(dir, n));
  }
  return files;
}
