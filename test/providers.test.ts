// The client against the answers real providers give (test/support/provider-shapes.ts
// names each public source): what is negotiated, adapted, salvaged, paused or counted.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProviderModel, type ProviderOptions } from "../src/work/llm/client.js";
import { forgetNegotiations } from "../src/work/llm/negotiation.js";
import { authHeader } from "../src/work/llm/transport.js";
import { parseDeadLetter, renderDeadLetter } from "../src/store/dead-letters.js";
import { StepError, type RequestOutcome } from "../src/work/llm/types.js";
import { createLogger } from "../src/log.js";
import { startLlmServer, type LlmServer, type RecordedRequest, type Reply } from "./support/llm-server.js";
import { completion, DECOY, json, ok, SOURCES, stepFor, stepJson } from "./support/provider-shapes.js";

let server: LlmServer;
beforeEach(async () => {
  forgetNegotiations();
  server = await startLlmServer();
});
afterEach(async () => {
  await server.close();
});

function model(opts: Partial<ProviderOptions> = {}, url = server.url) {
  const lines: string[] = [];
  const outcomes: RequestOutcome[] = [];
  const m = new ProviderModel({
    baseUrl: url,
    apiKey: "sk-test-0123456789abcdef",
    model: "m",
    maxTokens: 512,
    timeoutMs: 2_000,
    maxRetries: 2,
    temperature: 0.2,
    log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    sleep: async () => {},
    onRequest: (o) => void outcomes.push(o),
    ...opts,
  });
  return { m, lines, outcomes, log: () => lines.join("\n") };
}
const ask = (id: string, text = "do it") => [
  { role: "system" as const, content: "You are a test." },
  { role: "user" as const, content: `## Task ${id}\n\n${text}` },
];
const fails = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a StepError"); }, (e: unknown) => e as StepError);
const as = (fn: (req: RecordedRequest, n: number) => Reply | undefined) => server.script(fn);

describe("provider shapes", () => {
  it(`OpenAI gpt-5 / o-series: max_tokens and temperature refused, adapted once and remembered (${SOURCES.openaiMaxTokens}; ${SOURCES.openaiTemperature})`, async () => {
    as((req) => {
      if ("max_tokens" in req.body) return json(400, { error: { message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", type: "invalid_request_error", param: "max_tokens", code: "unsupported_parameter" } });
      if ("temperature" in req.body) return json(400, { error: { message: "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.", type: "invalid_request_error", param: "temperature", code: "unsupported_value" } });
      return ok(completion({ content: stepJson(req) }, { usage: { prompt_tokens: 120, completion_tokens: 300, total_tokens: 420, completion_tokens_details: { reasoning_tokens: 256 } } }));
    });
    const { m, log } = model();
    const results = await Promise.all(["t1", "t2", "t3", "t4"].map((id) => m.step(ask(id))));
    expect(results.map((r) => r.response.reward)).toEqual([1, 1, 1, 1]);
    expect(results[0]!.usage).toEqual({ prompt: 120, completion: 300, total: 420, reasoning: 256 });
    const last = server.requests.at(-1)!.body;
    expect(last.max_completion_tokens).toBe(512);
    expect("max_tokens" in last || "temperature" in last).toBe(false);
    // Each adaptation logged once, however many requests raced into it.
    expect(log().match(/refuses max_tokens/g)).toHaveLength(1);
    expect(log().match(/refuses temperature 0.2/g)).toHaveLength(1);
    // Remembered: a second agent's client for the same (base URL, model) starts adapted.
    const before = server.requests.length;
    await model().m.step(ask("t5"));
    expect(server.requests.length - before).toBe(1);
  });

  it(`Azure OpenAI: deployment URL keeps api-version and sends api-key on azure.com; a content filter refusal is the task's fault (${SOURCES.azureV1}; ${SOURCES.azureContentFilter})`, async () => {
    as((req) => {
      if (/forbidden words/.test(req.taskText ?? "")) {
        return json(400, { error: { message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.", type: null, param: "prompt", code: "content_filter", status: 400 } });
      }
      return ok(completion({ content: stepJson(req) }));
    });
    // The test host stands in for <resource>.openai.azure.com, reached through an explicit port.
    const azureLike = server.url.replace("/v1", "/openai/deployments/gpt4o?api-version=2024-10-21");
    const { m } = model({}, azureLike);
    await m.step(ask("a1"));
    expect(server.requests[0]!.path).toBe("/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21");
    expect(server.requests[0]!.headers.authorization).toBe("Bearer sk-test-0123456789abcdef"); // not an azure.com host
    expect(authHeader(new URL("https://res.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21"), "k")).toEqual({ "api-key": "k" });
    expect(authHeader(new URL("https://res.openai.azure.com/openai/v1/"), "k")).toEqual({ authorization: "Bearer k" });
    const err = await fails(m.step(ask("a2", "say forbidden words")));
    expect(err.kind).toBe("retry");
    expect(err.message).toMatch(/content filter refused this task .*content management policy/);
  });

  it(`Anthropic's OpenAI-compatible endpoint: response_format ignored (prose and a fence come back), 529 overloaded retried (${SOURCES.anthropicCompat}; ${SOURCES.anthropicOverloaded})`, async () => {
    let n = 0;
    as((req) => {
      if (n++ === 0) return json(529, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
      return ok(completion({ content: `I'll structure this as requested {with care}.\n\n\`\`\`json\n${JSON.stringify(stepFor(req), null, 2)}\n\`\`\`\n\nLet me know if you need more.` }));
    });
    const { m, outcomes } = model();
    const r = await m.step(ask("c1", "[skill:claude-way] go"));
    expect(r.response.skill?.name).toBe("claude-way");
    expect(outcomes).toEqual(["http_5xx", "ok"]);
    expect(server.requests[1]!.body.response_format.type).toBe("json_schema"); // accepted (ignored), so kept
  });

  it(`Ollama: an unknown model pauses with how to fix it; a pulled one answers (${SOURCES.ollamaNotFound}; ${SOURCES.ollamaCompat})`, async () => {
    let pulled = false;
    as((req) => (pulled ? ok(completion({ content: stepJson(req) }, { usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 } })) : json(404, { error: { message: 'model "llama3.1:8b" not found, try pulling it first', type: "api_error", param: null, code: null } })));
    const { m } = model({ model: "llama3.1:8b" });
    const err = await fails(m.step(ask("o1")));
    expect(err.kind).toBe("pause");
    expect(err.message).toMatch(/model 'llama3.1:8b' or its endpoint was not found \(HTTP 404.*ollama pull.*the provider said: "model "llama3.1:8b" not found, try pulling it first"/s);
    pulled = true;
    expect((await m.step(ask("o1"))).usage?.total).toBe(70);
  });

  it(`vLLM: xgrammar refuses the schema in vLLM's own error shape: json_object from then on; reasoning_content is not the answer (${SOURCES.vllmXgrammar}; ${SOURCES.vllmErrorShape}; ${SOURCES.vllmReasoning})`, async () => {
    as((req) => {
      if (req.body.response_format?.type === "json_schema") return json(400, { object: "error", message: "The provided JSON schema contains features not supported by xgrammar.", type: "BadRequestError", param: null, code: 400 });
      return ok(completion({ reasoning_content: DECOY, content: stepJson(req) }));
    });
    const { m, log, outcomes } = model();
    const r = await m.step(ask("v1"));
    expect(r.response.answer).not.toBe("DECOY");
    expect(log()).toMatch(/rejected response_format json_schema; falling back to json_object .*not supported by xgrammar/);
    expect(outcomes).toContain("format_fallback");
    await m.step(ask("v2"));
    expect(server.requests.map((q) => q.body.response_format?.type)).toEqual(["json_schema", "json_object", "json_object"]);
  });

  it(`llama.cpp server: 503 while the model loads is retried; a <think> block that quotes a step is skipped (${SOURCES.llamacppLoading}; ${SOURCES.llamacppThink})`, async () => {
    let n = 0;
    as((req) => (n++ < 2 ? json(503, { error: { code: 503, message: "Loading model", type: "unavailable_error" } }) : ok(completion({ content: `<think>\n${DECOY}\n</think>\n\n${stepJson(req)}` }))));
    const { m, log } = model();
    const r = await m.step(ask("l1"));
    expect(r.response.answer).toMatch(/^Scripted answer for l1/);
    expect(log()).toMatch(/HTTP 503: Loading model\); retry 1\/2/);
  });

  it(`llama-cpp-python: a 500 that refuses json_schema is a format refusal, not an outage (${SOURCES.llamacppPython})`, async () => {
    as((req) => (req.body.response_format?.type === "json_schema" ? json(500, { error: { code: 500, message: 'response_format type must be one of "text" or "json_object", but got: json_schema', type: "server_error" } }) : ok(completion({ content: stepJson(req) }))));
    const { m } = model();
    await m.step(ask("p1"));
    expect(server.requests.map((q) => q.body.response_format?.type)).toEqual(["json_schema", "json_object"]);
  });

  it(`LiteLLM: UnsupportedParamsError for temperature: sent without it from then on (${SOURCES.litellm})`, async () => {
    as((req) => ("temperature" in req.body
      ? json(400, { error: { message: "litellm.UnsupportedParamsError: gpt-5-nano doesn't support temperature=0.2. Only temperature=1 is supported. To drop unsupported params set `litellm.drop_params = True`", type: "None", param: "None", code: "400" } })
      : ok(completion({ content: stepJson(req) }))));
    const { m, log } = model({ model: "gpt-5-nano" });
    await m.step(ask("g1"));
    expect(log()).toMatch(/model gpt-5-nano refuses temperature 0.2 .*sending none/);
    expect("temperature" in server.requests.at(-1)!.body).toBe(false);
  });

  it(`Groq: json_validate_failed carries the model's output: it is salvaged, not lost (${SOURCES.groq})`, async () => {
    as((req) => json(400, { error: { message: "Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for more details.", type: "invalid_request_error", code: "json_validate_failed", failed_generation: "```json\n" + stepJson(req) + "\n```" } }));
    const { m } = model();
    const r = await m.step(ask("q1"));
    expect(r.response.reward).toBe(1);
    expect(server.requests).toHaveLength(1); // no downgrade: the format was not refused, the output was
  });

  it(`DeepSeek: 422 json_schema unavailable → json_object; reasoning_content ignored; 402 Insufficient Balance pauses (${SOURCES.deepseekSchema}; ${SOURCES.deepseekReasoner}; ${SOURCES.deepseekBalance})`, async () => {
    let broke = false;
    as((req) => {
      if (broke) return json(402, { error: { message: "Insufficient Balance", type: "unknown_error", param: null, code: "invalid_request_error" } });
      if (req.body.response_format?.type === "json_schema") return json(422, { error: { message: "Failed to deserialize the JSON body into the target type: response_format: response_format.type `json_schema` is unavailable now at line 1 column 1193", type: "invalid_request_error", param: null, code: "invalid_request_error" } });
      return ok(completion({ reasoning_content: DECOY, content: stepJson(req) }, { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_cache_hit_tokens: 0 } }));
    });
    const { m } = model({ model: "deepseek-reasoner" });
    const r = await m.step(ask("d1"));
    expect(r.response.answer).not.toBe("DECOY");
    expect(server.requests.map((q) => q.body.response_format?.type)).toEqual(["json_schema", "json_object"]);
    broke = true;
    const err = await fails(m.step(ask("d2")));
    expect(err.kind).toBe("pause");
    expect(err.message).toMatch(/no credit left \(HTTP 402\).*"Insufficient Balance"/);
    expect(err.fault).toBe("credit");
  });

  it(`OpenRouter: an error inside an HTTP 200 keeps its message and is retried (${SOURCES.openrouterErrors})`, async () => {
    let n = 0;
    as((req) => (n++ === 0 ? ok(JSON.stringify({ error: { code: 502, message: "Upstream provider returned an invalid response", metadata: { raw: "upstream timeout" } } })) : ok(completion({ content: stepJson(req) }))));
    const { m, log } = model();
    await m.step(ask("r1"));
    expect(log()).toMatch(/HTTP 502: Upstream provider returned an invalid response \(upstream: upstream timeout\)\); retry 1/);
  });

  it(`Mistral's reasoning models: content as parts; thinking parts ignored, text parts joined (${SOURCES.mistralThinking})`, async () => {
    as((req) => {
      const text = stepJson(req);
      return ok(completion({ content: [{ type: "thinking", thinking: [{ type: "text", text: DECOY }] }, { type: "text", text: text.slice(0, 20) }, { type: "text", text: text.slice(20) }] }));
    });
    const r = await model({ model: "magistral-medium-latest" }).m.step(ask("s1"));
    expect(r.response.answer).toMatch(/^Scripted answer for s1/);
  });
});

describe("negotiation, salvage and faults", () => {
  it("two concurrent rejections of json_schema downgrade once, and the log says only what was refused", async () => {
    as((req) => (req.body.response_format?.type === "json_schema" ? json(400, { error: { message: "json_schema is not supported" } }) : ok(completion({ content: stepJson(req) }))));
    const { m, log } = model();
    await Promise.all([m.step(ask("x1")), m.step(ask("x2"))]);
    expect(log().match(/rejected response_format/g)).toHaveLength(1);
    expect(log()).not.toMatch(/json_object.*(rejected|refused)/);
    expect(server.requests.filter((q) => q.body.response_format?.type === "json_object")).toHaveLength(2);
  });

  it("a forced response_format is never downgraded: a refusal pauses and says how to fix it", async () => {
    as(() => json(400, { error: { message: "response_format json_schema is not supported" } }));
    const err = await fails(model({ responseFormat: "json_schema" }).m.step(ask("f1")));
    expect(err.kind).toBe("pause");
    expect(err.message).toMatch(/response_format json_schema is forced .* set it to auto/);
  });

  it("keeps the answer when prose with braces comes first, extra keys are present and the skill lacks steps and tags", async () => {
    as((req) => {
      const step = { ...stepFor(req), confidence: 0.9, skill: { name: "braces", summary: "x" }, goals: "not an object" };
      return ok(completion({ content: `Sure {here it is}: { and then ${JSON.stringify(step)} done}` }));
    });
    const { m, log } = model();
    const r = await m.step(ask("k1"));
    expect(r.response.skill).toEqual({ name: "braces", summary: "x", steps: [], tags: [] });
    expect(r.response.goals).toBeNull();
    expect(r.response.reflection).toMatch(/^\[format\] My reply's 'goals' was malformed and dropped/);
    expect(log()).toMatch(/WARN .*dropped the malformed 'goals' of the reply/);
    expect(log()).toMatch(/DEBUG .*ignored keys the step does not have: confidence/);
  });

  it('reads "+1" and 1.0 as rewards but asks again for an ambiguous 7', async () => {
    as((req, n) => ok(completion({ content: JSON.stringify({ ...stepFor(req), reward: n === 0 ? "+1" : n === 1 ? 7 : 1.0 }) })));
    const { m } = model();
    expect((await m.step(ask("w1"))).response.reward).toBe(1);
    const r = await m.step(ask("w2"));
    expect(r.requests).toBe(2);
    expect(server.requests[2]!.body.messages.at(-1).content).toMatch(/"reward" must be -1, 0 or 1, got 7/);
  });

  it("a reply cut by finish_reason length says so, and the repair asks for a shorter reply", async () => {
    as(() => ok(completion({ content: '{"answer": "a very long answer that never en' }, { finish: "length" })));
    const { m, lines } = model({ maxTokens: 100 });
    const err = await fails(m.step(ask("z1")));
    expect(err.kind).toBe("retry");
    expect(err.message).toMatch(/^reply cut at LLM_MAX_TOKENS=100; raise it/);
    expect(lines.join("\n")).toMatch(/not a valid step \(reply cut at LLM_MAX_TOKENS=100; raise it\)/);
    const repair = server.requests[1]!.body.messages;
    expect(repair.at(-1).role).toBe("user");
    expect(repair.at(-1).content).toMatch(/cut off at the token limit of 100 .* much shorter/);
    expect(err.reply).toContain("a very long answer");
  });

  it("keeps the raw reply for evidence, bounded and without the key, and at DEBUG", async () => {
    as(() => ok(completion({ content: `not json; my key is sk-test-0123456789abcdef and ${"x".repeat(10_000)}` })));
    const { m, log } = model();
    const err = await fails(m.step(ask("e1")));
    expect(err.reply!.length).toBeLessThan(4_200);
    expect(err.reply).not.toContain("sk-test-0123456789abcdef");
    expect(log()).toMatch(/DEBUG .*the reply was: not json; my key is \[REDACTED\]/);
    expect(log()).not.toContain("sk-test-0123456789abcdef");
  });

  it("an unreachable provider, persistent 5xx and a refusal seen twice in a row pause; one unknown refusal counts against the task", async () => {
    const dead = model({ maxRetries: 1 }, "http://127.0.0.1:9/v1");
    const unreachable = await fails(dead.m.step(ask("u1")));
    expect(unreachable.kind).toBe("pause");
    expect(unreachable.message).toMatch(/cannot be reached after 2 tries: ECONNREFUSED/);
    expect(unreachable.fault).toBe("unreachable");
    expect(dead.outcomes).toEqual(["network", "network"]);
    as(() => json(500, { error: { message: "boom" } }));
    expect((await fails(model().m.step(ask("u2")))).message).toMatch(/failed after 3 tries: HTTP 500: boom/);
    as(() => json(400, { error: { message: "frobnicate must be set" } }));
    const { m } = model();
    expect((await fails(m.step(ask("u3")))).kind).toBe("retry");
    const second = await fails(m.step(ask("u4")));
    expect(second.kind).toBe("pause");
    expect(second.message).toMatch(/refuses every request .*frobnicate must be set/);
  });

  it("pauses before a request once budget.tokens_per_day is spent, and counts the day in UTC", async () => {
    as((req) => ok(completion({ content: stepJson(req) }, { usage: { prompt_tokens: 600, completion_tokens: 500, total_tokens: 1100 } })));
    let now = new Date("2026-05-01T23:00:00Z");
    const { m } = model({ tokensPerDay: 1000, now: () => now });
    await m.step(ask("b1"));
    const err = await fails(m.step(ask("b2")));
    expect(err.kind).toBe("pause");
    expect(err.message).toMatch(/token budget is spent: 1100 of budget.tokens_per_day=1000/);
    expect(err.fault).toBe("budget");
    expect(server.requests).toHaveLength(1);
    expect(m.tokens()).toMatchObject({ today: 1100, total: 1100, perDay: 1000 });
    now = new Date("2026-05-02T00:00:01Z");
    await m.step(ask("b2"));
    expect(m.tokens()).toMatchObject({ today: 1100, total: 2200 });
  });
});

describe("evidence in dead letters", () => {
  it("keeps the last reply after the original block, fenced so its own fences cannot end it, and reads it back", () => {
    const reply = "Here:\n```json\n{\"answer\": 42}\n```\n## not a heading";
    const original = "## t1\ntask: do it\n";
    const text = renderDeadLetter({ reason: "delivery_limit", agent: "orion", taskId: "t1", source: "agents/orion/queue.md:1", firstSeen: "2026-05-01T00:00:00Z", at: "2026-05-01T00:01:00Z", attempts: 3, lastError: "model reply is not a valid step", original, lastReply: reply });
    expect(text.indexOf("## Original block")).toBeLessThan(text.indexOf("## Last reply from the model"));
    const back = parseDeadLetter(text, "x.md")!;
    expect(back.original).toBe(original);
    expect(back.lastReply).toBe(reply);
  });
});
