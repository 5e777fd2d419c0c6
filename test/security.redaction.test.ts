// Secrets: a provider that echoes the Authorization header cannot put the key in a log
// line, a dead letter, git history, reflections.md or an API answer; keys only go where
// they belong (the global key to the global base URL). Real HTTP on 127.0.0.1.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAgentsFile } from "../src/config/load.js";
import { providerFor } from "../src/config/provider.js";
import { Env } from "../src/config/schema.js";
import { startHttp } from "../src/http/server.js";
import { createLogger } from "../src/log.js";
import { addSecret, redact } from "../src/redact.js";
import { listDeadLetters } from "../src/store/dead-letters.js";
import { Runtime } from "../src/agent/runtime.js";
import { dataDirWith, eventually, git, removeDir, shellAppend } from "./support/harness.js";
import { answerFor, startLlmServer } from "./support/llm-server.js";
import { block, committed, queue, repo } from "./support/iac.js";

const KEY = "sk-live-0123456789abcdefghijklmnop";
const TOKEN = "api-token-0123456789abcdef0123456789";
const llm = await startLlmServer();
const other = await startLlmServer();
afterAll(async () => {
  await llm.close();
  await other.close();
});

describe("the redactor", () => {
  it("removes registered keys in every spelling a provider might echo, and header values it was not told about", () => {
    addSecret(KEY);
    for (const text of [
      `key=${KEY}`,
      JSON.stringify({ headers: { authorization: `Bearer ${KEY}` } }),
      `https://x/?k=${encodeURIComponent(KEY)}`,
      `Authorization: Bearer some-other-token-123456`,
      `{"x-api-key": "another-key-abcdef"}`,
      `https://user:pa55word@host/v1`,
    ]) {
      const out = redact(text);
      expect(out, text).not.toContain(KEY);
      expect(out, text).toContain("[REDACTED]");
      expect(out, text).not.toMatch(/some-other-token|another-key|pa55word/);
    }
    expect(redact("an ordinary sentence about keys")).toBe("an ordinary sentence about keys");
  });
});

describe("a provider that echoes the key", { timeout: 240_000 }, () => {
  it("keeps it out of logs, dead letters, git, reflections.md and API answers; the other agent keeps working", async () => {
    const data = dataDirWith(`agents:
  - name: orion
    persona: "p"
  - name: iris
    persona: "p"
tasks:
  settle_ms: 100
  max_attempts: 1
`);
    llm.script((req) => {
      if (req.taskId !== "leak-1") return undefined;
      const echoed = JSON.stringify({ received_headers: req.headers });
      return { status: 400, body: JSON.stringify({ error: { message: `invalid request; you sent ${echoed} with ${KEY}` } }) };
    });
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    const env = Env.parse({ LLM_API_KEY: KEY, LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2", AGENTOS_API_TOKEN: TOKEN });
    const rt = new Runtime({ dataDir: data, env, log });
    await rt.start();
    const close = await startHttp(rt, { addr: "127.0.0.1:0", token: TOKEN, dataDir: data, log });
    try {
      shellAppend(queue(data, "orion"), block("leak-1", "Trigger the echo."));
      shellAppend(queue(data, "iris"), block("fine-1", "Unrelated."));
      const dead = await eventually(async () => (await listDeadLetters(join(data, "shared", "iac", "dead_letters"))).find((d) => d.taskId === "leak-1"), 90_000, "leak-1's dead letter");
      await eventually(() => committed(data, "iris", "iris(task): fine-1"), 90_000, "iris's commit");
      await eventually(() => git(repo(data, "orion"), "log", "--format=%s").includes("escalation"), 30_000, "the escalation commit");
      // The provider really did echo it: the request carried the key.
      expect(llm.requests.find((r) => r.taskId === "leak-1")!.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(dead.lastError).toContain("[REDACTED]");
      const port = /REST API listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(lines.join("\n"))![1];
      const api = await fetch(`http://127.0.0.1:${port}/v1/dead-letters`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
      const task = await fetch(`http://127.0.0.1:${port}/v1/agents/orion/tasks/leak-1`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
      const places: Record<string, string> = {
        log: lines.join("\n"),
        "dead letters": readdirSync(join(data, "shared", "iac", "dead_letters")).map((n) => readFileSync(join(data, "shared", "iac", "dead_letters", n), "utf8")).join("\n"),
        "git log -p": git(repo(data, "orion"), "log", "-p", "--all"),
        "reflections.md": readFileSync(join(repo(data, "orion"), "reflections.md"), "utf8"),
        "GET /v1/dead-letters": api,
        "GET /v1/agents/orion/tasks/leak-1": task,
      };
      expect(api).toContain("leak-1");
      for (const [where, text] of Object.entries(places)) {
        expect(text, where).not.toContain(KEY);
        expect(text, where).not.toContain(TOKEN);
        expect(text, where).not.toContain(KEY.slice(3, 20));
      }
    } finally {
      await close();
      await rt.stop();
      removeDir(data);
    }
  });
});

describe("credentials go where they belong", { timeout: 240_000 }, () => {
  const yamlWith = (llmBlock: string) => `agents:\n  - name: orion\n    persona: "p"\n    llm:\n${llmBlock}`;

  it("sends the global key only to the global base URL: an agent's own base_url gets none unless asked", async () => {
    const data = dataDirWith(`agents:
  - name: orion
    persona: "p"
  - name: iris
    persona: "p"
    llm: { base_url: "${other.url}" }
tasks:
  settle_ms: 100
`);
    other.script((req) => ({ content: JSON.stringify(answerFor(req.taskId ?? "t", "")) }));
    const lines: string[] = [];
    const env = Env.parse({ LLM_API_KEY: KEY, LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2" });
    const rt = new Runtime({ dataDir: data, env, log: createLogger({ write: (l) => lines.push(l) }) });
    await rt.start();
    try {
      shellAppend(queue(data, "iris"), block("own-url", "Where does my key go?"));
      shellAppend(queue(data, "orion"), block("global-url", "And mine?"));
      await eventually(() => committed(data, "iris", "iris(task): own-url") && committed(data, "orion", "orion(task): global-url"), 90_000, "both commits");
      const toOther = other.requests.filter((r) => r.taskId === "own-url");
      expect(toOther.length).toBeGreaterThan(0);
      for (const r of toOther) expect(r.headers.authorization).toBeUndefined();
      expect(llm.requests.find((r) => r.taskId === "global-url")!.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(lines.join("\n")).toMatch(/agent 'iris': its own llm\.base_url .* gets no key/);
    } finally {
      await rt.stop();
      removeDir(data);
    }
  });

  it("validates keys and URLs: no AgentOS variable as api_key_env, only http(s), a warning for a key over plain http", () => {
    const env = Env.parse({ LLM_API_KEY: KEY, LLM_BASE_URL: "https://api.example.com/v1" });
    for (const [llmBlock, why] of [
      ["      api_key_env: AGENTOS_API_TOKEN\n", /not one of AgentOS's/],
      ["      api_key_env: LLM_API_KEY\n", /use send_global_key/],
      ["      api_key_env: PATH\n", /ending in KEY or TOKEN/],
      ["      base_url: file:///etc/passwd\n", /http:\/\/ or https:\/\//],
      ["      base_url: javascript:alert(1)\n", /http:\/\/ or https:\/\//],
    ] as const) {
      const r = parseAgentsFile(yamlWith(llmBlock), "agents.yaml");
      expect(r.ok, llmBlock).toBe(false);
      expect(!r.ok && r.problems.map((p) => p.message).join("\n"), llmBlock).toMatch(why);
    }
    const opted = parseAgentsFile(yamlWith("      base_url: http://10.0.0.5:11434/v1\n      send_global_key: true\n"), "agents.yaml");
    if (!opted.ok) throw new Error(JSON.stringify(opted.problems));
    const choice = providerFor(opted.value.agents[0]!, env, {});
    expect(choice.apiKey).toBe(KEY);
    expect(choice.warnings.join("\n")).toMatch(/LLM_API_KEY is sent over plain http to http:\/\/10\.0\.0\.5:11434/);
    const own = parseAgentsFile(yamlWith("      base_url: http://localhost:11434/v1\n      api_key_env: OLLAMA_KEY\n"), "agents.yaml");
    if (!own.ok) throw new Error(JSON.stringify(own.problems));
    const ownChoice = providerFor(own.value.agents[0]!, env, { OLLAMA_KEY: "ollama-key-123456" });
    expect(ownChoice).toMatchObject({ apiKey: "ollama-key-123456", keyFrom: "OLLAMA_KEY", warnings: [] });
  });
});
