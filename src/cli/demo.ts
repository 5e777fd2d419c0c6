// `agentos demo`: the whole flow in under a minute with the built-in offline model:
// a temporary DATA_DIR with the seed's agents, the seed's tasks appended to their
// queues, then what changed: rewards, skills and the git log.
import { appendFile, copyFile, mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadEnv } from "../config/load.js";
import { AgentRepo } from "../commit/git/repo.js";
import { OfflineModel } from "../work/llm/offline.js";
import { createLogger } from "../log.js";
import { Runtime } from "../agent/runtime.js";
import { agentAuthor } from "../agent/bootstrap.js";
import { agentPaths } from "../store/layout.js";

export const fixturesDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures");

export async function runDemo(opts: { dataDir?: string; write?: (s: string) => void } = {}): Promise<string> {
  const write = opts.write ?? ((s: string) => process.stdout.write(s + "\n"));
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "agentos-demo-")));
  await copyFile(join(fixturesDir, "agents.yaml"), join(dataDir, "agents.yaml"));
  const env = loadEnv({ ...process.env, DATA_DIR: dataDir, SHUTDOWN_GRACE_SECONDS: "5" });
  if (!env.ok) throw new Error(env.problems.map((p) => p.message).join("\n"));
  write(`AgentOS demo — offline model (no LLM, no API key). DATA_DIR=${dataDir}\n`);
  const runtime = new Runtime({ dataDir, env: env.value, log: createLogger({ level: env.value.LOG_LEVEL, format: env.value.LOG_FORMAT }), model: new OfflineModel() });
  await runtime.start();
  const taskFiles = (await readdir(join(fixturesDir, "tasks"))).filter((f) => f.endsWith(".md")).sort();
  for (const f of taskFiles) {
    const agent = f.replace(/\.md$/, "");
    // Exactly what `cat >> queue.md << 'EOF'` does.
    await appendFile(agentPaths(dataDir, agent).queue, await readFile(join(fixturesDir, "tasks", f), "utf8"));
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([runtime.drained(), new Promise((r) => (timer = setTimeout(r, 60_000)))]);
  clearTimeout(timer);
  await runtime.stop();

  write("\n── What changed ─────────────────────────────────────────────");
  for (const f of taskFiles) {
    const agent = f.replace(/\.md$/, "");
    const p = agentPaths(dataDir, agent);
    const rewards = (await readFile(p.rewards, "utf8")).split("\n").filter((l) => /^-\s*reward:/.test(l));
    const skills = (await readFile(p.skills, "utf8")).split("\n").filter((l) => l.startsWith("### "));
    const log = await new AgentRepo(p.dir, agentAuthor(agent)).log(10);
    write(`\n${agent}`);
    write(`  rewards.md:\n${rewards.map((l) => "    " + l).join("\n") || "    (none)"}`);
    write(`  skills.md: ${skills.map((s) => s.slice(4)).join(", ") || "(none)"}`);
    write(`  git log --oneline:\n${log.map((c) => `    ${c.oid.slice(0, 7)} ${c.subject}`).join("\n")}`);
  }
  write(`\nExplore it: ls ${dataDir}/agents/orion; git -C ${dataDir}/agents/orion log --stat`);
  return dataDir;
}
