// Bounds: configuration that would exhaust memory (YAML alias bombs), paths that would
// loop or escape DATA_DIR, oversized files. Each is refused with a message, never a crash.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Env } from "../src/config/schema.js";
import { createLogger } from "../src/log.js";
import { Runtime } from "../src/agent/runtime.js";
import { listDeadLetters } from "../src/store/dead-letters.js";
import { eventually, shellAppend } from "./support/harness.js";
import { answerFor, startLlmServer } from "./support/llm-server.js";
import { block, committed, queue } from "./support/iac.js";
import { loadAgentsFile, loadEnv, parseAgentsFile } from "../src/config/load.js";
import { readAt } from "../src/store/files.js";
import { readTaskFile, readTaskFileSlice } from "../src/store/task-file-read.js";
import { dataDirWith, removeDir, runCli, baseEnv, tempDir } from "./support/harness.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

const agentsYaml = (extra = "") => `agents:\n  - name: orion\n    persona: "p"\n${extra}`;

/** Nine levels of nine aliases: 9^9 strings if expanded. */
function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]`);
  return agentsYaml() + lines.join("\n") + "\n";
}

describe("agents.yaml", () => {
  it("refuses a YAML alias bomb with a message, without expanding it", () => {
    const r = parseAgentsFile(aliasBomb(), "agents.yaml");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]!.message).toMatch(/more than 100 alias expansions/);
  });

  it("`validate` reports the alias bomb as file:line:column, with no stack trace", () => {
    const data = dataDirWith(aliasBomb());
    dirs.push(data);
    const r = runCli(["validate", "--data", data], baseEnv());
    expect(r.status).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/agents\.yaml:1:1: invalid YAML: more than 100 alias expansions/);
    expect(out).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
  });

  it("refuses an agents.yaml that is a FIFO instead of blocking start-up", () => {
    const dir = tempDir();
    dirs.push(dir);
    execFileSync("mkfifo", [join(dir, "agents.yaml")]);
    const r = loadAgentsFile(join(dir, "agents.yaml"));
    expect(!r.ok && r.problems[0]!.message).toMatch(/cannot read agents\.yaml \(it is not a regular file\)/);
  });

  it("refuses an agents.yaml over 1 MB", () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir, "agents.yaml"), agentsYaml() + "# " + "x".repeat(1100 * 1024) + "\n");
    const r = loadAgentsFile(join(dir, "agents.yaml"));
    expect(!r.ok && r.problems[0]!.message).toMatch(/over 1024 KB/);
  });

  it("confines dead_letter_path to DATA_DIR and outside watched folders", () => {
    for (const [path, why] of [
      ["/tmp/letters", /absolute path/],
      ["../letters", /no '\.\.'/],
      ["shared/iac/inbox/orion", /outside shared\/iac\/inbox\//],
      ["shared/iac/handoffs/", /outside shared\/iac\/handoffs\//],
      ["agents/orion/letters", /outside agents\//],
      [".", /not DATA_DIR itself/],
    ] as const) {
      const r = parseAgentsFile(agentsYaml(`iac:\n  dead_letter_path: ${path}\n`), "agents.yaml");
      expect(r.ok, path).toBe(false);
      expect(!r.ok && r.problems[0]!.message, path).toMatch(why);
      expect(!r.ok && r.problems[0]!.line, path).toBe(5);
    }
    expect(parseAgentsFile(agentsYaml(`iac:\n  dead_letter_path: shared/letters\n`), "agents.yaml").ok).toBe(true);
  });

  it("refuses a key file that is a FIFO (a Docker secret path pointed at a pipe)", () => {
    const dir = tempDir();
    dirs.push(dir);
    execFileSync("mkfifo", [join(dir, "key")]);
    const r = loadEnv({ LLM_API_KEY_FILE: join(dir, "key") });
    expect(!r.ok && r.problems[0]!.message).toMatch(/LLM_API_KEY_FILE cannot be read \(it is not a regular file\)/);
  });
});

describe("task files", () => {
  it("reads a big queue file in slices that end at a newline", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, "queue.md");
    const blocks = Array.from({ length: 2000 }, (_, i) => `## t-${i}\ntask: number ${i} — ünïcode\n`).join("");
    writeFileSync(file, blocks);
    let from = 0;
    let text = "";
    for (let n = 0; n < 1000; n++) {
      const s = await readTaskFileSlice(file, from, 4096);
      if (!s.ok) throw new Error(s.message);
      expect(s.bytes.length).toBeLessThanOrEqual(4096);
      expect(s.atEnd || s.bytes[s.bytes.length - 1] === 0x0a).toBe(true);
      text += s.bytes.toString("utf8");
      from = s.end;
      if (s.atEnd) break;
    }
    expect(text).toBe(blocks);
  });

  it("refuses a task file over the limit without reading it whole", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, "big.md");
    writeFileSync(file, "x".repeat(2 * 1024 * 1024));
    const r = await readTaskFile(file, 1024 * 1024);
    expect(!r.ok && r.message).toMatch(/is 2\.0 MB, over the 1 MB limit/);
  });

  it("reads what a file gained after its fstat, up to the limit and never past it", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, "growing.md");
    writeFileSync(file, "## a\ntask: x\n");
    const fh = await open(file, "r");
    try {
      const { size } = await fh.stat();
      appendFileSync(file, "y".repeat(100_000)); // a writer appends between the fstat and the read
      expect((await readAt(fh, 0, 1024 * 1024, size)).length).toBe(size + 100_000);
      expect((await readAt(fh, 0, 50_001, size)).length).toBe(50_001);
      expect((await readAt(fh, 5, 1024 * 1024, size)).subarray(0, 10).toString()).toBe("task: x\nyy");
    } finally {
      await fh.close();
    }
  });
});

const llm = await startLlmServer();
afterAll(() => llm.close());

describe("names and replies over the limits, in a running runtime", { timeout: 240_000 }, () => {
  it("turns a 200-character inbox folder and a 250-character task id into dead letters with short names, and keeps running", async () => {
    const data = dataDirWith(agentsYaml("  - name: iris\n    persona: \"p\"\ntasks:\n  settle_ms: 100\n"));
    dirs.push(data);
    const longFolder = "x".repeat(200);
    mkdirSync(join(data, "shared", "iac", "inbox", longFolder), { recursive: true });
    writeFileSync(join(data, "shared", "iac", "inbox", longFolder, "m.md"), "## for-nobody\ntask: hello\ncreated: 2026-01-01T00:00:00Z\n");
    const env = Env.parse({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2" });
    const lines: string[] = [];
    const rt = new Runtime({ dataDir: data, env, log: createLogger({ write: (l) => lines.push(l) }) });
    await rt.start();
    try {
      const longId = "t" + "1".repeat(249);
      shellAppend(queue(data, "orion"), block(longId, "An id far too long."));
      shellAppend(queue(data, "iris"), block("normal-1", "Fine."));
      const letters = await eventually(async () => {
        const all = await listDeadLetters(join(data, "shared", "iac", "dead_letters"));
        return all.some((d) => d.reason === "unknown_agent") && all.some((d) => d.reason === "invalid" && d.original.includes(longId)) ? all : undefined;
      }, 90_000, "both dead letters");
      for (const d of letters) expect(d.file.split("/").pop()!.length).toBeLessThan(200);
      await eventually(() => committed(data, "iris", "iris(task): normal-1"), 90_000, "iris's commit");
      await eventually(() => !readFileSync(queue(data, "orion"), "utf8").includes(longId), 30_000, "the long id out of queue.md");
      expect(rt.isRunning).toBe(true);
    } finally {
      await rt.stop();
    }
  });

  it("keeps running its configuration when a hot-reloaded agents.yaml is an alias bomb", async () => {
    const data = dataDirWith(agentsYaml("tasks:\n  settle_ms: 100\n"));
    dirs.push(data);
    const env = Env.parse({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2" });
    const lines: string[] = [];
    const rt = new Runtime({ dataDir: data, env, log: createLogger({ write: (l) => lines.push(l) }) });
    await rt.start();
    try {
      writeFileSync(join(data, "agents.yaml"), aliasBomb());
      await eventually(() => lines.some((l) => /agents\.yaml has errors; keeping the running configuration/.test(l)), 60_000, "the reload refused");
      expect(lines.join("\n")).toMatch(/more than 100 alias expansions/);
      shellAppend(queue(data, "orion"), block("after-bomb", "Still here?"));
      await eventually(() => committed(data, "orion", "orion(task): after-bomb"), 90_000, "a commit after the bomb");
      expect(rt.isRunning).toBe(true);
    } finally {
      await rt.stop();
    }
  });

  it("does not read a reply over LLM_MAX_REPLY_BYTES: the step fails without pausing the agent, no huge log line or result, the other agent keeps working", async () => {
    const data = dataDirWith(agentsYaml("  - name: iris\n    persona: \"p\"\ntasks:\n  settle_ms: 100\n  max_attempts: 1\n"));
    dirs.push(data);
    const huge = "A".repeat(20 * 1024 * 1024);
    llm.script((req) => (req.taskId === "huge-1" ? { content: JSON.stringify({ ...answerFor("huge-1", ""), answer: huge }) } : undefined));
    const env = Env.parse({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2", LLM_MAX_REPLY_BYTES: String(1024 * 1024), LLM_MAX_RETRIES: "0" });
    const lines: string[] = [];
    const rt = new Runtime({ dataDir: data, env, log: createLogger({ write: (l) => lines.push(l) }) });
    await rt.start();
    try {
      shellAppend(queue(data, "orion"), block("huge-1", "Answer at length."));
      shellAppend(queue(data, "iris"), block("small-1", "Answer briefly."));
      const dead = await eventually(async () => (await listDeadLetters(join(data, "shared", "iac", "dead_letters"))).find((d) => d.taskId === "huge-1"), 90_000, "huge-1's dead letter");
      expect(dead.lastError).toMatch(/over LLM_MAX_REPLY_BYTES \(1048576 bytes\)/);
      await eventually(() => committed(data, "iris", "iris(task): small-1"), 90_000, "iris's commit");
      const longest = Math.max(...lines.map((l) => l.length));
      expect(longest).toBeLessThan(1024 * 1024);
      expect(readdirSync(join(data, "agents", "orion", "results"), { recursive: true }).map(String).filter((n) => n.endsWith("huge-1.md"))).toEqual([]);
    } finally {
      llm.script(undefined);
      await rt.stop();
    }
  });
});
