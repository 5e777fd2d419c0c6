// DURABLE: nothing is lost and nothing runs twice — concurrent appenders, editors,
// partial writes, kill -9 at named points, LLM faults, shutdown and bad files.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blocksLeft, countEffects } from "./support/checker.js";
import { baseEnv, dataDirWith, eventually, fsckStrict, git, read, startRun } from "./support/harness.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";

const STRESS = !!process.env.AGENTOS_STRESS;
let llm: LlmServer;
beforeAll(async () => {
  llm = await startLlmServer();
});
afterAll(async () => {
  await llm.close();
});

const YAML = (cls = "fast") => `agents:\n  - name: orion\n    persona: "Backend engineer."\n    throughput_class: ${cls}\ntasks:\n  settle_ms: 200\n`;
const env = (extra: Record<string, string> = {}) => baseEnv({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", ...extra });

function block(id: string): string {
  return `\n## ${id}\ntask: Do the thing called ${id} and report back.\npriority: normal\ncreated: 2026-04-29T10:05:00Z\n`;
}

/** N shell processes each running `cat >> queue.md` for its own tasks, as fast as they can. */
function concurrentAppenders(queue: string, writers: number, perWriter: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  const procs: Promise<void>[] = [];
  for (let w = 0; w < writers; w++) {
    const mine = Array.from({ length: perWriter }, (_, i) => `${prefix}-w${w}-${i}`);
    ids.push(...mine);
    const script = mine.map((id) => `cat >> "$Q" <<'EOF'\n${block(id)}EOF`).join("\n");
    procs.push(
      new Promise((resolve, reject) => {
        const p = spawn("sh", ["-c", script], { env: { ...process.env, Q: queue }, stdio: "ignore" });
        p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`appender ${w} exited ${code}`))));
      }),
    );
  }
  return Promise.all(procs).then(() => ids);
}

describe("concurrent appenders", () => {
  it("processes every block appended by 4 concurrent shells exactly once while the runtime compacts queue.md", async () => {
    const data = dataDirWith(YAML());
    const run = await startRun(data, env());
    const dir = join(data, "agents", "orion");
    const queue = join(dir, "queue.md");
    try {
      const ids = await concurrentAppenders(queue, 4, STRESS ? 250 : 40, "ca");
      await eventually(() => countEffects(dir, ids).lost.length === 0, 60_000, "all tasks committed");
      const c = countEffects(dir, ids, join(data, "shared", "iac", "dead_letters"));
      expect(c.lost).toEqual([]);
      expect(c.duplicated).toEqual([]);
      expect(c.deadLetters).toEqual([]);
      await eventually(() => blocksLeft(queue).length === 0, 10_000, "queue.md emptied");
      fsckStrict(dir);
      expect(git(dir, "status", "--porcelain")).toBe("");
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });
});
