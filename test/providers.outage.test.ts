// An outage never burns the queue: with nothing listening the agent pauses, keeps every
// task and says why; when the provider comes up it resumes by itself and does them all.
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deadLetterTexts, eventually, git } from "./support/checker.js";
import { agent, agentDir, block, dataDir, queue, read, whenTestEnds, yaml } from "./support/data.js";
import { startLlmServer } from "./support/llm-server.js";
import { startRuntime } from "./support/runtime.js";

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
    const data = dataDir(yaml([agent("orion")]));
    const { rt, lines } = await startRuntime(data, { url: `http://127.0.0.1:${port}/v1` }, { env: { LLM_MAX_RETRIES: "1", LLM_TIMEOUT: "2", SHUTDOWN_GRACE_SECONDS: "5" } });
    const ids = ["out-1", "out-2", "out-3", "out-4"];
    writeFileSync(queue(data, "orion"), ids.map((id) => block(id, `Task ${id} during an outage.`)).join("").slice(1));

    const orion = rt.agents.get("orion")!;
    await eventually(() => orion.isPaused, 20_000, "paused");
    expect(orion.status().paused?.reason).toMatch(/the provider at http:\/\/127\.0\.0\.1:\d+\/v1 cannot be reached after 2 tries: ECONNREFUSED/);
    expect(lines.join("\n")).toMatch(/ERROR \[agent\] \[orion\] paused: the provider at .* cannot be reached/);
    expect(deadLetterTexts(data)).toEqual([]);
    for (const id of ids) expect(read(queue(data, "orion"))).toContain(`## ${id}`);

    const llm = await startLlmServer({ port });
    whenTestEnds(() => llm.close());
    const subjects = () => git(agentDir(data, "orion"), "log", "--format=%s");
    await eventually(() => ids.every((id) => subjects().includes(`orion(task): ${id}`)), 90_000, "every task done and committed");
    await eventually(() => !orion.isPaused, 5_000, "resumed");
    expect(deadLetterTexts(data)).toEqual([]);
    // No task burnt an attempt on the outage: each was done on its first.
    const attempts = git(agentDir(data, "orion"), "log", "--format=%(trailers:key=Attempt,valueonly,separator=)").trim().split("\n").filter(Boolean);
    expect(attempts.slice(0, ids.length)).toEqual(ids.map(() => "1"));
    expect(lines.join("\n")).toMatch(/provider answers again; resuming/);
  });
});
