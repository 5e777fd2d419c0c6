// Memory stays bounded whatever a task file holds: a big queue.md is parsed slice by
// slice as its tasks are admitted, and the rest waits, unparsed, in the file. Checked by
// counting what is held (blocks parsed, tasks tracked), never by timing.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Runtime } from "../src/agent/runtime.js";
import { SLICE_BLOCKS } from "../src/source/task-source.js";
import { countEffects } from "./support/checker.js";
import { eventually, fsckStrict } from "./support/harness.js";
import { agent, block, inbox, queue, repo, runtimeHarness, yaml } from "./support/iac.js";
import { startLlmServer } from "./support/llm-server.js";

const llm = await startLlmServer();
const { start, dataDir } = runtimeHarness(llm);

/** The most blocks and tasks one agent held at any sample. */
function sampler(rt: Runtime, name: string) {
  const peak = { blocks: 0, tasks: 0 };
  const sample = () => {
    const a = rt.agents.get(name);
    if (!a) return;
    peak.blocks = Math.max(peak.blocks, a.heldBlocks());
    peak.tasks = Math.max(peak.tasks, a.outstanding);
  };
  const timer = setInterval(sample, 5);
  return { peak, sample, stop: () => clearInterval(timer) };
}

describe("a big queue.md", () => {
  it("drains 1,200 blocks written at once, each exactly once, never holding more than two slices of them", { timeout: 300_000 }, async () => {
    const data = dataDir(yaml([agent("orion", "fast")]));
    const ids = Array.from({ length: 1_200 }, (_, i) => `big-${String(i).padStart(4, "0")}`);
    // Written before the runtime starts: the first read already finds all of them.
    mkdirSync(repo(data, "orion"), { recursive: true });
    writeFileSync(queue(data, "orion"), ids.map((id) => block(id, `Do ${id}.`)).join(""));
    let s!: ReturnType<typeof sampler>;
    const { rt } = await start(data, { events: { taskDone: () => s?.sample() } });
    s = sampler(rt, "orion");
    try {
      // Counted as the agent counts them: a task whose commit is finished from its recorded
      // intent (after a failed group) is done too, though it sends no taskDone event.
      const orion = rt.agents.get("orion")!;
      await eventually(() => orion.finished.ok >= ids.length, 240_000, "all 1,200 done");
      s.sample();
      const bound = 2 * SLICE_BLOCKS + 40; // two slices, plus what the fast class admits: its depth, and as many answered ones waiting for their commit
      expect(s.peak.blocks, `blocks held at the peak (bound ${bound})`).toBeLessThanOrEqual(bound);
      expect(s.peak.tasks, `tasks tracked at the peak (bound ${bound})`).toBeLessThanOrEqual(bound);
      expect(s.peak.blocks, "it did read in slices").toBeGreaterThan(0);
      // Stopped first: a background git repack deletes loose objects that fsck has just listed.
      await rt.stop();
      const effects = countEffects(repo(data, "orion"), ids);
      expect(effects.lost).toEqual([]);
      expect(effects.duplicated).toEqual([]);
      fsckStrict(repo(data, "orion"));
    } finally {
      s.stop();
    }
  });

  it("with 100,000 tiny blocks holds one or two slices, starts on the first ones at once, and keeps the other agent working", { timeout: 180_000 }, async () => {
    const data = dataDir(yaml([agent("orion", "slow"), agent("iris")]));
    const tiny = Array.from({ length: 100_000 }, (_, i) => `## t${i}\ntask: x [delay:200]\n`).join("");
    mkdirSync(repo(data, "orion"), { recursive: true });
    writeFileSync(queue(data, "orion"), tiny);
    const { rt } = await start(data);
    const s = sampler(rt, "orion");
    try {
      writeFileSync(queue(data, "iris"), block("meanwhile", "Answer while orion's backlog waits."));
      await eventually(() => countEffects(repo(data, "iris"), ["meanwhile"]).lost.length === 0, 60_000, "iris's task done");
      await eventually(() => countEffects(repo(data, "orion"), ["t0", "t1"]).lost.length === 0, 60_000, "orion's first tasks done");
      s.sample();
      expect(s.peak.blocks).toBeLessThanOrEqual(2 * SLICE_BLOCKS + 5);
      expect(s.peak.tasks).toBeLessThanOrEqual(2 * SLICE_BLOCKS + 5);
    } finally {
      s.stop();
    }
  });
});

describe("many inbox files", () => {
  it("reads a message file only when there is room: 40 files of 100 blocks hold about two slices, each task done exactly once", { timeout: 300_000 }, async () => {
    const data = dataDir(yaml([agent("orion", "fast")]));
    const files = Array.from({ length: 40 }, (_, f) => Array.from({ length: 100 }, (_, i) => `m${String(f).padStart(2, "0")}-${String(i).padStart(3, "0")}`));
    const drop = (f: number) => writeFileSync(join(inbox(data, "orion"), `batch-${f}.md`), files[f]!.map((id) => block(id, `Do ${id}.`)).join(""));
    // 30 there before the start (all found by its first scan), 10 dropped while it works.
    mkdirSync(inbox(data, "orion"), { recursive: true });
    for (let f = 0; f < 30; f++) drop(f);
    let s!: ReturnType<typeof sampler>;
    const { rt } = await start(data, { events: { taskDone: () => s?.sample() } });
    s = sampler(rt, "orion");
    try {
      for (let f = 30; f < 40; f++) drop(f);
      const orion = rt.agents.get("orion")!;
      await eventually(() => orion.finished.ok >= 4_000, 240_000, "all 4,000 done");
      s.sample();
      const bound = 2 * SLICE_BLOCKS + 100 + 40; // two slices, one more file, what the fast class admits
      expect(s.peak.blocks, `blocks held at the peak (bound ${bound})`).toBeLessThanOrEqual(bound);
      expect(s.peak.tasks, `tasks tracked at the peak (bound ${bound})`).toBeLessThanOrEqual(bound);
      await rt.stop();
      const effects = countEffects(repo(data, "orion"), files.flat());
      expect(effects.lost).toEqual([]);
      expect(effects.duplicated).toEqual([]);
      fsckStrict(repo(data, "orion"));
    } finally {
      s.stop();
    }
  });
});
