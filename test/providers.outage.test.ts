// An outage never burns the queue: with nothing listening the agent pauses, keeps every
// task and says why; when the provider comes up it resumes by itself and does them all.
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Env } from "../src/config/schema.js";
import { createLogger } from "../src/log.js";
import { Runtime } from "../src/agent/runtime.js";
import { dataDirWith, eventually, git, read, removeDir } from "./support/harness.js";
import { agent, block, queue, repo, yaml } from "./support/iac.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/**
 * A port nobody listens on (yet), below the ephemeral range, so no other test's server
 * (they listen on port 0) can take it between now and when ours comes up.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const s = createServer();
    const free = await new Promise<boolean>((r) => s.once("error", () => r(false)).listen(port, "127.0.0.1", () => r(true)));
    if (free) {
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    }
  }
}

describe("provider outage", () => {
  it("pauses with nothing listening, keeps every task and no dead letter, then does them all when the server comes up", async () => {
    const port = await freePort();
    const data = dataDirWith(yaml([agent("orion")]));
    cleanup.push(() => removeDir(data));
    const lines: string[] = [];
    const env = Env.parse({ LLM_API_KEY: "k", LLM_BASE_URL: `http://127.0.0.1:${port}/v1`, LLM_MODEL: "scripted", LLM_MAX_RETRIES: "1", LLM_TIMEOUT: "2", SHUTDOWN_GRACE_SECONDS: "5" });
    const rt = new Runtime({ dataDir: data, env, log: createLogger({ level: "info", write: (l) => lines.push(l) }) });
    await rt.start();
    cleanup.push(() => rt.stop());
    const ids = ["out-1", "out-2", "out-3", "out-4"];
    writeFileSync(queue(data, "orion"), ids.map((id) => block(id, `Task ${id} during an outage.`)).join("").slice(1));

    const orion = rt.agents.get("orion")!;
    await eventually(() => orion.isPaused, 20_000, "paused");
    expect(orion.status().paused?.reason).toMatch(/the provider at http:\/\/127\.0\.0\.1:\d+\/v1 cannot be reached after 2 tries: ECONNREFUSED/);
    expect(lines.join("\n")).toMatch(/ERROR \[agent\] \[orion\] paused: the provider at .* cannot be reached/);
    const letters = join(data, "shared", "iac", "dead_letters");
    const deadLetters = () => (existsSync(letters) ? readdirSync(letters).filter((f) => f.endsWith(".md")) : []);
    expect(deadLetters()).toEqual([]);
    for (const id of ids) expect(read(queue(data, "orion"))).toContain(`## ${id}`);

    let llm: LlmServer | undefined;
    llm = await startLlmServer({ port });
    cleanup.push(() => llm?.close());
    const subjects = () => git(repo(data, "orion"), "log", "--format=%s");
    await eventually(() => ids.every((id) => subjects().includes(`orion(task): ${id}`)), 40_000, "every task done and committed");
    await eventually(() => !orion.isPaused, 5_000, "resumed");
    expect(deadLetters()).toEqual([]);
    // No task burnt an attempt on the outage: each was done on its first.
    const attempts = git(repo(data, "orion"), "log", "--format=%(trailers:key=Attempt,valueonly,separator=)").trim().split("\n").filter(Boolean);
    expect(attempts.slice(0, ids.length)).toEqual(ids.map(() => "1"));
    expect(lines.join("\n")).toMatch(/provider answers again; resuming/);
  });
});
