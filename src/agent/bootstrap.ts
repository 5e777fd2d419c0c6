// Creates an agent's file tree and git repository from agents.yaml. Idempotent:
// creates what is missing, regenerates a generated file only while nobody has edited
// it, and makes the first commit `init: agent filesystem` exactly once.
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { AgentConfig, AgentsFile } from "../config/schema.js";
import { AgentRepo } from "../commit/git/repo.js";
import type { Logger } from "../log.js";
import { emptyGoals } from "../apply/goals.js";
import { emptyReflections } from "../store/reflections.js";
import { emptyRewards } from "../store/rewards.js";
import { emptySkills } from "../store/skills.js";
import { agentPaths, sharedPaths, type AgentPaths } from "../store/layout.js";
import { ensureDir, exists, readTextIfExists, UnsafePathError, writeFileAtomic, writeFilesAtomic } from "../store/files.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

export function agentAuthor(name: string) {
  return { name, email: `${name}@agentos.local` };
}

/** Files generated from agents.yaml; a person may edit them, after which they are theirs. */
export function generatedFiles(agent: AgentConfig, file: AgentsFile): Record<string, string> {
  const limits = [
    `skills.md holds at most ${file.skills.max_entries} skills; the weakest (evidence decayed with a ${file.skills.decay_halflife_days}-day half-life) is archived, never deleted.`,
    `goals.md holds at most ${file.goals.max_active} active goals.`,
    `rewards.md keeps the last ${file.rewards.keep_last} outcomes; reflections.md the last ${file.reflections.keep_last}.`,
    "Every task ends with a reward: +1 (succeeded, reusable), 0 (partial), -1 (failed). Be honest: rewards are audited.",
    "A skill is recorded only on a +1 outcome.",
    ...agent.constraints,
  ];
  const persona = [
    `# ${agent.name}`,
    "",
    agent.persona,
    "",
    `- domain: ${agent.domain || "general"}`,
    `- tone: ${agent.tone || "plain"}`,
    `- throughput_class: ${agent.throughput_class}`,
    "",
  ].join("\n");
  const constraints = ["# Constraints", "", ...limits.map((l) => `- ${l}`), ""].join("\n");
  const hints = agent.hints.length ? ["", "## Hints", "", ...agent.hints.map((h) => `- ${h}`)] : [];
  const systemPrompt = [
    `You are ${agent.name}. ${agent.persona}`,
    "",
    `Domain: ${agent.domain || "general"}.`,
    `Tone: ${agent.tone || "plain"}.`,
    ...hints,
    "",
    "## Constraints",
    "",
    ...limits.map((l) => `- ${l}`),
    "",
  ].join("\n");
  return { "persona.md": persona, "constraints.md": constraints, "system_prompt.md": systemPrompt };
}

/** Shared folders this process made already (they are the same for every agent). */
const sharedMade = new Set<string>();

export interface BootstrapResult {
  paths: AgentPaths;
  createdRepo: boolean;
  committed: boolean;
}

export async function bootstrapAgent(
  dataDir: string,
  agent: AgentConfig,
  file: AgentsFile,
  log: Logger,
  now: () => Date = () => new Date(),
): Promise<BootstrapResult> {
  const p = agentPaths(dataDir, agent.name);
  const shared = sharedPaths(dataDir, file.iac.dead_letter_path);
  // Shared folders that are links are refused (and said) by the runtime; the agent still starts (harden).
  const sharedDir = (d: string) => ensureDir(d).catch((err: Error) => (err instanceof UnsafePathError ? undefined : Promise.reject(err)));
  // The folders every agent shares once per data dir, not once per agent (1,000 agents start at once).
  const sharedKey = `${shared.segments}\0${shared.deadLetters}`;
  if (!sharedMade.has(sharedKey)) {
    await Promise.all([shared.segments, shared.deadLetters].map(sharedDir));
    sharedMade.add(sharedKey);
  }
  await Promise.all([
    ...[p.skillsArchive, p.results, p.iac, p.intents, p.spool].map(ensureDir),
    ...[join(shared.inboxRoot, agent.name), join(shared.handoffsRoot, agent.name)].map(sharedDir),
  ]);

  const repo = new AgentRepo(p.dir, agentAuthor(agent.name));
  const createdRepo = await repo.init();
  if (createdRepo) log.info(`Initialised git repo at ${p.dir}`);

  // Every missing file in one step: their fsyncs share journal commits (a fresh agent has
  // a dozen files; written one by one, 1,000 agents took twice as long to start).
  const changed: string[] = [];
  const toWrite: [string, string][] = [];
  const missing = [
    [join(p.dir, ".gitignore"), "# Written by AgentOS: the mailbox and runtime state are not history.\nqueue.md\n.agentos/\n"],
    [p.skills, emptySkills()],
    [p.goals, emptyGoals(agent.goals, now(), file.goals.max_active)],
    [p.rewards, emptyRewards()],
    [p.reflections, emptyReflections()],
    [join(p.skillsDir, ".gitkeep"), ""],
    [join(p.skillsArchive, ".gitkeep"), ""],
    [join(p.results, ".gitkeep"), ""],
    [
      join(p.iac, "README.md"),
      `# IAC\n\nMessages for ${agent.name} go to DATA_DIR/shared/iac/inbox/${agent.name}/ (drop a .md file of task blocks);\nhandoffs from other agents arrive in DATA_DIR/shared/iac/handoffs/${agent.name}/.\n`,
    ],
  ] as const;
  const present = await Promise.all(missing.map(([path]) => exists(path)));
  for (const [i, [path, content]] of missing.entries()) {
    if (present[i]) continue;
    toWrite.push([path, content]);
    changed.push(relative(p.dir, path));
  }
  if ((await readTextIfExists(p.queue)) === undefined) {
    // A first line that stays: the file is never empty, so `sed -i '$ a ...'` and editors
    // always have a line to work with (sed does nothing at all to an empty file).
    await writeFile(p.queue, `<!-- Tasks for ${agent.name}: append "## <task-id>" blocks below (docs/file-formats.md); finished ones are removed. -->
`, { flag: "a" });
  }

  // Generated files: rewrite only while they still hold exactly what we generated last time.
  const record = JSON.parse((await readTextIfExists(p.generated)) ?? "{}") as Record<string, string>;
  for (const [name, content] of Object.entries(generatedFiles(agent, file))) {
    const path = join(p.dir, name);
    const current = await readTextIfExists(path);
    if (current === undefined || (current !== content && record[name] === sha(current))) {
      toWrite.push([path, content]);
      changed.push(name);
    } else if (current !== content && record[name] !== sha(current)) {
      log.debug(`${name} was edited by hand; keeping it (agents.yaml changes to it are not applied)`, { agent: agent.name });
      continue;
    }
    record[name] = sha(content);
  }
  if (toWrite.length) await writeFilesAtomic(toWrite);

  // Committed from the texts in hand (not read back): a fresh agent reads none of its files.
  const texts = new Map(toWrite.map(([path, content]) => [relative(p.dir, path), content]));
  const contents = async (rels: string[]) => {
    const files: Record<string, string> = {};
    for (const rel of rels) files[rel] = texts.get(rel) ?? (await readTextIfExists(join(p.dir, rel))) ?? "";
    return files;
  };
  let committed = false;
  const head = await repo.head();
  if (!head) {
    const all = [".gitignore", "persona.md", "constraints.md", "system_prompt.md", "skills.md", "goals.md", "rewards.md", "reflections.md",
      "skills/.gitkeep", "skills/archive/.gitkeep", "results/.gitkeep", "iac/README.md"];
    await repo.commitAll([{ subject: "init: agent filesystem", files: await contents(all), at: now() }], { written: true });
    committed = true;
  } else if (changed.length) {
    await repo.commitAll([{ subject: `${agent.name}(config): update from agents.yaml`, files: await contents(changed), at: now() }], { written: true });
    committed = true;
  }
  // Last: it says what is on disk and committed.
  const recordText = JSON.stringify(record, null, 2) + "\n";
  if (recordText !== (await readTextIfExists(p.generated))) await writeFileAtomic(p.generated, recordText);
  return { paths: p, createdRepo, committed };
}

