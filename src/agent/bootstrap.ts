// Creates an agent's file tree and git repository from agents.yaml. Idempotent:
// creates what is missing, regenerates a generated file only while nobody has edited
// it, and makes the first commit `init: agent filesystem` exactly once. A folder this
// process made a moment ago takes the short way: nothing there to probe, read or keep.
import { createHash } from "node:crypto";
import { appendFileSync, lstatSync, mkdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import type { AgentConfig, AgentsFile } from "../config/schema.js";
import { AgentRepo } from "../commit/git/repo.js";
import type { Logger } from "../log.js";
import { emptyGoals } from "../apply/goals.js";
import { emptyReflections } from "../store/reflections.js";
import { emptyRewards } from "../store/rewards.js";
import { emptySkills } from "../store/skills.js";
import { agentPaths, sharedPaths, type AgentPaths } from "../store/layout.js";
import { writeFreshFiles } from "../store/fresh-files.js";
import { ensureDir, exists, linkOnPath, readTextIfExists, UnsafePathError, writeFileAtomic, writeFilesAtomic } from "../store/files.js";

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
/** `agents/` folders this process made already. */
const agentsRootsMade = new Set<string>();

/**
 * Makes the agent's folder; true when this call created it. Nothing in a folder made a
 * moment ago can be a person's file or a crashed run's leftover, so its bootstrap need
 * not probe for files or read them back (1,000 agents start at once; `fresh` below).
 */
export async function makeAgentFolder(dataDir: string, name: string): Promise<boolean> {
  const { dir } = agentPaths(dataDir, name);
  const root = dirname(dir);
  if (!agentsRootsMade.has(root)) {
    await ensureDir(root);
    agentsRootsMade.add(root);
  }
  const err = plainMkdir(dir);
  if (err) {
    if (err.code === "EEXIST") return false;
    if (err.code !== "ENOENT") throw err;
    agentsRootsMade.delete(root); // agents/ went away meanwhile: make it again, the careful way
    await ensureDir(dir);
    return false;
  }
  // agents/ swapped for a link between its check and the mkdir: refused before anything is written.
  const link = linkOnPath(dir);
  if (link) throw new UnsafePathError(link, "is a symbolic link; AgentOS never follows links under DATA_DIR");
  // Its runtime state folder too, where the lease goes first (AgentRuntime.acquire(true)).
  mkdirSync(agentPaths(dataDir, name).state);
  return true;
}

export interface BootstrapOptions {
  now?: () => Date;
  /** The agent's folder was made by this process just now (`makeAgentFolder`): nothing to probe. */
  fresh?: boolean;
  /** The shared folders and this agent's mailboxes exist already (the runtime made them at start). */
  sharedMade?: boolean;
}

export interface BootstrapResult {
  paths: AgentPaths;
  createdRepo: boolean;
  committed: boolean;
}

/** One mkdir, no parents, no checks: undefined when it made the folder, else why not. */
function plainMkdir(dir: string): NodeJS.ErrnoException | undefined {
  try {
    mkdirSync(dir);
    return undefined;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}

/** Makes each folder with a plain mkdir, in order; false at the first that cannot be made so. */
function makeFolders(dirs: string[]): boolean {
  for (const d of dirs) {
    const err = plainMkdir(d);
    // There already, or its parent is not (someone else is writing here): the careful path.
    if (err?.code === "EEXIST" || err?.code === "ENOENT") return false;
    if (err) throw err;
  }
  return true;
}

/**
 * Every named agent's mailbox below each root. `ensure` is the careful way (it refuses a
 * link and says so); below a root it checked, a plain mkdir makes a real folder or finds
 * one, without handing 2,000 folders to the thread pool one by one.
 */
export async function makeMailboxes(roots: string[], names: string[], ensure: (dir: string) => Promise<void>): Promise<Set<string>> {
  const made = new Set<string>();
  for (const root of roots) {
    const checked = await ensure(root).then(() => linkOnPath(root) === undefined);
    for (const name of names) {
      const box = join(root, name);
      const now = checked ? madeOrFolder(box) : "no";
      if (now === "made") made.add(box);
      else if (now === "no") await ensure(box);
    }
  }
  return made;
}

/** Makes `dir` (its parent exists): "made" by this call, "there" when it is a real folder already, else "no". */
function madeOrFolder(dir: string): "made" | "there" | "no" {
  const err = plainMkdir(dir);
  if (!err) return "made";
  return err.code === "EEXIST" && lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() === true ? "there" : "no";
}

/** The folders every agent shares and this agent's mailboxes (a link there is refused by the runtime, and said). */
async function makeShared(dataDir: string, name: string, file: AgentsFile): Promise<void> {
  const shared = sharedPaths(dataDir, file.iac.dead_letter_path);
  const sharedDir = (d: string) => ensureDir(d).catch((err: Error) => (err instanceof UnsafePathError ? undefined : Promise.reject(err)));
  // The folders every agent shares once per data dir, not once per agent.
  const sharedKey = `${shared.segments}\0${shared.deadLetters}`;
  if (!sharedMade.has(sharedKey)) {
    await Promise.all([shared.segments, shared.deadLetters].map(sharedDir));
    sharedMade.add(sharedKey);
  }
  await Promise.all([join(shared.inboxRoot, name), join(shared.handoffsRoot, name)].map(sharedDir));
}

export async function bootstrapAgent(dataDir: string, agent: AgentConfig, file: AgentsFile, log: Logger, o: BootstrapOptions = {}): Promise<BootstrapResult> {
  const now = o.now ?? (() => new Date());
  const p = agentPaths(dataDir, agent.name);
  // A fresh folder's subfolders are made one by one, synchronously: a mkdir of a path
  // that cannot exist yet costs less than handing it to the thread pool. One that does
  // exist after all (someone else writes here) is left to the careful path below.
  const fresh = o.fresh === true && makeFolders([p.skillsDir, p.skillsArchive, p.results, p.iac]);
  if (!fresh) await Promise.all([p.skillsArchive, p.results, p.iac].map(ensureDir)); // .agentos/intents and spool: when first needed
  if (!o.sharedMade) await makeShared(dataDir, agent.name, file);

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
  const present = fresh ? missing.map(() => false) : await Promise.all(missing.map(([path]) => exists(path)));
  for (const [i, [path, content]] of missing.entries()) {
    if (present[i]) continue;
    toWrite.push([path, content]);
    changed.push(relative(p.dir, path));
  }
  // A first line that stays: the file is never empty, so `sed -i '$ a ...'` and editors
  // always have a line to work with (sed does nothing at all to an empty file).
  const queueHead = `<!-- Tasks for ${agent.name}: append "## <task-id>" blocks below (docs/file-formats.md); finished ones are removed. -->\n`;
  if (fresh) appendFileSync(p.queue, queueHead);
  else if ((await readTextIfExists(p.queue)) === undefined) await writeFile(p.queue, queueHead, { flag: "a" });

  // Generated files: rewrite only while they still hold exactly what we generated last time.
  const lastRecord = fresh ? undefined : await readTextIfExists(p.generated);
  const record = JSON.parse(lastRecord ?? "{}") as Record<string, string>;
  for (const [name, content] of Object.entries(generatedFiles(agent, file))) {
    const path = join(p.dir, name);
    const current = fresh ? undefined : await readTextIfExists(path);
    if (current === undefined || (current !== content && record[name] === sha(current))) {
      toWrite.push([path, content]);
      changed.push(name);
    } else if (current !== content && record[name] !== sha(current)) {
      log.debug(`${name} was edited by hand; keeping it (agents.yaml changes to it are not applied)`, { agent: agent.name });
      continue;
    }
    record[name] = sha(content);
  }
  const recordText = JSON.stringify(record, null, 2) + "\n";
  // A fresh agent's record goes with its files: its first commit takes every file
  // whatever the record says (below), so the record need not wait for the commit.
  if (fresh) toWrite.push([p.generated, recordText]);
  if (toWrite.length) await (fresh ? writeFreshFiles(toWrite) : writeFilesAtomic(toWrite));

  // Committed from the texts in hand (not read back): a fresh agent reads none of its files.
  const texts = new Map(toWrite.map(([path, content]) => [relative(p.dir, path), content]));
  const contents = async (rels: string[]) => {
    const files: Record<string, string> = {};
    for (const rel of rels) files[rel] = texts.get(rel) ?? (await readTextIfExists(join(p.dir, rel))) ?? "";
    return files;
  };
  let committed = false;
  const head = fresh ? undefined : await repo.head();
  if (!head) {
    const all = [".gitignore", "persona.md", "constraints.md", "system_prompt.md", "skills.md", "goals.md", "rewards.md", "reflections.md",
      "skills/.gitkeep", "skills/archive/.gitkeep", "results/.gitkeep", "iac/README.md"];
    await repo.commitAll([{ subject: "init: agent filesystem", files: await contents(all), at: now() }], { written: true, first: createdRepo });
    committed = true;
  } else if (changed.length) {
    // A file put back as git has it (its name lost to a crash before it reached the disk,
    // or deleted by hand) is nothing to commit.
    const files = await contents(changed);
    for (const rel of changed) if ((await repo.fileAt(head, rel)) === files[rel]) delete files[rel];
    if (Object.keys(files).length) {
      await repo.commitAll([{ subject: `${agent.name}(config): update from agents.yaml`, files, at: now() }], { written: true });
      committed = true;
    }
  }
  // Last: it says what is on disk and committed (a `config: update` commit lost to a crash
  // is made again because the record still has the old texts).
  if (!fresh && recordText !== lastRecord) await writeFileAtomic(p.generated, recordText);
  return { paths: p, createdRepo, committed };
}

