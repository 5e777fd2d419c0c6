// What a test gives AgentOS: task blocks, agents.yaml, and data dirs in real temp folders,
// removed when the test that made them ends. Writing here is what a person does (a shell's
// `cat >>`); looking at the results is checker.ts.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { onTestFinished } from "vitest";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const FIXTURES = join(ROOT, "fixtures");

/** A date as task blocks and trailers write it: ISO 8601 to the second. */
export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * A task block as appended to a file: a blank line, `## id`, `task:`, the other fields in
 * order, `created:` last (what closes a block). `created` defaults to now, since inbox and
 * handoff messages expire; `.slice(1)` makes it the first block of a new file.
 */
export function block(id: string, task = `Do the thing called ${id}.`, fields: Record<string, string | number> = {}, created = iso(Date.now())): string {
  const extra = Object.entries(fields).map(([k, v]) => `${k}: ${v}\n`).join("");
  return `\n## ${id}\ntask: ${task}\n${extra}created: ${created}\n`;
}

/** One agent entry of agents.yaml (`segments` is extra YAML, indented by the caller). */
export const agent = (name: string, cls = "medium", segments = "") => `  - name: ${name}\n    persona: "${name} persona."\n    throughput_class: ${cls}\n${segments}`;
/** agents.yaml with these agents, a short settle time, and any extra top-level YAML. */
export const yaml = (agents: string[], extra = "") => `agents:\n${agents.join("")}tasks:\n  settle_ms: 100\n${extra}`;

// ── temp folders ────────────────────────────────────────────────────────────

const leftAtExit: string[] = [];
process.once("exit", () => leftAtExit.forEach((d) => rmSync(d, { recursive: true, force: true, maxRetries: 0 })));

/**
 * Runs `fn` when the current test ends, pass or fail, after its afterEach hooks and before
 * what was registered earlier (so a runtime stops before its data dir goes).
 */
export function whenTestEnds(fn: (failed: boolean) => unknown): boolean {
  try {
    onTestFinished(async (ctx) => void (await fn(ctx.task.result?.state === "fail")));
    return true;
  } catch {
    return false; // not inside a test (module top level, beforeAll)
  }
}

/**
 * A new empty folder in the system temp dir. Made inside a test, it is removed when that
 * test ends (kept, and named, if it failed and AGENTOS_KEEP_TEST_DIRS is set); made outside
 * one, when the process exits. `owned`: the caller removes it (the Docker test, whose
 * containers outlive a test and write as other users).
 */
export function tempDir(prefix = "agentos-test-", owned = false): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (owned) return dir;
  const inTest = whenTestEnds((failed) => {
    if (failed && process.env.AGENTOS_KEEP_TEST_DIRS) return console.log(`kept ${dir}`);
    removeDir(dir);
  });
  if (!inTest) leftAtExit.push(dir);
  return dir;
}

export function removeDir(dir: string): void {
  // Retried: a background `git repack` may still be writing into the repo being removed.
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

/** A data dir holding agents.yaml: the given YAML, or the seed's six agents. */
export function dataDir(agentsYaml?: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, "agents.yaml"), agentsYaml ?? readFileSync(join(FIXTURES, "agents.yaml"), "utf8"));
  return dir;
}

// ── where things are in a data dir (docs/file-formats.md) ──────────────────

export const agentDir = (data: string, name: string) => join(data, "agents", name);
export const queue = (data: string, name: string) => join(agentDir(data, name), "queue.md");
export const inbox = (data: string, name: string) => join(data, "shared", "iac", "inbox", name);
export const handoffs = (data: string, name: string) => join(data, "shared", "iac", "handoffs", name);
export const deadLetterDir = (data: string) => join(data, "shared", "iac", "dead_letters");

// ── writing and reading like a person ───────────────────────────────────────

/** Appends like a shell user does: `cat >> file << 'EOF'`. */
export function shellAppend(file: string, text: string): void {
  const r = spawnSync("sh", ["-c", `cat >> "$1"`, "sh", file], { input: text });
  if (r.status !== 0) throw new Error(`cat >> ${file} failed`);
}

/** A file's text, or "" when it does not exist. */
export function read(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}
