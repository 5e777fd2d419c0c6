import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatProblem, loadEnv, parseAgentsFile } from "../src/config/load.js";
import { configReference } from "../src/config/reference.js";
import { ROOT, tempDir } from "./support/data.js";

describe("agents.yaml", () => {
  it("applies the documented defaults", () => {
    const r = parseAgentsFile("agents:\n  - name: orion\n    persona: x\n", "agents.yaml");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.agents[0]).toMatchObject({ throughput_class: "medium", hints: [], goals: [], segments: [] });
    expect(r.value.throughput_classes.fast).toEqual({ concurrency: 4, max_queue_depth: 20 });
    expect(r.value.iac).toMatchObject({ default_message_ttl: 300, max_hops: 3, dead_letter_path: "shared/iac/dead_letters/" });
    expect(r.value.skills).toEqual({ max_entries: 20, decay_halflife_days: 14 });
    expect(r.value.prompt.max_tokens).toBe(6000);
  });

  it("points every problem at file:line:column with what was expected", () => {
    const yaml = ["agents:", "  - name: Orion", "    persona: x", "    throughput_class: turbo", "skills:", "  max_entries: -1", "colour: blue", ""].join("\n");
    const r = parseAgentsFile(yaml, "data/agents.yaml");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map(formatProblem)).toEqual([
      "data/agents.yaml:2:11: agents[0].name: Expected an agent name to be 1-63 lowercase letters, digits, '-' or '_' (starting with a letter or digit)",
      'data/agents.yaml:4:23: agents[0].throughput_class: Invalid option: expected one of "slow"|"medium"|"fast"',
      "data/agents.yaml:6:16: skills.max_entries: Too small: expected number to be >=1",
      "data/agents.yaml:7:1: unknown field 'colour'",
    ]);
  });

  it("says what it found when a value has the wrong type, and reports a YAML syntax error once", () => {
    const r = parseAgentsFile("agents:\n  - name: orion\n    persona: x\n    domain: 42\ntasks:\n  max_attempts: three\n", "agents.yaml");
    expect(!r.ok && r.problems.map(formatProblem)).toEqual([
      "agents.yaml:4:13: agents[0].domain: expected string, got 42",
      'agents.yaml:6:17: tasks.max_attempts: expected number, got "three"',
    ]);
    const broken = parseAgentsFile("agents:\n  - name: orion\n    persona: [oops\n    domain: x\n", "agents.yaml");
    expect(!broken.ok && broken.problems).toHaveLength(1);
    // Where the `[` was opened, not where the parser noticed.
    expect(!broken.ok && formatProblem(broken.problems[0]!)).toBe(
      "agents.yaml:3:14: invalid YAML: this `[` is never closed (expected `]` before line 4): Flow sequence in block collection must be sufficiently indented and end with a ]",
    );
    const atEnd = parseAgentsFile("agents:\n  - name: orion\n    llm: { model: x\n", "agents.yaml");
    expect(!atEnd.ok && formatProblem(atEnd.problems[0]!)).toMatch(/^agents\.yaml:3:10: invalid YAML: this `\{` is never closed \(expected `\}` before the end of the file\)/);
  });

  it("reports a missing agents list and empty files clearly", () => {
    const r = parseAgentsFile("", "agents.yaml");
    expect(!r.ok && r.problems[0]!.message).toBe("agents: expected array, got nothing");
  });
});

describe("environment", () => {
  it("reads the key from LLM_API_KEY_FILE (Docker secrets) and validates numbers", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "key"), "sk-from-file\n");
    const ok = loadEnv({ LLM_API_KEY_FILE: join(dir, "key"), LLM_TIMEOUT: "5" });
    expect(ok.ok && ok.value).toMatchObject({ LLM_API_KEY: "sk-from-file", LLM_TIMEOUT: 5, LLM_MODEL: "gpt-4o" });
    const bad = loadEnv({ LLM_MAX_TOKENS: "lots" });
    expect(!bad.ok && bad.problems[0]!.message).toMatch(/^LLM_MAX_TOKENS: /);
    const missing = loadEnv({ LLM_API_KEY_FILE: join(dir, "nope") });
    expect(!missing.ok && missing.problems[0]!.message).toBe("LLM_API_KEY_FILE cannot be read (ENOENT)");
  });
});

describe("configuration reference", () => {
  it("docs/configuration.md holds the reference generated from the schemas", () => {
    const doc = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
    expect(doc).toContain(configReference());
  });
});
