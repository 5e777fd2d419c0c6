// The learning model end to end, in one process: 200 tasks through the real runtime
// (real files, real chokidar, real isomorphic-git checked with native `git fsck
// --strict` and grep), an injected clock that moves 12 hours per task, a real HTTP
// server for the watchdog webhook, and the scripted LLM server as the only stand-in.
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateTokens } from "../src/store/markdown.js";
import { fsckStrict, git } from "./support/checker.js";
import { agentDir, block, dataDir, read } from "./support/data.js";
import { scriptedLlm, type RecordedRequest } from "./support/llm-server.js";
import { startRuntime } from "./support/runtime.js";
import { resultFile } from "../src/store/layout.js";

const llm = await scriptedLlm();
let hookServer: Server;
const hooks: unknown[] = [];
let hookUrl = "";

beforeAll(async () => {
  hookServer = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      hooks.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise((r) => hookServer.close(r));
});

const T0 = Date.parse("2026-04-01T08:00:00Z");
const pad = (n: number) => String(n).padStart(3, "0");
const sh = (dir: string, cmd: string) => spawnSync("sh", ["-c", cmd], { cwd: dir, encoding: "utf8" }).stdout;
const requestText = (r: RecordedRequest) => (r.body.messages as { content: string }[]).map((m) => m.content);
const stepRequests = () => llm.requests.filter((r) => r.body?.response_format?.json_schema?.name !== "agentos_grade" && r.taskId);

interface Run {
  lines: string[];
  escalations: [string, string][];
  audits: Map<string, number | undefined>;
  data: string;
  dir: string;
}

/** Writes the tasks into queue.md, runs the agent until it has nothing left, and stops it. */
async function runTasks(yaml: string, tasks: string, opts: { data?: string; env?: Record<string, string>; before?: (dir: string) => void } = {}): Promise<Run> {
  const data = opts.data ?? dataDir(yaml);
  const escalations: [string, string][] = [];
  const audits = new Map<string, number | undefined>();
  let clock = T0;
  const start = () =>
    startRuntime(data, llm, {
      level: "debug",
      now: () => new Date(clock),
      env: opts.env,
      events: {
        // The watchdog's metric: one escalation event per negative streak.
        escalation: (agent, kind) => escalations.push([agent, kind]),
        taskDone: (_agent, info) => {
          audits.set(info.id, info.audit);
          clock += 12 * 3_600_000;
        },
      },
    });
  const dir = agentDir(data, "orion");
  if (opts.before) {
    await (await start()).rt.stop();
    opts.before(dir);
    return runTasks(yaml, tasks, { ...opts, data, before: undefined });
  }
  // Everything is in queue.md before the agent starts.
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "queue.md"), tasks, { flag: "a" });
  const { rt, lines } = await start();
  try {
    await rt.drained();
  } finally {
    await rt.stop();
  }
  return { lines, escalations, audits, data, dir };
}

const YAML = (extra = "") => `agents:
  - name: orion
    persona: "Backend engineer."
    throughput_class: slow
    goals: ["Handle streaming SSE endpoints robustly"]
    segments: [team]
tasks:
  settle_ms: 50
watchdog:
  negative_streak: 3
  webhook_url: ${hookUrl}
${extra}`;

/** 200 tasks: mostly +1 with one of 30 skills (cap 20), some 0, isolated -1s, one streak of three. */
function twoHundredTasks(): string {
  const out: string[] = [];
  for (let i = 1; i <= 200; i++) {
    const id = `t${pad(i)}`;
    const topic = `topic-${String((i * 7) % 30).padStart(2, "0")}`;
    let d: string;
    if ([120, 121, 122].includes(i) || (i % 17 === 0 && i !== 119)) d = `[reward:-1] [goal:get better at ${topic}]`;
    else if (i % 9 === 0) d = "[reward:0]";
    else d = `[skill:${topic}]${i % 13 === 0 ? " [no-steps]" : ""}`;
    if (i === 150) d += " [complete:get better at topic]";
    if (i % 10 === 0) d += ` [reflect:lesson from ${id}]`;
    out.push(block(id, `Review module ${topic} of the billing service and report findings. ${d}`));
  }
  return out.join("");
}

describe("learning, end to end", () => {
  it("runs 200 tasks: skills capped and archived, honest reward lines and totals, audit, watchdog, a flat prompt", async () => {
    const started = performance.now();
    hooks.length = 0;
    const data = dataDir(YAML());
    mkdirSync(join(data, "shared", "segments"), { recursive: true });
    // A shared segment too big for the prompt: left out and counted in a DEBUG line.
    writeFileSync(join(data, "shared", "segments", "team.md"), "# Team notes\n\n" + "Long team note. ".repeat(3000));
    const run = await runTasks(YAML(), twoHundredTasks(), { data });
    const { dir, lines } = run;
    const out = lines.join("\n");

    // Every task committed once, in a repository native git accepts.
    const subjects = git(dir, "log", "--format=%s").trim().split("\n");
    expect(subjects.filter((s) => s.startsWith("orion(task): "))).toHaveLength(200);
    fsckStrict(dir);
    expect(git(dir, "status", "--porcelain")).toBe("");

    // Skills: never more than 20, the rest archived (never deleted) with a reason.
    expect(Number(sh(dir, 'grep -c "^### " skills.md').trim())).toBeLessThanOrEqual(20);
    expect(Number(sh(dir, 'grep -c "^### " skills.md').trim())).toBe(20);
    const archives = readdirSync(join(dir, "skills", "archive")).filter((f) => f.endsWith(".md"));
    expect(archives.length).toBeGreaterThan(0);
    for (const a of archives) {
      const text = read(join(dir, "skills", "archive", a));
      expect(text).toMatch(/^- reason: over the cap of 20 skills with the lowest effective evidence [\d.]+ \(evidence [\d.]+, last success \d{4}-\d\d-\d\d, half-life 14 days\)$/m);
      expect(text).toContain("## Full text when archived");
    }
    expect(git(dir, "ls-files", "skills/archive").trim().split("\n").filter((f) => f.endsWith(".md")).sort()).toEqual(archives.map((a) => `skills/archive/${a}`).sort());
    // Every skill file ever created is still there or in the archive.
    const everCreated = new Set(git(dir, "log", "--diff-filter=A", "--name-only", "--format=", "--", "skills/").split("\n").filter((f) => /^skills\/[^/]+\.md$/.test(f)));
    for (const f of everCreated) {
      const slug = f.slice(7, -3);
      expect(existsSync(join(dir, f)) || archives.some((a) => a === `${slug}.md` || new RegExp(`^${slug}-\\d+\\.md$`).test(a))).toBe(true);
    }
    const skillFiles = readdirSync(join(dir, "skills")).filter((f) => f.endsWith(".md"));
    expect(skillFiles).toHaveLength(20);
    expect(out).toMatch(/INFO \[agent\] \[orion\] archived skill topic-\d\d to skills\/archive\/topic-\d\d(?:-\d+)?\.md: over the cap of 20/);

    // rewards.md: the last 30 lines (the seed's grep works) and totals since the start.
    const rewardLines = sh(dir, 'grep "^-\\s*reward:" rewards.md').trim().split("\n");
    expect(rewardLines).toHaveLength(30);
    expect(rewardLines[0]).toMatch(/^- reward: -?[01] \| task: t171 \| at: \S+ \| audit: -?[01] \| reason: /);
    expect(rewardLines[29]).toMatch(/^- reward: 1 \| task: t200 \| /);
    const trailers = git(dir, "log", "--format=%(trailers:key=Reward,valueonly)").split("\n").filter(Boolean);
    const count = (v: string) => trailers.filter((t) => t === v).length;
    expect(count("1") + count("0") + count("-1")).toBe(200);
    const pairs = git(dir, "log", "--format=%(trailers:key=Reward,valueonly,separator=)/%(trailers:key=Audit,valueonly,separator=)").split("\n").filter((l) => l.length > 1);
    const disagreed = pairs.filter((p) => p.split("/")[0] !== p.split("/")[1]).length;
    expect(disagreed).toBe(14); // the 14 +1s that claim a skill with [no-steps]
    expect(read(join(dir, "rewards.md"))).toContain(`Totals since start: +1: ${count("1")} | 0: ${count("0")} | -1: ${count("-1")} | audit disagreed: ${disagreed} (200 outcomes; older lines are in git history)`);

    // The audit: beside every reward, divergences logged at WARN, shown in the next prompt, half evidence.
    expect(rewardLines.every((l) => / \| audit: -?[01] \| /.test(l))).toBe(true);
    expect(rewardLines.find((l) => l.includes("task: t195 "))).toMatch(/audit: 0 \| reason: .*\[audit 0: \+1 claims the skill 'topic-\d\d' with no steps\]$/);
    expect(out).toMatch(/WARN \[agent\] \[orion\] reward audit disagrees on t195: agent said 1, audit says 0/);
    expect(run.audits.get("t195")).toBe(0);
    const next = stepRequests().find((r) => r.taskId === "t196")!;
    expect(requestText(next)[0]).toMatch(/## Audit: where your own score and the audit disagreed \(newest first\)\n\n- task t195: you said 1, the audit said 0 \(\+1 claims the skill/);
    expect(out).toMatch(/Task t195 done \| reward: 1 \| audit: 0 \| skill: topic-\d\d(?: \(new\))? \| model: scripted/);

    // The watchdog: three -1 in a row (t120-t122) escalate once, with a commit, a reflection, the metric and the webhook.
    expect(subjects.filter((s) => s === "orion(escalation): negative streak")).toHaveLength(1);
    expect(git(dir, "log", "-1", "--grep=^orion(escalation): negative streak", "--format=%B")).toMatch(/Task-Id: t122\nEscalation: negative-streak\nStreak: 3/);
    expect(out).toMatch(/WARN \[agent\] \[orion\] watchdog: 3 consecutive -1 rewards \(latest t122\); escalation committed/);
    expect(run.escalations).toEqual([["orion", "negative_streak"]]);
    await expect.poll(() => hooks).toEqual([{ agent: "orion", event: "negative_streak", streak: 3, task: "t122", at: expect.stringMatching(/^2026-\d\d-\d\dT/) }]);
    expect(git(dir, "log", "-p", "-1", "--grep=^orion(escalation)", "--", "reflections.md")).toMatch(/\+- \S+ \| t122 \| \[watchdog\] 3 consecutive -1 outcomes/);

    // Goals and reflections stay bounded; displaced goals are kept.
    const goals = read(join(dir, "goals.md"));
    expect(goals.match(/^- \[ \] /gm)).toHaveLength(5);
    expect(goals).toMatch(/## Displaced\n\n- Handle streaming SSE endpoints robustly \(displaced 2026-/);
    expect(sh(dir, 'grep -c "^- " reflections.md').trim()).toBe("15");

    // The prompt: within prompt.max_tokens, the oversized segment left out and counted, and flat.
    const steps = stepRequests().slice(-200);
    expect(steps.map((r) => r.taskId)).toEqual(Array.from({ length: 200 }, (_, i) => `t${pad(i + 1)}`));
    const tokens = steps.map((r) => requestText(r).reduce((n, t) => n + estimateTokens(t), 0));
    expect(Math.max(...tokens)).toBeLessThanOrEqual(6000);
    expect(out).toMatch(/DEBUG \[agent\] \[orion\] prompt for t001 left out 1 segment team to stay within 6000 tokens/);
    // Once every cap is full (30 rewards, 15 reflections, 20 skills, 5 goals: by task ~85 here)
    // the prompt stops growing: the same number of items in each part, the same size give or
    // take the length of the task texts themselves.
    const parts = (i: number) => {
      const system = requestText(steps[i - 1]!)[0]!;
      return [/^- reward: /gm, /^- t\d+: /gm, /^- topic-\d\d \(evidence/gm, /^- get better at /gm].map((re) => system.match(re)?.length ?? 0);
    };
    expect(parts(100)).toEqual([30, 15, 20, 5]);
    expect(parts(200)).toEqual(parts(100));
    const window = (from: number, to: number) => Math.max(...tokens.slice(from - 1, to));
    expect(window(151, 200)).toBeLessThanOrEqual(window(51, 100) * 1.03);
    console.log(
      `200 tasks in ${Math.round(performance.now() - started)} ms; largest prompt (tokens) per 50 tasks: ${[1, 51, 101, 151].map((f) => window(f, f + 49)).join(", ")}; ${archives.length} skills archived`,
    );
  }, 120_000);

  it("lets a person's edits win: kept text, unreadable entries reported with file:line, their skill file added to", async () => {
    const data = dataDir(YAML());
    const tasks = [1, 2, 3].map((i) => block(`e${i}`, `Do the deploy-runbook task ${i}. [skill:deploy-runbook]`)).join("") + block("e4", "Earn another [skill:retry-calls]");
    const run = await runTasks(YAML(), tasks, {
      data,
      before: (dir) => {
        writeFileSync(
          join(dir, "skills.md"),
          [
            "# Skills",
            "",
            "Kept by hand: these are the team's skills.",
            "",
            "### retry-calls",
            "- summary: Retry calls with jitter (Ana's version)",
            "- reward_evidence: a lot",
            "- last_success: 2026-03-01",
            "",
          ].join("\n"),
        );
        writeFileSync(join(dir, "skills", "deploy-runbook.md"), "# deploy-runbook\n\nOur runbook, written by a person.\n");
        writeFileSync(join(dir, "goals.md"), read(join(dir, "goals.md")).replace("## Completed", "Ask Ana before changing SSE.\n\n## Completed"));
        git(dir, "add", "-A");
        git(dir, "-c", "user.name=Ana", "-c", "user.email=ana@example.com", "commit", "-q", "-m", "hand edits");
      },
    });
    const { dir } = run;
    const skills = read(join(dir, "skills.md"));
    expect(skills).toContain("Kept by hand: these are the team's skills.");
    expect(skills).toContain("### retry-calls\n- summary: Retry calls with jitter (Ana's version)\n- reward_evidence: a lot\n- last_success: 2026-03-01");
    expect(skills).toMatch(/### deploy-runbook\n- summary: How to do deploy-runbook\n- reward_evidence: 3\n/);
    expect(skills.match(/^### retry-calls/gm)).toHaveLength(1);
    const out = run.lines.join("\n");
    expect(out).toMatch(/WARN \[agent\] \[orion\] skills\.md:5: cannot read skill entry 'retry-calls' \(expected `- reward_evidence: <number, 0 or more>`\); kept as written/);
    expect(out).toMatch(/WARN \[agent\] \[orion\] skills\.md:5: skill 'retry-calls' earned on e4 was not recorded: its entry cannot be read/);
    expect(out).toMatch(/WARN \[agent\] \[orion\] goals\.md:\d+: not a goal \(expected `- \[ \] <goal>` under ## Active\); kept as written/);
    expect(out.match(/goals\.md:\d+: not a goal/g)).toHaveLength(1); // reported once, not on every task
    const runbook = read(join(dir, "skills", "deploy-runbook.md"));
    expect(runbook).toContain("Our runbook, written by a person.");
    expect(runbook.match(/^- task: e\d /gm)).toEqual(["- task: e1 ", "- task: e2 ", "- task: e3 "]);
    expect(read(join(dir, "goals.md"))).toContain("Ask Ana before changing SSE.");
    fsckStrict(dir);
  }, 60_000);

  it("rebuilds the totals line from git history when a person deletes it", async () => {
    const first = await runTasks(YAML(), block("h1", "One") + block("h2", "Two [reward:0]") + block("h3", "Three [reward:-1]"));
    const rewardsPath = join(first.dir, "rewards.md");
    // A person trims rewards.md down to its last line, totals and all.
    writeFileSync(rewardsPath, read(rewardsPath).split("\n").filter((l) => l.includes("task: h3")).join("\n") + "\n");
    const second = await runTasks(YAML(), block("h4", "Four") + block("h5", "Five [reward:0]"), { data: first.data });
    expect(read(join(second.dir, "rewards.md"))).toContain("Totals since start: +1: 2 | 0: 2 | -1: 1 | audit disagreed: 0 (5 outcomes; older lines are in git history)");
    expect(sh(second.dir, 'grep -c "^-\\s*reward:" rewards.md').trim()).toBe("3");
    expect(second.lines.join("\n")).toMatch(/INFO \[agent\] \[orion\] rewards\.md has no totals line; rebuilt it from git history \(3 outcomes\)/);
    fsckStrict(second.dir);
  }, 60_000);

  it("audits with a second model call when reward_audit.method is llm, and falls back to the rules when the grader fails", async () => {
    llm.script((req) => {
      if (req.body?.response_format?.json_schema?.name !== "agentos_grade") return undefined;
      const user = req.body.messages[1].content as string;
      if (user.includes("[grade:garbage]")) return { content: "I think it is fine" };
      return { content: JSON.stringify({ score: user.includes("[grade:0]") ? 0 : 1, notes: ["graded by the model"] }) };
    });
    const before = llm.requests.length;
    const tasks = block("g1", "Fix the login bug [skill:login-fix] [grade:0]") + block("g2", "Fix the logout bug [grade:1]") + block("g3", "Fix the signup bug [grade:garbage]");
    const run = await runTasks(YAML("reward_audit:\n  method: llm\n"), tasks);
    const { dir } = run;
    const graderCalls = llm.requests.slice(before).filter((r) => r.body?.response_format?.json_schema?.name === "agentos_grade");
    expect(graderCalls).toHaveLength(3);
    expect(graderCalls[0]!.body.messages[0].content).toMatch(/You audit the self-assessed score/);
    const rewards = sh(dir, 'grep "^-\\s*reward:" rewards.md').trim().split("\n");
    expect(rewards[0]).toMatch(/^- reward: 1 \| task: g1 \| .* \| audit: 0 \| reason: .*\[audit 0: graded by the model\]$/);
    expect(rewards[1]).toMatch(/^- reward: 1 \| task: g2 \| .* \| audit: 1 \| /);
    expect(rewards[2]).toMatch(/^- reward: 1 \| task: g3 \| .* \| audit: 1 \| /);
    expect(read(join(dir, "skills.md"))).toMatch(/### login-fix\n(?:- .*\n)*- reward_evidence: 0\.5\n/);
    expect(git(dir, "log", "--format=%(trailers:key=Audit-Method,valueonly)").split("\n").filter(Boolean)).toEqual(["llm", "llm"]);
    expect(read(join(dir, resultFile("g3")))).toMatch(/^- audit: 1 \(rule-based: llm grader unavailable \(no JSON object in the grader's reply\); rule-based audit used\)$/m);
    expect(run.lines.join("\n")).toMatch(/WARN \[agent\] \[orion\] reward audit grader failed on g3 \(no JSON object in the grader's reply\); using the rule-based audit/);
    fsckStrict(dir);
  }, 60_000);
});
