// The dashboard's pure parts: prompt sections, what git history says about rewards and
// tokens, and the chart's rolling mean. The pages themselves are tested in a real browser
// (dashboard.e2e.test.ts), the routes over real HTTP (dashboard.api.test.ts).
import { describe, expect, it } from "vitest";
import { rollingMean } from "../dashboard/src/series.js";
import { rewardSeries, tokensSince, toHistoryCommit } from "../src/http/dashboard/history.js";
import { promptSections } from "../src/http/dashboard/views.js";
import { buildPrompt } from "../src/work/prompt.js";

describe("what the agent sees", () => {
  it("splits the prompt the builder made into its sections, with token counts that add up", () => {
    const built = buildPrompt({
      agent: "orion",
      systemPrompt: "You are orion. Backend engineer.",
      constraints: "# Constraints\n\n- at most 20 skills",
      task: { id: "first-task", text: "List your active constraints." },
      skills: [],
      skillTexts: {},
      activeGoals: ["ship the retry wrapper"],
      rewards: [{ reward: 1, task: "t0", at: "2026-04-29T10:00:00Z", reason: "done", audit: 0 }],
      reflections: [{ at: "2026-04-29T10:00:00Z", task: "t0", text: "test the jitter" }],
      segments: [],
      maxTokens: 6000,
    });
    const sections = promptSections(built.messages);
    expect(sections.map((s) => s.name)).toEqual([
      "System prompt",
      "Constraints",
      "Audit: where your own score and the audit disagreed (newest first)",
      "Active goals",
      "Recent rewards (newest first)",
      "Recent reflections (newest first)",
      "How to reply",
      "Task (user message)",
    ]);
    expect(sections[0]!.text).toBe("You are orion. Backend engineer.");
    expect(sections.at(-1)!.text).toMatch(/^## Task first-task\n\nList your active constraints\.$/);
    const sum = sections.reduce((n, s) => n + s.tokens, 0);
    expect(Math.abs(sum - built.tokens)).toBeLessThanOrEqual(sections.length);
  });
});

describe("git history for the dashboard", () => {
  const commit = (oid: string, message: string, at: string) => toHistoryCommit(oid, message, Date.parse(at) / 1000);

  it("reads subject, body and trailers of a task commit", () => {
    const c = commit("a".repeat(40), "orion(task): t1\n\nWrite a retry wrapper.\n\nSecond paragraph.\n\nTask-Id: t1\nReward: 1\nAudit: 0\n", "2026-04-29T10:00:00Z");
    expect(c).toEqual({ oid: "a".repeat(40), at: "2026-04-29T10:00:00Z", subject: "orion(task): t1", body: "Write a retry wrapper.\n\nSecond paragraph.", trailers: { "Task-Id": "t1", Reward: "1", Audit: "0" } });
    expect(commit("b".repeat(40), "init: agent filesystem\n", "2026-04-29T09:00:00Z")).toMatchObject({ subject: "init: agent filesystem", body: "", trailers: {} });
  });

  it("turns task commits into the reward series, oldest first, and skips the others", () => {
    const newestFirst = [
      commit("3".repeat(40), "orion(task): t2\n\nx\n\nTask-Id: t2\nReward: -1\n", "2026-04-29T10:02:00Z"),
      commit("2".repeat(40), "orion(escalation): t1 expired\n\nTask-Id: t1\n", "2026-04-29T10:01:00Z"),
      commit("1".repeat(40), "orion(task): t1\n\nx\n\nTask-Id: t1\nReward: 1\nAudit: 0\n", "2026-04-29T10:00:00Z"),
    ];
    expect(rewardSeries(newestFirst)).toEqual([
      { task: "t1", at: "2026-04-29T10:00:00Z", reward: 1, audit: 0 },
      { task: "t2", at: "2026-04-29T10:02:00Z", reward: -1 },
    ]);
  });

  it("adds up the tokens the provider reported since midnight, and says nothing when none were", () => {
    const newestFirst = [
      commit("3".repeat(40), "orion(task): t3\n\nx\n\nTask-Id: t3\nTokens-In: 1200\nTokens-Out: 300\n", "2026-04-29T10:00:00Z"),
      commit("2".repeat(40), "orion(task): t2\n\nx\n\nTask-Id: t2\n", "2026-04-29T09:00:00Z"),
      commit("1".repeat(40), "orion(task): t1\n\nx\n\nTask-Id: t1\nTokens-In: 5000\nTokens-Out: 5000\n", "2026-04-28T23:00:00Z"),
    ];
    expect(tokensSince(newestFirst, new Date("2026-04-29T00:00:00Z"))).toBe(1500);
    expect(tokensSince(newestFirst.slice(1, 2), new Date("2026-04-29T00:00:00Z"))).toBeUndefined();
  });
});

describe("the reward chart", () => {
  it("draws the rolling mean over the last ten rewards, over fewer at the start", () => {
    expect(rollingMean([1, 0, -1, 1])).toEqual([1, 0.5, 0, 0.25]);
    const eleven = [...Array(10).fill(1), -1];
    expect(rollingMean(eleven).at(-1)).toBe(0.8);
  });
});
