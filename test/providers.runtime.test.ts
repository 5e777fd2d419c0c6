// Tokens and evidence through the whole runtime: the provider's usage in the commit
// trailers, the result file, status and the metrics; the start-up line; the last reply
// in the dead letter; a per-agent token budget that pauses the agent.
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Env } from "../src/config/schema.js";
import { createLogger } from "../src/log.js";
import { Runtime } from "../src/agent/runtime.js";
import { createMetrics } from "../src/http/metrics.js";
import { resultFile } from "../src/store/layout.js";
import { dataDirWith, eventually, git, read, removeDir } from "./support/harness.js";
import { agent, block, queue, repo, yaml } from "./support/iac.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";
import { completion, ok, stepJson } from "./support/provider-shapes.js";

let llm: LlmServer;
beforeAll(async () => {
  llm = await startLlmServer();
});
afterAll(async () => {
  await llm.close();
});
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  llm.script(undefined);
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(agentsYaml: string) {
  const data = dataDirWith(agentsYaml);
  cleanup.push(() => removeDir(data));
  const lines: string[] = [];
  const metrics = createMetrics();
  const env = Env.parse({ LLM_API_KEY: "sk-runtime-secret-123456", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", LLM_MAX_RETRIES: "0", SHUTDOWN_GRACE_SECONDS: "5" });
  const rt = new Runtime({ dataDir: data, env, log: createLogger({ level: "debug", write: (l) => lines.push(l) }), events: metrics.events });
  metrics.watch(rt);
  await rt.start();
  cleanup.push(() => rt.stop());
  return { data, rt, lines, metrics: () => metrics.registry.metrics() };
}
const deadLetters = (data: string) => {
  const dir = join(data, "shared", "iac", "dead_letters");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".md")).map((f) => read(join(dir, f))) : [];
};

describe("tokens and evidence through the runtime", () => {
  it("records the provider's usage in the trailers, the result file, status and metrics, and names the provider at start", async () => {
    llm.script((req) => ok(completion({ content: stepJson(req) }, { usage: { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 } })));
    const { data, rt, lines, metrics } = await start(yaml([agent("orion")]));
    expect(lines.join("\n")).toMatch(new RegExp(`INFO \\[llm\\] \\[orion\\] provider ${llm.url.replace(/[.:/]/g, "\\$&")}, model scripted, response_format json_schema \\(negotiated`));
    writeFileSync(queue(data, "orion"), block("tok-1", "Count my tokens.").slice(1));
    const result = join(repo(data, "orion"), resultFile("tok-1"));
    await eventually(() => existsSync(result) && git(repo(data, "orion"), "log", "-1", "--format=%s").includes("tok-1"), 20_000, "task done");
    expect(git(repo(data, "orion"), "log", "-1", "--format=%(trailers:key=Tokens-In,valueonly)%(trailers:key=Tokens-Out,valueonly)").trim().split("\n")).toEqual(["100", "40"]);
    expect(read(result)).toMatch(/^- tokens: 100 in, 40 out$/m);
    expect(rt.agents.get("orion")!.status().tokens).toMatchObject({ today: 140, prompt: 100, completion: 40, total: 140 });
    const m = await metrics();
    expect(m).toContain('agentos_llm_tokens_total{agent="orion",type="prompt"} 100');
    expect(m).toContain('agentos_llm_tokens_total{agent="orion",type="completion"} 40');
    expect(m).toContain('agentos_llm_requests_total{agent="orion",outcome="ok"} 1');
  });

  it("keeps the last reply, without the key, in the dead letter of a task whose replies never fit", async () => {
    llm.script(() => ok(completion({ content: "I refuse to use JSON. key=sk-runtime-secret-123456" })));
    const { data, metrics } = await start(yaml([agent("orion")], "  max_attempts: 1\n"));
    writeFileSync(queue(data, "orion"), block("never-fits", "Answer in prose.").slice(1));
    await eventually(() => deadLetters(data).length === 1, 20_000, "dead letter");
    const letter = deadLetters(data)[0]!;
    expect(letter).toMatch(/- last_error: model reply is not a valid step after one repair request: no JSON object found/);
    expect(letter).toMatch(/## Last reply from the model \(bounded, secrets removed\)\n\n```text\nI refuse to use JSON\. key=\[REDACTED\]\n```/);
    expect(letter).not.toContain("sk-runtime-secret-123456");
    const m = await metrics();
    expect(m).toContain('agentos_llm_requests_total{agent="orion",outcome="invalid_reply"} 2');
    expect(m).toContain('agentos_llm_requests_total{agent="orion",outcome="repair"} 1');
  });

  it("pauses an agent whose budget.tokens_per_day is spent, keeps its tasks, and says why", async () => {
    llm.script((req) => ok(completion({ content: stepJson(req) }, { usage: { prompt_tokens: 900, completion_tokens: 300, total_tokens: 1200 } })));
    const { data, rt, metrics } = await start(yaml([agent("orion", "slow") + "    budget: { tokens_per_day: 1000 }\n"]));
    writeFileSync(queue(data, "orion"), (block("b-1", "First.") + block("b-2", "Second.")).slice(1));
    const orion = rt.agents.get("orion")!;
    await eventually(() => orion.isPaused, 20_000, "paused on the budget");
    expect(orion.status().paused?.reason).toMatch(/token budget is spent: 1200 of budget.tokens_per_day=1000/);
    expect(read(queue(data, "orion"))).toContain("## b-2");
    expect(deadLetters(data)).toEqual([]);
    expect(await metrics()).toContain('agentos_agent_paused_fault{agent="orion",fault="budget"} 1');
    expect(llm.requests.filter((r) => r.taskId === "b-2")).toHaveLength(0);
  });
});
