// Where everything lives under DATA_DIR (ARCHITECTURE.md section 2). Path math:
// every other module asks here instead of joining paths itself. The one side effect:
// a data dir paths are computed in is guarded (no link followed below it, see files.ts).
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { guardDataDir } from "./files.js";

export interface AgentPaths {
  name: string;
  dir: string;
  queue: string;
  persona: string;
  constraints: string;
  systemPrompt: string;
  skills: string;
  skillsDir: string;
  skillsArchive: string;
  goals: string;
  rewards: string;
  reflections: string;
  results: string;
  iac: string;
  /** Runtime state, git-ignored: ledger, intents, lease, spool. */
  state: string;
  ledger: string;
  intents: string;
  spool: string;
  lease: string;
  generated: string;
}

export function agentPaths(dataDir: string, name: string): AgentPaths {
  guardDataDir(dataDir);
  const dir = resolve(dataDir, "agents", name);
  const state = join(dir, ".agentos");
  return {
    name,
    dir,
    queue: join(dir, "queue.md"),
    persona: join(dir, "persona.md"),
    constraints: join(dir, "constraints.md"),
    systemPrompt: join(dir, "system_prompt.md"),
    skills: join(dir, "skills.md"),
    skillsDir: join(dir, "skills"),
    skillsArchive: join(dir, "skills", "archive"),
    goals: join(dir, "goals.md"),
    rewards: join(dir, "rewards.md"),
    reflections: join(dir, "reflections.md"),
    results: join(dir, "results"),
    iac: join(dir, "iac"),
    state,
    ledger: join(state, "ledger.log"),
    intents: join(state, "intents"),
    spool: join(state, "spool"),
    lease: join(state, "lease.json"),
    generated: join(state, "generated.json"),
  };
}

export interface SharedPaths {
  root: string;
  segments: string;
  inboxRoot: string;
  handoffsRoot: string;
  deadLetters: string;
  agentsYaml: string;
}

export function sharedPaths(dataDir: string, deadLetterPath = "shared/iac/dead_letters/"): SharedPaths {
  guardDataDir(dataDir);
  const root = resolve(dataDir);
  return {
    root,
    segments: join(root, "shared", "segments"),
    inboxRoot: join(root, "shared", "iac", "inbox"),
    handoffsRoot: join(root, "shared", "iac", "handoffs"),
    deadLetters: resolve(root, deadLetterPath),
    agentsYaml: join(root, "agents.yaml"),
  };
}

/** An agent's two mailboxes: its inbox (people, scripts) and its handoffs folder (other agents). */
export function mailboxesOf(shared: SharedPaths, agent: string): { inbox: string; handoffs: string } {
  return { inbox: join(shared.inboxRoot, agent), handoffs: join(shared.handoffsRoot, agent) };
}

/** Message files worth reading: markdown, not hidden, not an editor's or a copier's temp file. */
export function isMessageFileName(name: string): boolean {
  return name.endsWith(".md") && !name.startsWith(".") && !name.startsWith("#") && !name.endsWith("~") && !/\.(tmp|swp|swx|part)$/.test(name);
}

/**
 * Where a task's result lives in its agent's repository: `results/<xx>/<id>.md`, `xx` the
 * first two hex digits of the SHA-1 of the id (`printf %s ID | sha1sum | cut -c1-2`).
 * 256 folders keep every tree a commit rewrites small as results pile up (one flat
 * folder made each commit rewrite a tree listing every result so far: history grew
 * quadratically); a hash spreads ids evenly whatever their names, where dated folders
 * would put a busy day's thousands of results in one folder.
 */
export function resultFile(taskId: string): string {
  return `results/${createHash("sha1").update(taskId).digest("hex").slice(0, 2)}/${taskId}.md`;
}

/** Where results were kept before the fan-out folders (data dirs from then keep them there). */
export function flatResultFile(taskId: string): string {
  return `results/${taskId}.md`;
}
