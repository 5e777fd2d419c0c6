// The learning model as pure functions over file texts, with an injected clock:
// skills that earn and decay, goals, honest rewards, the audit, the watchdog and the
// bounded prompt. No disk, no network: these are the rules the runtime applies.
import { describe, expect, it } from "vitest";
import { AgentsFile } from "../src/config/schema.js";
import { applyOutcome, type Applied, type LearningFiles, type Outcome } from "../src/apply/apply.js";
import { auditOutcome, AUDIT_RULES, fallbackAudit, graderMessages, llmGrader, parseGrade, type AuditInput } from "../src/apply/audit.js";
import { addGoal, completeGoal, emptyGoals } from "../src/apply/goals.js";
import { estimateTokens } from "../src/store/markdown.js";
import { buildPrompt, cutAtParagraph, type PromptInput } from "../src/work/prompt.js";
import { appendReflection } from "../src/apply/reflections.js";
import { archivePath, effectiveEvidence, pruneSkills, weakestFirst } from "../src/apply/skills.js";
import { parseGoals, renderGoals } from "../src/store/goals.js";
import { emptyReflections, parseReflections } from "../src/store/reflections.js";
import { emptyRewards, parseRewards } from "../src/store/rewards.js";
import { emptySkills, noteSkillReuse, parseSkills, renderSkills, skillsOf, type SkillEntry } from "../src/store/skills.js";
import type { StepResponse } from "../src/work/llm/schema.js";
import { resultFile } from "../src/store/layout.js";

const T0 = new Date("2026-04-01T00:00:00Z");
const DAY = 86_400_000;
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const iso = (days: number) => at(days).toISOString().replace(/\.\d{3}Z$/, "Z");

const config = (extra: Record<string, unknown> = {}) => AgentsFile.parse({ agents: [{ name: "orion", persona: "Backend engineer." }], ...extra });

const fresh = (goals: string[] = []): LearningFiles => ({
  skills: emptySkills(),
  goals: emptyGoals(goals, T0),
  rewards: emptyRewards(),
  reflections: emptyReflections(),
  skillTexts: {},
});

const response = (over: Partial<StepResponse> = {}): StepResponse => ({
  answer: "Done: parameterised the query and added a regression test for it.",
  reward: 1,
  reward_reason: "the task was completed as asked",
  skill: null,
  reflection: null,
  goals: null,
  handoff: null,
  share: null,
  ...over,
});

const skillClaim = (name: string, steps = ["read the input", "apply the pattern", "check the result"]) => ({
  name,
  summary: `How to do ${name}`,
  steps,
  tags: ["test"],
});

const outcome = (id: string, now: Date, r: Partial<StepResponse> = {}, usedSkills: string[] = []): Outcome => ({
  agent: "orion",
  task: { id, text: `Task ${id}: do the thing`, source: "queue" },
  response: response(r),
  model: "scripted",
  attempt: 1,
  usedSkills,
  now,
});

/** Applies an outcome and returns the next file texts, as the runtime would after writing them. */
function step(files: LearningFiles, o: Outcome, cfg = config()): { files: LearningFiles; applied: Applied } {
  const applied = applyOutcome(files, o, cfg);
  const next: LearningFiles = { ...files, skillTexts: { ...files.skillTexts }, archived: [...(files.archived ?? [])] };
  for (const plan of applied.commits) {
    for (const [path, text] of Object.entries(plan.files)) {
      if (path === "skills.md") next.skills = text!;
      else if (path === "goals.md") next.goals = text!;
      else if (path === "rewards.md") next.rewards = text!;
      else if (path === "reflections.md") next.reflections = text!;
      else if (path.startsWith("skills/archive/")) next.archived!.push(path);
      else if (path.startsWith("skills/")) {
        const slug = path.slice(7, -3);
        if (text === null) delete next.skillTexts[slug];
        else next.skillTexts[slug] = text;
      }
    }
  }
  return { files: next, applied };
}

const entry = (slug: string, evidence: number, lastSuccessDays: number, createdDays = lastSuccessDays): string =>
  [`### ${slug}`, `- summary: How to do ${slug}`, `- reward_evidence: ${evidence}`, `- last_success: ${iso(lastSuccessDays)}`, `- created: ${iso(createdDays)}`, `- file: skills/${slug}.md`].join("\n");
const skillsMd = (...entries: string[]) => ["# Skills", "", ...entries.flatMap((e) => [e, ""])].join("\n");
const headers = (text: string) => text.split("\n").filter((l) => /^### /.test(l)).map((l) => l.slice(4));

describe("decay: effective evidence = reward_evidence × 0.5^(days since last success / half-life)", () => {
  it.each([
    { evidence: 4, days: 0, halflife: 14, expected: 4 },
    { evidence: 4, days: 14, halflife: 14, expected: 2 },
    { evidence: 4, days: 28, halflife: 14, expected: 1 },
    // The seed's linear 1 - 42/14 would give -8 here; ours halves and never goes negative.
    { evidence: 4, days: 42, halflife: 14, expected: 0.5 },
    { evidence: 4, days: 365, halflife: 14, expected: 4 * 0.5 ** (365 / 14) },
    { evidence: 3, days: 3650, halflife: Infinity, expected: 3 },
    { evidence: 3, days: 3650, halflife: 1e12, expected: 3 }, // off in practice: 1 - 2.5e-9
    { evidence: 2, days: -5, halflife: 14, expected: 2 }, // a last success "in the future" does not grow
    { evidence: 0, days: 10, halflife: 14, expected: 0 },
  ])("evidence $evidence, $days days, half-life $halflife -> $expected", ({ evidence, days, halflife, expected }) => {
    const score = effectiveEvidence({ evidence, lastSuccess: iso(0) }, at(days), halflife);
    expect(score).toBeCloseTo(expected, 6);
    expect(score).toBeGreaterThanOrEqual(0);
  });
});

describe("pruning", () => {
  const slugsOf = (entries: SkillEntry[]) => entries.map((e) => e.slug);

  it.each([
    {
      name: "lowest effective evidence goes first",
      skills: [entry("strong", 5, 0), entry("weak", 1, 0), entry("middle", 3, 0)],
      now: 1,
      halflife: 14,
      order: ["weak", "middle", "strong"],
    },
    {
      name: "decay lets a recent small skill outrank an old big one",
      skills: [entry("old-big", 8, 0), entry("recent-small", 1, 69)],
      now: 70, // 8 × 0.5^5 = 0.25 < 1 × 0.5^(1/14)
      halflife: 14,
      order: ["old-big", "recent-small"],
    },
    {
      name: "a huge half-life disables decay: raw evidence decides",
      skills: [entry("old-big", 2, 0), entry("recent-small", 1, 3600)],
      now: 3650,
      halflife: 1e12,
      order: ["recent-small", "old-big"],
    },
    {
      name: "a tie goes to the oldest last success",
      skills: [entry("newer", 1, 5), entry("older", 1, 2)],
      now: 10,
      halflife: Infinity,
      order: ["older", "newer"],
    },
    {
      name: "an exact tie goes to the one created first",
      skills: [entry("young", 1, 5, 4), entry("elder", 1, 5, 1)],
      now: 10,
      halflife: 14,
      order: ["elder", "young"],
    },
    {
      name: "a complete tie goes by name",
      skills: [entry("beta", 1, 5), entry("alpha", 1, 5)],
      now: 10,
      halflife: 14,
      order: ["alpha", "beta"],
    },
  ])("$name", ({ skills, now, halflife, order }) => {
    const parsed = skillsOf(parseSkills(skillsMd(...skills)));
    expect(slugsOf(weakestFirst(parsed, at(now), halflife).map((x) => x.entry))).toEqual(order);
    // Deterministic whatever the order in the file.
    const reversed = skillsOf(parseSkills(skillsMd(...skills.slice().reverse())));
    expect(slugsOf(weakestFirst(reversed, at(now), halflife).map((x) => x.entry))).toEqual(order);
  });

  it("archives the weakest skill when over the cap, never deletes it", () => {
    const twenty = Array.from({ length: 20 }, (_, i) => entry(`skill-${String(i).padStart(2, "0")}`, 2 + (i % 3), 10));
    const files: LearningFiles = {
      ...fresh(),
      skills: skillsMd(...twenty.slice(0, 19), entry("fading", 3, 0)),
      skillTexts: { fading: "# fading\n\nHow to do fading, in full.\n" },
    };
    const { applied } = step(files, outcome("t1", at(40), { skill: skillClaim("brand new") }));
    const out = applied.commits[0]!.files;
    expect(headers(out["skills.md"]!)).toHaveLength(20);
    expect(headers(out["skills.md"]!)).toContain("brand-new");
    expect(headers(out["skills.md"]!)).not.toContain("fading");
    expect(applied.archived.map((a) => a.entry.slug)).toEqual(["fading"]);
    expect(out["skills/fading.md"]).toBeNull();
    const archive = out["skills/archive/fading.md"]!;
    expect(archive).toContain("# fading (archived 2026-05-11)");
    expect(archive).toMatch(/^- reason: over the cap of 20 skills with the lowest effective evidence 0\.4\d+/m);
    expect(archive).toContain("How to do fading, in full.");
    expect(archive).toContain("- reward_evidence: 3");
  });

  it("never overwrites an earlier archive of the same name", () => {
    const taken = new Set(["skills/archive/retry.md", "skills/archive/retry-2.md"]);
    expect(archivePath("retry", taken)).toBe("skills/archive/retry-3.md");
    expect(archivePath("other", taken)).toBe("skills/archive/other.md");
    expect(archivePath("other", taken)).toBe("skills/archive/other-2.md");
  });

  it("does not count or archive entries nobody can read", () => {
    const broken = "### hand-written\n- reward_evidence: lots\n- last_success: yesterday";
    const file = parseSkills(skillsMd(broken, entry("a", 1, 0), entry("b", 2, 0)));
    const { file: pruned, archived } = pruneSkills(file, 2, 14, at(1));
    expect(archived).toEqual([]);
    expect(renderSkills(pruned)).toContain(broken);
    const { archived: one } = pruneSkills(file, 1, 14, at(1));
    expect(one.map((a) => a.entry.slug)).toEqual(["a"]);
  });
});

describe("skills: earned on +1, more evidence when earned again", () => {
  it("creates skills/<slug>.md and a `### <slug>` entry on a +1 with a skill", () => {
    const { files, applied } = step(fresh(), outcome("t1", at(1), { skill: skillClaim("Retry With Backoff") }));
    expect(applied.skill).toEqual({ slug: "retry-with-backoff", isNew: true, evidence: 1 });
    expect(files.skills).toContain(
      ["### retry-with-backoff", "- summary: How to do Retry With Backoff", "- reward_evidence: 1", `- last_success: ${iso(1)}`, `- created: ${iso(1)}`, "- file: skills/retry-with-backoff.md"].join("\n"),
    );
    const text = files.skillTexts["retry-with-backoff"]!;
    expect(text).toContain("## Steps\n\n1. read the input\n2. apply the pattern\n3. check the result");
    expect(text).toContain("## Tags\n\n`test`");
    expect(text).toContain("- task: t1 (2026-04-02): Task t1: do the thing");
  });

  it.each(["retry-with-backoff", "Retry with backoffs", "retry with the backoff"])("treats '%s' as the same skill: evidence, not a duplicate", (again) => {
    let s = step(fresh(), outcome("t1", at(1), { skill: skillClaim("Retry With Backoff") }));
    s = step(s.files, outcome("t2", at(3), { skill: skillClaim(again) }));
    expect(headers(s.files.skills)).toEqual(["retry-with-backoff"]);
    expect(s.files.skills).toContain("- reward_evidence: 2");
    expect(s.files.skills).toContain(`- last_success: ${iso(3)}`);
    expect(s.files.skills).toContain(`- created: ${iso(1)}`);
    expect(s.applied.skill).toEqual({ slug: "retry-with-backoff", isNew: false, evidence: 1 });
    expect(s.files.skillTexts["retry-with-backoff"]).toMatch(/- task: t1 .*\n- task: t2 /);
  });

  it.each([0, -1] as const)("never creates a skill on a %s outcome", (reward) => {
    const { files, applied } = step(fresh(), outcome("t1", at(1), { reward, reward_reason: "did not work", skill: skillClaim("lucky guess") }));
    expect(applied.skill).toBeUndefined();
    expect(headers(files.skills)).toEqual([]);
    expect(files.skillTexts).toEqual({});
  });

  it("records a -1 against the skills whose full text the prompt gave", () => {
    const files = { ...fresh(), skills: skillsMd(entry("sql-review", 2, 0), entry("unrelated", 1, 0)) };
    let s = step(files, outcome("t1", at(1), { reward: -1, reward_reason: "the review missed the bug" }, ["sql-review"]));
    s = step(s.files, outcome("t2", at(2), { reward: -1, reward_reason: "missed again" }, ["sql-review"]));
    expect(s.files.skills).toMatch(/### sql-review\n(?:- .*\n)*- failures: 2/);
    expect(s.files.skills).not.toMatch(/### unrelated\n(?:- .*\n)*- failures/);
  });

  it("gives half evidence to a skill earned on a +1 the audit disagrees with", () => {
    const { files, applied } = step(fresh(), outcome("t1", at(1), { skill: skillClaim("magic", []) }));
    expect(applied.divergent).toBe(true);
    expect(applied.skill?.evidence).toBe(0.5);
    expect(files.skills).toContain("- reward_evidence: 0.5");
  });

  it("keeps the skill file's learned-from list bounded: the first task and the latest ones", () => {
    let text = "# s\n\nSummary.\n\n## Learned from\n\n- task: first (2026-04-01): the first\n\n## My notes\n\nKeep me.\n";
    for (let i = 2; i <= 40; i++) text = noteSkillReuse(text, { id: `t${i}`, text: `task ${i}` }, at(i));
    const learned = text.split("\n").filter((l) => l.startsWith("- task: "));
    expect(learned.map((l) => l.split(" ")[2])).toEqual(["first", "t37", "t38", "t39", "t40"]);
    expect(text).toContain("## My notes\n\nKeep me.\n");
  });
});

describe("operator edits win", () => {
  it("writes entries it did not change back exactly as a person wrote them", () => {
    const handWritten = [
      "# Skills",
      "",
      "My own preamble, kept.",
      "",
      "### hand-made",
      "* Summary : a summary a person typed, longer than we would ever write ourselves, which must not be shortened by the runtime just because it does not like long lines, really not at all, no matter what happens next",
      "- reward_evidence: 3.333",
      "- last_success: 2026-04-01",
      "- note: the person's own field",
      "",
      "  an indented remark",
      "",
    ].join("\n");
    const { files, applied } = step({ ...fresh(), skills: handWritten }, outcome("t1", at(1), { skill: skillClaim("something else") }));
    expect(files.skills.startsWith(handWritten.trimEnd())).toBe(true);
    expect(applied.problems).toEqual([]);
  });

  it("updates only the fields that changed in an entry a person edited, keeping their lines", () => {
    const edited = skillsMd(["### retry", "- summary: Retry politely", "- note: ask Ana first", "- reward_evidence: 2", "- last_success: 2026-04-01T00:00:00Z"].join("\n"));
    const { files } = step({ ...fresh(), skills: edited }, outcome("t1", at(2), { skill: skillClaim("retry") }));
    expect(files.skills).toContain(
      ["### retry", "- summary: Retry politely", "- note: ask Ana first", "- reward_evidence: 3", `- last_success: ${iso(2)}`, "- created: 2026-04-01T00:00:00Z", "- file: skills/retry.md"].join("\n"),
    );
  });

  it.each([
    { what: "evidence that is not a number", lines: ["- reward_evidence: many", "- last_success: 2026-04-01"], message: /reward_evidence/ },
    { what: "no last_success", lines: ["- reward_evidence: 2"], message: /last_success/ },
    { what: "a file outside skills/", lines: ["- reward_evidence: 2", "- last_success: 2026-04-01", "- file: ../../etc/passwd"], message: /file: skills\/<name>\.md/ },
  ])("keeps an entry with $what verbatim and reports it with skills.md:line", ({ lines, message }) => {
    const broken = ["### broken", ...lines].join("\n");
    const text = skillsMd(entry("fine", 1, 0), broken);
    const { files, applied } = step({ ...fresh(), skills: text }, outcome("t1", at(1), { skill: skillClaim("fine") }));
    expect(files.skills).toContain(broken);
    const line = text.split("\n").indexOf("### broken") + 1;
    expect(applied.problems).toEqual([{ file: "skills.md", line, message: expect.stringMatching(message) }]);
    expect(Object.keys(applied.commits[0]!.files).some((f) => f.includes("passwd"))).toBe(false);
  });

  it("does not record a skill whose entry nobody can read, and says so", () => {
    const broken = "### retry\n- reward_evidence: ??\n- last_success: 2026-04-01";
    const { files, applied } = step({ ...fresh(), skills: skillsMd(broken), skillTexts: {} }, outcome("t1", at(1), { skill: skillClaim("Retry") }));
    expect(headers(files.skills)).toEqual(["retry"]);
    expect(files.skills).toContain(broken);
    expect(applied.skill).toBeUndefined();
    expect(applied.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/skill 'Retry' earned on t1 was not recorded/));
  });

  it("adds to a skill file a person already wrote instead of replacing it", () => {
    const mine = "# deploy\n\nMy runbook, written by hand.\n";
    const { files } = step({ ...fresh(), skillTexts: { deploy: mine } }, outcome("t1", at(1), { skill: skillClaim("deploy") }));
    expect(files.skillTexts.deploy).toContain("My runbook, written by hand.");
    expect(files.skillTexts.deploy).toMatch(/## Learned from\n\n- task: t1 /);
  });

  it("keeps a person's goals.md lines and sections, reports non-goal lines, and completes goals they ticked", () => {
    const text = [
      "# Goals",
      "",
      "Intro by a person.",
      "",
      "## Active",
      "",
      "- [ ] Learn SSE (added 2026-03-01)",
      "- [x] Ship the release",
      "Remember: ask Ana about SSE.",
      "",
      "## Completed",
      "",
      "(none)",
      "",
      "## Displaced",
      "",
      "(none)",
      "",
      "## Someday",
      "",
      "- learn Rust",
      "",
    ].join("\n");
    const parsed = parseGoals(text);
    expect(parsed.active.map((g) => g.text)).toEqual(["Learn SSE"]); // the ticked one is not shown as active
    expect(parsed.problems).toEqual([{ file: "goals.md", line: 9, message: expect.stringMatching(/not a goal/) }]);
    const { files } = step({ ...fresh(), goals: text }, outcome("t1", at(1), { goals: { add: ["Handle timeouts"], complete: [] } }));
    expect(files.goals).toContain("Intro by a person.");
    expect(files.goals).toContain("Remember: ask Ana about SSE.");
    expect(files.goals).toContain("## Someday\n\n- learn Rust");
    expect(files.goals).toMatch(/## Active\n\n- \[ \] Learn SSE \(added 2026-03-01\)\n- \[ \] Handle timeouts \(added 2026-04-02\)/);
    expect(files.goals).toMatch(/## Completed\n\n- \[x\] Ship the release \(completed 2026-04-02\)/);
    expect(parseGoals(files.goals).other).toEqual(["## Someday", "", "- learn Rust"]);
  });

  it("keeps a person's notes in rewards.md and reflections.md, and reports reward lines it cannot read", () => {
    const rewards = ["# Rewards", "", "Totals since start: +1: 7 | 0: 1 | -1: 2", "", "Note: the first week was a trial.", "- reward: great | task: x", "- reward: 1 | task: a | at: 2026-04-01T00:00:00Z | reason: ok", ""].join("\n");
    const reflections = "# Reflections\n\nA person's note.\n\n- 2026-04-01T00:00:00Z | a | lesson\n- yesterday | lesson without a task\n";
    const { files, applied } = step({ ...fresh(), rewards, reflections }, outcome("t1", at(1), { reflection: "try smaller steps" }));
    expect(files.rewards).toContain("Note: the first week was a trial.");
    expect(files.rewards).toContain("- reward: great | task: x");
    expect(applied.problems).toEqual([
      { file: "rewards.md", line: 6, message: expect.stringMatching(/expected `- reward: 1\|0\|-1/) },
      { file: "reflections.md", line: 6, message: "expected `- <time> | <task-id> | <lesson>`" },
    ]);
    expect(files.rewards).toMatch(/^Totals since start: \+1: 8 \| 0: 1 \| -1: 2 \| audit disagreed: 0 \(11 outcomes/m);
    expect(files.reflections).toContain("A person's note.");
    expect(files.reflections).toContain("- yesterday | lesson without a task");
    expect(parseReflections(files.reflections).map((r) => r.text)).toEqual(["lesson", "try smaller steps"]);
    expect(appendReflection(files.reflections, { at: "x", task: "y", text: "z" }, 15)).toContain("A person's note.");
  });
});

describe("goals", () => {
  it("seeds goals, adds, completes with the date, and displaces the oldest past max_active", () => {
    let g = parseGoals(emptyGoals(["one", "two"], T0, 5));
    for (const text of ["three", "four", "five", "six", "seven"]) g = addGoal(g, text, at(1), 5);
    g = addGoal(g, "Seven", at(1), 5); // near-identical: not added twice
    g = completeGoal(g, "four", at(2));
    const text = renderGoals(g);
    expect(g.active.map((x) => x.text)).toEqual(["three", "five", "six", "seven"]);
    expect(text).toMatch(/## Completed\n\n- \[x\] four \(completed 2026-04-03\)/);
    expect(text).toMatch(/## Displaced\n\n- one \(displaced 2026-04-02\)\n- two \(displaced 2026-04-02\)/);
    expect(completeGoal(g, "  ", at(3))).toBe(g);
  });

  it("adds goals from the model and marks completed ones done, within the cap", () => {
    let s = step(fresh(["Handle SSE"]), outcome("t1", at(1), { reward: -1, reward_reason: "did not work", goals: { add: ["Learn retries", "Learn timeouts"], complete: [] } }));
    s = step(s.files, outcome("t2", at(2), { goals: { add: [], complete: ["learn retries"] } }), config({ goals: { max_active: 2 } }));
    const g = parseGoals(s.files.goals);
    expect(g.active.map((x) => x.text)).toEqual(["Handle SSE", "Learn timeouts"]);
    expect(g.completed).toEqual([{ text: "Learn retries", date: "2026-04-03" }]);
  });
});

describe("rewards and reflections", () => {
  it("keeps the last 30 reward lines and totals of every outcome since the start", () => {
    let files = fresh();
    for (let i = 1; i <= 100; i++) {
      const reward = i % 10 === 0 ? -1 : i % 5 === 0 ? 0 : 1;
      files = step(files, outcome(`t${i}`, at(i / 10), { reward, reward_reason: reward === 1 ? "completed as asked" : "only partly", reflection: `lesson ${i}` })).files;
    }
    const lines = files.rewards.split("\n").filter((l) => /^-\s*reward:/.test(l));
    expect(lines).toHaveLength(30);
    expect(lines[0]).toMatch(/^- reward: 1 \| task: t71 \| at: \S+ \| audit: 1 \| reason: /);
    expect(lines[29]).toMatch(/^- reward: -1 \| task: t100 /);
    expect(files.rewards).toMatch(/^Totals since start: \+1: 80 \| 0: 10 \| -1: 10 \| audit disagreed: 0 \(100 outcomes; older lines are in git history\)$/m);
    expect(parseReflections(files.reflections).map((r) => r.text)).toEqual(Array.from({ length: 15 }, (_, i) => `lesson ${86 + i}`));
  });

  it("rebuilds the totals from git history when a person removed the totals line", () => {
    const rewards = "# Rewards\n\n- reward: 1 | task: a | at: 2026-04-01T00:00:00Z | reason: ok\n";
    expect(parseRewards(rewards).totalsFound).toBe(false);
    const history = { plus: 40, zero: 3, minus: 7, disagreed: 2 };
    const { files } = step({ ...fresh(), rewards, rewardHistory: history }, outcome("t1", at(1), { reward: 0, reward_reason: "only part of it" }));
    expect(files.rewards).toMatch(/^Totals since start: \+1: 40 \| 0: 4 \| -1: 7 \| audit disagreed: 2 \(51 outcomes/m);
  });

  it("counts audit disagreements in the totals", () => {
    const { files } = step(fresh(), outcome("t1", at(1), { answer: "" }));
    expect(files.rewards).toMatch(/audit disagreed: 1 /);
    expect(files.rewards).toMatch(/^- reward: 1 \| task: t1 \| at: \S+ \| audit: 0 \| reason: the task was completed as asked \[audit 0: \+1 with an empty or near-empty answer\]$/m);
  });
});

describe("reward audit, rule-based", () => {
  const base: AuditInput = { reward: 1, answer: "Parameterised the query; the regression test passes now.", rewardReason: "completed as asked" };
  it.each<{ name: string; input: Partial<AuditInput>; score: number; note?: RegExp }>([
    { name: "agrees with an honest +1", input: {}, score: 1 },
    { name: "+1 with an empty answer", input: { answer: "  " }, score: 0, note: /empty/ },
    { name: "+1 on a refusal", input: { answer: "I'm sorry, but I cannot help with that request." }, score: -1, note: /refuses/ },
    { name: "+1 claiming a skill with no steps", input: { skill: { name: "magic", steps: [" "] } }, score: 0, note: /skill 'magic' with no steps/ },
    { name: "+1 on an answer that contradicts itself", input: { answer: "The task is done. Some parts are not finished yet, see below." }, score: 0, note: /both that it is finished and that it is not/ },
    { name: "+1 on an answer concluding in failure", input: { answer: "I tried three approaches.\nIn the end the fix does not work." }, score: 0, note: /conclusion reports failure/ },
    { name: "+1 with a reason reporting failure", input: { rewardReason: "could not reproduce the bug" }, score: 0, note: /reason that reports failure/ },
    { name: "-1 with a reason saying it succeeded", input: { reward: -1, rewardReason: "succeeded on the first try" }, score: 1, note: /-1 with a reason that says the task succeeded/ },
    { name: "0 with a reason saying it succeeded", input: { reward: 0, rewardReason: "the task was completed" }, score: 1, note: /0 with a reason/ },
    { name: "agrees with an honest 0", input: { reward: 0, rewardReason: "only part of the task could be done" }, score: 0 },
    { name: "agrees with an honest -1", input: { reward: -1, rewardReason: "the approach did not work" }, score: -1 },
    { name: "a hedged success claim on 0 is still a 0", input: { reward: 0, rewardReason: "works, but only for small inputs" }, score: 0 },
    { name: "0 on an empty answer", input: { reward: 0, answer: "", rewardReason: "partial" }, score: -1, note: /0 on an empty/ },
    { name: "'I can't reproduce it without the fix' is not a refusal", input: { answer: "Fixed the race. I can't reproduce it any more after the change, and the test passes." }, score: 1 },
    { name: "a technical 'fails' in an answer is not failure", input: { answer: "Added a retry: when the upstream call fails, we back off and try again." }, score: 1 },
  ])("$name -> $score", ({ input, score, note }) => {
    const a = auditOutcome({ ...base, ...input });
    expect(a.score).toBe(score);
    expect(a.method).toBe("rule_based");
    if (note) expect(a.notes.join("; ")).toMatch(note);
    else expect(a.notes).toEqual([]);
  });

  it("has a rule for each case the issue names", () => {
    expect(AUDIT_RULES.map((r) => r.id)).toEqual(
      expect.arrayContaining(["empty-answer", "refusal", "skill-without-steps", "self-contradiction", "reason-claims-success"]),
    );
  });

  it("writes the audit beside the agent's score, and no audit when disabled", () => {
    const on = applyOutcome(fresh(), outcome("t1", at(1)), config());
    expect(on.commits[0]!.files["rewards.md"]).toMatch(/\| audit: 1 \|/);
    expect(on.commits[0]!.trailers.Audit).toBe("1");
    const off = applyOutcome(fresh(), outcome("t1", at(1), { answer: "" }), config({ reward_audit: { enabled: false } }));
    expect(off.commits[0]!.files["rewards.md"]).not.toMatch(/audit: /);
    expect(off.divergent).toBe(false);
  });
});

describe("reward audit, method llm (an injected grader)", () => {
  const input = { reward: 1 as const, answer: "x".repeat(20_000), rewardReason: "done", skill: null, task: { id: "t9", text: "Fix the bug" } };

  it("asks with a short, bounded grader prompt", () => {
    const [system, user] = graderMessages(input);
    expect(system!.content).toMatch(/Reply with one JSON object/);
    expect(user!.content).toMatch(/^Task id: t9\n\nTask:\nFix the bug\n\nAnswer:\n/);
    expect(user!.content).toContain("[… cut for the grader]");
    expect(user!.content.length).toBeLessThan(7_000);
    expect(user!.content).not.toMatch(/^## Task /m);
  });

  it.each([
    { reply: '{"score": 0, "notes": ["the answer is unfinished"]}', ok: true },
    { reply: 'Sure:\n```json\n{"score": -1, "notes": []}\n```', ok: true },
    { reply: '{"score": 2, "notes": []}', ok: false },
    { reply: "no idea", ok: false },
  ])("reads the grader's reply $reply", ({ reply, ok }) => {
    const g = parseGrade(reply);
    expect(g.ok).toBe(ok);
    if (g.ok) expect(g.audit.method).toBe("llm");
  });

  it("uses the grader's score, and the runtime falls back to the rules when it cannot", async () => {
    const seen: string[] = [];
    const grader = llmGrader(async (messages) => {
      seen.push(messages[1]!.content);
      return '{"score": 0, "notes": ["half done"]}';
    });
    const audit = await grader(input);
    expect(audit).toEqual({ score: 0, notes: ["half done"], method: "llm" });
    expect(seen).toHaveLength(1);
    const applied = applyOutcome(fresh(), { ...outcome("t9", at(1)), audit }, config({ reward_audit: { method: "llm" } }));
    expect(applied.divergent).toBe(true);
    expect(applied.commits[0]!.trailers["Audit-Method"]).toBe("llm");
    expect(applied.commits[0]!.files[resultFile("t9")]).toContain("- audit: 0 (llm: half done)");
    await expect(llmGrader(async () => "garbage")(input)).rejects.toThrow(/no JSON object/);
    const fallback = fallbackAudit(input, "HTTP 500");
    expect(fallback.method).toBe("rule_based");
    expect(fallback.notes.at(-1)).toBe("llm grader unavailable (HTTP 500); rule-based audit used");
  });
});

describe("watchdog", () => {
  it("escalates on every negative_streak consecutive -1s, with a commit and a reflection", () => {
    let files = fresh();
    const results: Applied[] = [];
    const rewards = [-1, -1, 0, -1, -1, -1, -1, -1, -1] as const;
    rewards.forEach((reward, i) => {
      const s = step(files, outcome(`t${i + 1}`, at(i), { reward, reward_reason: reward === 0 ? "only partly" : "did not work" }));
      files = s.files;
      results.push(s.applied);
    });
    expect(results.map((r) => r.escalated)).toEqual([false, false, false, false, false, true, false, false, true]);
    const escalation = results[5]!.commits[1]!;
    expect(escalation.subject).toBe("orion(escalation): negative streak");
    expect(escalation.trailers).toEqual({ "Task-Id": "t6", Escalation: "negative-streak", Streak: "3" });
    expect(escalation.files["reflections.md"]).toMatch(/\| t6 \| \[watchdog\] 3 consecutive -1 outcomes/);
  });
});

describe("bounded prompt", () => {
  const promptInput = (over: Partial<PromptInput> = {}): PromptInput => ({
    agent: "orion",
    systemPrompt: "You are orion.",
    constraints: "# Constraints\n\n- Be honest.",
    task: { id: "t1", text: "Review the SQL query for injection" },
    skills: [],
    skillTexts: {},
    activeGoals: [],
    rewards: [],
    reflections: [],
    segments: [],
    maxTokens: 6000,
    ...over,
  });
  const system = (p: ReturnType<typeof buildPrompt>) => p.messages[0]!.content;

  it("gives full text only for skills that share words with the task, most relevant first", () => {
    const skills = skillsOf(parseSkills(skillsMd(entry("sql-injection-review", 1, 0), entry("css-layout", 9, 0), entry("query-tuning", 2, 0))));
    const skillTexts = { "sql-injection-review": "# sql-injection-review\n\nFULL SQL", "css-layout": "# css-layout\n\nFULL CSS", "query-tuning": "# query-tuning\n\nFULL QUERY" };
    const p = buildPrompt(promptInput({ skills, skillTexts }));
    expect(p.usedSkills).toEqual(["sql-injection-review", "query-tuning"]);
    expect(system(p)).toContain("FULL SQL");
    expect(system(p)).not.toContain("FULL CSS");
    expect(system(p)).toMatch(/- css-layout \(evidence 9\): How to do css-layout/);
  });

  it("lists the constraints once when system_prompt.md (as bootstrap writes it) already holds them", async () => {
    const { generatedFiles } = await import("../src/agent/bootstrap.js");
    const file = AgentsFile.parse({ agents: [{ name: "orion", persona: "Backend engineer.", constraints: ["Never push to main."] }] });
    const g = generatedFiles(file.agents[0]!, file);
    const text = system(buildPrompt(promptInput({ systemPrompt: g["system_prompt.md"]!, constraints: g["constraints.md"]! })));
    expect(text.match(/A skill is recorded only on a \+1 outcome\./g)).toHaveLength(1);
    expect(text.match(/Never push to main\./g)).toHaveLength(1);
    // A constraints.md a person extended still goes in whole.
    const edited = system(buildPrompt(promptInput({ systemPrompt: g["system_prompt.md"]!, constraints: g["constraints.md"]! + "- Answer in German.\n" })));
    expect(edited).toContain("- Answer in German.");
  });

  it("shows audit divergences with the audit's notes", () => {
    const rewards = parseRewards(
      "- reward: 1 | task: t7 | at: 2026-04-01T00:00:00Z | audit: 0 | reason: done [audit 0: +1 claims the skill 'x' with no steps]\n- reward: 1 | task: t8 | at: 2026-04-01T00:00:00Z | audit: 1 | reason: done\n",
    ).entries;
    const text = system(buildPrompt(promptInput({ rewards })));
    expect(text).toContain("## Audit: where your own score and the audit disagreed (newest first)\n\n- task t7: you said 1, the audit said 0 (+1 claims the skill 'x' with no steps)");
    expect(text).not.toMatch(/- task t8: you said/);
  });

  it.each([500, 800, 1500, 3000, 6000])("stays within prompt.max_tokens = %i and counts what it leaves out, oldest first", (maxTokens) => {
    const rewards = Array.from({ length: 30 }, (_, i) => ({ reward: 1 as const, task: `t${i}`, at: iso(i), audit: 1 as const, reason: "x".repeat(120) }));
    const reflections = Array.from({ length: 15 }, (_, i) => ({ at: iso(i), task: `t${i}`, text: `lesson ${i} ` + "y".repeat(150) }));
    const skills = skillsOf(parseSkills(skillsMd(...Array.from({ length: 20 }, (_, i) => entry(`skill-${i}`, i, 0)))));
    const p = buildPrompt(
      promptInput({ maxTokens, rewards, reflections, skills, activeGoals: ["g1", "g2"], segments: [{ name: "team", text: "z".repeat(4000) }] }),
    );
    expect(p.tokens).toBeLessThanOrEqual(maxTokens);
    expect(estimateTokens(system(p)) + estimateTokens(p.messages[1]!.content)).toBe(p.tokens);
    const keptRewards = system(p).match(/task: t\d+/g) ?? [];
    const dropped = p.dropped.find((d) => d.part === "rewards")?.count ?? 0;
    expect(keptRewards.length + dropped).toBe(30);
    // Newest first: whatever is kept is the newest prefix.
    expect(keptRewards).toEqual(Array.from({ length: keptRewards.length }, (_, i) => `task: t${29 - i}`));
    if (maxTokens < 3000) expect(p.dropped.length).toBeGreaterThan(0);
  });

  it("cuts a single part that alone exceeds the budget at a paragraph, with a visible marker", () => {
    const paragraphs = Array.from({ length: 60 }, (_, i) => `Paragraph ${i}: ` + "words ".repeat(40)).join("\n\n");
    const p = buildPrompt(promptInput({ systemPrompt: paragraphs, maxTokens: 1500 }));
    expect(p.tokens).toBeLessThanOrEqual(1500);
    expect(system(p)).toMatch(/words\n\n\[… system_prompt\.md cut here to fit the prompt budget; the rest is in the file\]/);
    expect(p.dropped).toContainEqual({ part: "system_prompt.md (cut at a paragraph)", count: 1 });
    const huge = buildPrompt(promptInput({ task: { id: "t1", text: paragraphs }, maxTokens: 1000 }));
    expect(huge.tokens).toBeLessThanOrEqual(1000);
    expect(huge.messages[1]!.content).toMatch(/^## Task t1\n\nParagraph 0:[\s\S]*\[… task cut here/);
  });

  it.each([
    { name: "at the last paragraph break that fits", text: "First paragraph.\n\nSecond paragraph.\n\n" + "Third ".repeat(40), kept: "First paragraph.\n\nSecond paragraph." },
    { name: "at a line break when there is no paragraph", text: "line one is here\nline two is here\n" + "more ".repeat(40), kept: "line one is here\nline two is here" },
    { name: "at a space, never mid-word, when there is no line", text: "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega", kept: "alpha beta gamma delta epsilon zeta eta theta" },
  ])("cuts $name", ({ text, kept }) => {
    const cut = cutAtParagraph(text, 30, "notes.md");
    expect(cut).toBe(`${kept}\n\n[… notes.md cut here to fit the prompt budget; the rest is in the file]`);
  });

  it("is no bigger after 1,000 tasks than after 50 (bench, same-shaped tasks)", () => {
    const cfg = config();
    let files = fresh(["Handle SSE endpoints"]);
    const sizes = new Map<number, number>();
    const counts = new Map<number, string>();
    // 35 skill names for a cap of 20, so skills keep being earned, decayed and archived.
    const names = Array.from({ length: 35 }, (_, i) => `pattern ${["alpha", "gamma", "delta", "omega", "sigma"][i % 5]} ${String(i).padStart(2, "0")}`);
    for (let i = 1; i <= 1000; i++) {
      const id = `t${String(i).padStart(4, "0")}`;
      const text = `Review module ${names[i % 35]} for bugs`;
      const p = buildPrompt({
        agent: "orion",
        systemPrompt: "You are orion, a backend engineer.",
        constraints: "# Constraints\n\n- Be honest.",
        task: { id, text },
        skills: skillsOf(parseSkills(files.skills)),
        skillTexts: Object.fromEntries(Object.entries(files.skillTexts).filter((e): e is [string, string] => e[1] !== undefined)),
        activeGoals: parseGoals(files.goals).active.map((g) => g.text),
        rewards: parseRewards(files.rewards).entries,
        reflections: parseReflections(files.reflections),
        segments: [],
        maxTokens: cfg.prompt.max_tokens,
      });
      sizes.set(i, p.tokens);
      const system = p.messages[0]!.content;
      counts.set(i, JSON.stringify([system.match(/^- reward: /gm)?.length, system.match(/^- t\d+: /gm)?.length, system.match(/^- pattern-/gm)?.length, p.usedSkills.length]));
      const reward = i % 11 === 0 ? -1 : i % 7 === 0 ? 0 : 1;
      files = step(
        files,
        {
          ...outcome(id, at(i / 4), {
            reward,
            reward_reason: reward === 1 ? "completed as asked" : reward === 0 ? "only part of it" : "did not work",
            skill: reward === 1 ? skillClaim(names[(i * 3) % 35]!) : null,
            reflection: `after ${id}: keep the review short`,
            goals: reward === -1 ? { add: [`get better at ${names[i % 35]}`], complete: [] } : null,
          }),
          task: { id, text, source: "queue" },
          usedSkills: p.usedSkills,
        },
        cfg,
      ).files;
    }
    const window = (end: number) => Array.from({ length: 35 }, (_, k) => end - k);
    const after50 = Math.max(...window(50).map((i) => sizes.get(i)!));
    const after1000 = Math.max(...window(1000).map((i) => sizes.get(i)!));
    expect(headers(files.skills)).toHaveLength(20);
    expect((files.archived ?? []).length).toBeGreaterThan(100);
    // Every part holds as many items after 1,000 tasks as after 50…
    expect(counts.get(1000)).toBe(counts.get(50));
    expect(Math.max(...sizes.values())).toBeLessThanOrEqual(cfg.prompt.max_tokens);
    // …and the prompt is no bigger, but for the digits of counters that grow (reward_evidence 1 -> 23).
    expect(after1000).toBeLessThanOrEqual(after50 * 1.01);
  });
});

describe("the skills archive listing", () => {
  it("lists skills/archive again only when it changed: a name added or removed by hand is seen, a missing folder is empty", async () => {
    const { mkdtempSync, mkdirSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { FolderListing } = await import("../src/store/files.js");
    const dir = join(mkdtempSync(join(tmpdir(), "agentos-listing-")), "archive");
    const listing = new FolderListing(dir);
    try {
      expect(await listing.names()).toEqual([]);
      mkdirSync(dir);
      writeFileSync(join(dir, "a.md"), "a\n");
      expect(await listing.names()).toEqual(["a.md"]);
      writeFileSync(join(dir, "b.md"), "b\n");
      expect((await listing.names()).sort()).toEqual(["a.md", "b.md"]);
      rmSync(join(dir, "a.md"));
      expect(await listing.names()).toEqual(["b.md"]);
      // Unchanged for a while: the listing is kept (a stat, no readdir), and still right.
      const { utimesSync } = await import("node:fs");
      utimesSync(dir, new Date(Date.now() - 5_000), new Date(Date.now() - 5_000));
      expect(await listing.names()).toEqual(["b.md"]);
      writeFileSync(join(dir, "c.md"), "c\n");
      expect((await listing.names()).sort()).toEqual(["b.md", "c.md"]);
    } finally {
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });
});
