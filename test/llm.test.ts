// The provider client against the scripted OpenAI-compatible server on 127.0.0.1.
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { ProviderModel } from "../src/work/llm/client.js";
import { stepJsonSchema } from "../src/work/llm/schema.js";
import { validateStep } from "../src/work/llm/salvage.js";
import { StepError } from "../src/work/llm/types.js";
import { createLogger } from "../src/log.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";

let server: LlmServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function model(url: string, lines: string[], extra: Partial<ConstructorParameters<typeof ProviderModel>[0]> = {}) {
  return new ProviderModel({
    baseUrl: url,
    apiKey: "sk-very-secret",
    model: "scripted",
    maxTokens: 256,
    timeoutMs: 2_000,
    maxRetries: 2,
    log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    sleep: async () => {},
    ...extra,
  });
}
const ask = (id: string, text = "do it") => [
  { role: "system" as const, content: "You are a test." },
  { role: "user" as const, content: `## Task ${id}\n\n${text}` },
];

describe("LLM client", () => {
  it("sends response_format json_schema generated from the zod schema, with Bearer auth", async () => {
    server = await startLlmServer();
    const lines: string[] = [];
    const r = await model(server.url, lines).step(ask("t1", "[skill:retry-with-backoff] go"));
    expect(r.response.skill?.name).toBe("retry-with-backoff");
    const req = server.requests[0]!;
    expect(req.headers.authorization).toBe("Bearer sk-very-secret");
    expect(req.body.response_format).toEqual({ type: "json_schema", json_schema: { name: "agentos_step", strict: true, schema: stepJsonSchema } });
    expect(req.body.max_tokens).toBe(256);
    expect(lines.join("\n")).not.toContain("sk-very-secret");
  });

  it("falls back to json_object, then to plain text with JSON extraction, when the provider rejects json_schema", async () => {
    server = await startLlmServer({ rejectJsonSchema: true });
    const lines: string[] = [];
    const m = model(server.url, lines);
    const r = await m.step(ask("t2"));
    expect(r.response.reward).toBe(1);
    expect(server.requests.map((q) => q.body.response_format?.type ?? "none")).toEqual(["json_schema", "json_object"]);
    expect(lines.join("\n")).toMatch(/rejected response_format json_schema; falling back to json_object/);
    // json_object answered with a fenced JSON block (as many models do): extracted.
    await m.step(ask("t3"));
    expect(server.requests.at(-1)!.body.response_format).toEqual({ type: "json_object" });
  });

  it("asks once for a repair when the reply is not valid, then gives up with the schema error", async () => {
    server = await startLlmServer();
    const lines: string[] = [];
    const r = await model(server.url, lines).step(ask("t4", "[garbagex1] go"));
    expect(r.requests).toBe(2);
    expect(server.requests[1]!.body.messages.at(-1).content).toMatch(/^Your reply could not be used: no JSON object found/);
    const err = await model(server.url, lines).step(ask("t5", "[bad-schema] go")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepError);
    expect((err as StepError).kind).toBe("retry");
    expect((err as StepError).message).toMatch(/not a valid step after one repair request: .*answer/s);
  });

  it("honours Retry-After on 429 and gives up after LLM_MAX_RETRIES", async () => {
    server = await startLlmServer();
    const waits: number[] = [];
    server.queueReplies({ status: 429, headers: { "retry-after": "7" }, body: "{}" });
    const r = await model(server.url, [], { sleep: async (ms) => void waits.push(ms) }).step(ask("t6"));
    expect(r.response.reward).toBe(1);
    expect(waits).toEqual([7000]);
    const err = await model(server.url, [], { sleep: async (ms) => void waits.push(ms) }).step(ask("t7", "[status:503] go")).catch((e: unknown) => e);
    expect((err as StepError).message).toMatch(/after 3 tries: HTTP 503/);
  });

  it("pauses (does not burn the task) on 401, 403 and 404 with what to fix", async () => {
    server = await startLlmServer();
    for (const [status, fix] of [
      [401, /refused the API key \(HTTP 401\): set LLM_API_KEY/],
      [403, /refused the API key \(HTTP 403\)/],
      [404, /model 'scripted' or its endpoint was not found \(HTTP 404.*check LLM_MODEL and LLM_BASE_URL/],
    ] as const) {
      server.queueReplies({ status, body: "{}" });
      const err = (await model(server.url, []).step(ask(`p${status}`)).catch((e: unknown) => e)) as StepError;
      expect(err.kind).toBe("pause");
      expect(err.message).toMatch(fix);
    }
  });

  it("times out a hanging provider after LLM_TIMEOUT and retries", async () => {
    server = await startLlmServer();
    server.queueReplies({ hang: true });
    const lines: string[] = [];
    const r = await model(server.url, lines, { timeoutMs: 300 }).step(ask("t8"));
    expect(r.requests).toBe(2);
    expect(lines.join("\n")).toMatch(/no answer within LLM_TIMEOUT \(0.3 s\)/);
  });

  it("leaves nothing behind on the agent's signal once a request is over, and still stops a request under way when it aborts", async () => {
    server = await startLlmServer();
    const lines: string[] = [];
    const m = model(server.url, lines);
    const agent = new AbortController();
    for (let i = 0; i < 30; i++) await m.step(ask(`s${i}`), agent.signal);
    // One listener per request left on a signal that lives as long as the agent would be a leak.
    expect(getEventListeners(agent.signal, "abort")).toHaveLength(0);
    server.queueReplies({ hang: true });
    const hanging = m.step(ask("s-hang"), agent.signal);
    await new Promise((r) => setTimeout(r, 100));
    agent.abort(new Error("shutting down"));
    await expect(hanging).rejects.toThrow();
    expect(server.requests.length).toBe(31);
  });

  it("validates absent optional keys as null and string rewards as numbers", () => {
    const v = validateStep({ answer: "a", reward: "+1", reward_reason: "r" });
    expect(v.ok && v.value).toMatchObject({ reward: 1, skill: null, handoff: null });
    const bad = validateStep({ answer: "a", reward: 2, reward_reason: "r" });
    expect(bad.ok).toBe(false);
  });
});
