// The browser dashboard end to end: `agentos run --http` as a child process with a token,
// Debian's Chromium (/usr/bin/chromium, never a downloaded browser) driven by
// playwright-core, real files and git; the LLM is the scripted server. One page is used
// throughout, as a person would: sign in once, then everything happens without a reload.
// Screenshots go to a temp dir, or to docs/dashboard/ with UPDATE_SCREENSHOTS=1.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/checker.js";
import { dataDir, removeDir, ROOT, tempDir } from "./support/data.js";
import { apiBase, apiClient, scriptedEnv, startRun, type RunningCli } from "./support/runtime.js";
import { startLlmServer, type LlmServer } from "./support/llm-server.js";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "dashboard-test-token-0123456789";
const AGENTS = `agents:
  - name: orion
    persona: "Backend engineer."
  - name: iris
    persona: "Reviewer."
tasks:
  max_attempts: 1
  settle_ms: 100
`;

let llm: LlmServer;
let data: string;
let run: RunningCli;
let base: string;
let context: BrowserContext;
let page: Page;
const shots = process.env.UPDATE_SCREENSHOTS ? join(ROOT, "docs", "dashboard") : tempDir("agentos-shots-");
const problems: string[] = [];
/** Tasks the scripted model answers with an invalid step until they are taken off this list. */
const failing = new Set<string>();
/** Tasks whose provider answers HTTP 500: a provider fault, so their agent pauses. */
const outage = new Set<string>();

const api = (method: string, path: string, body?: unknown) => apiClient(base, TOKEN)(method, path, body);
const taskStatus = async (id: string) => (await api("GET", `/v1/agents/orion/tasks/${id}`)).json?.status as string | undefined;

/** A PNG's width from its IHDR chunk. */
const pngWidth = (file: string) => readFileSync(file).readUInt32BE(16);

async function screenshot(name: string, width: number): Promise<void> {
  await page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
  await page.waitForTimeout(300); // the chart follows its box with a ResizeObserver
  const file = join(shots, `${name}-${width}.png`);
  await page.screenshot({ path: file, fullPage: true });
  expect(pngWidth(file)).toBe(width);
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);
  mkdirSync(shots, { recursive: true });
  llm = await startLlmServer();
  // A reply that never fits the step schema (not a provider fault, which would pause the agent): the task is dead-lettered.
  llm.script((req) =>
    req.taskId && failing.has(req.taskId)
      ? { content: JSON.stringify({ answer: 42, reward: 7 }) }
      : req.taskId && outage.has(req.taskId)
        ? { status: 500, body: JSON.stringify({ error: { message: "scripted outage" } }) }
        : undefined,
  );
  data = dataDir(AGENTS);
  run = await startRun(
    data,
    scriptedEnv(llm, { LLM_API_KEY: "sk-test", LLM_MODEL: "scripted-model", LLM_MAX_RETRIES: "0", AGENTOS_API_TOKEN: TOKEN, SHUTDOWN_GRACE_SECONDS: "2" }),
    ["--http", "127.0.0.1:0"],
  );
  base = await apiBase(run);
  context = await chromium.launchPersistentContext(tempDir("agentos-chromium-"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => void (m.type() === "error" && problems.push(`console error: ${m.text()}`)));
  page.on("pageerror", (e) => void problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => void problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => void (r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`)));
}, 180_000);

afterAll(async () => {
  await context?.close();
  await run?.stop();
  await llm?.close();
  if (data) removeDir(data);
  if (!process.env.UPDATE_SCREENSHOTS) removeDir(shots);
});

describe("dashboard in a real Chromium", () => {
  it("asks for the token, keeps it in sessionStorage only, and serves the page under a strict CSP", async () => {
    const res = await page.goto(base + "/");
    const csp = res!.headers()["content-security-policy"]!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect((await api("GET", "/v1/overview")).status).toBe(200);
    expect((await fetch(base + "/v1/overview")).status).toBe(401);

    await page.getByRole("textbox", { name: "Token" }).fill(TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Agents" }).waitFor();
    await page.getByRole("row", { name: /orion/ }).waitFor();
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([TOKEN]);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    await page.getByRole("status").filter({ hasText: "Live" }).waitFor();
    // Marks this document: if anything reloads the page, the mark is gone.
    await page.evaluate(() => ((window as unknown as { agentosMark: number }).agentosMark = 42));
  });

  it("enqueues from the keyboard and shows the task done without a reload", async () => {
    await page.getByRole("link", { name: "orion", exact: true }).click();
    await page.getByRole("heading", { name: /^orion/ }).waitFor();
    const task = page.getByRole("textbox", { name: "Task" });
    await task.focus();
    // The bracketed directives steer the scripted model: a skill, a goal and a reflection to show.
    await page.keyboard.type("List your active constraints and explain how the reward system works. [skill:explain-rewards] [goal:document the reward audit] [reflect:quote the constraint lines]");
    for (let i = 0; i < 3; i++) await page.keyboard.press("Tab"); // priority, id, then the button
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Enqueue");
    await page.keyboard.press("Enter");
    const sent = page.getByRole("list", { name: "Tasks sent from this page" }).getByRole("listitem").first();
    await sent.getByText("done").waitFor({ timeout: 30_000 });
    const id = (await sent.getAttribute("data-task"))!;
    expect(await taskStatus(id)).toBe("done");
    expect(await task.inputValue()).toBe("");
    expect(await page.evaluate(() => (window as unknown as { agentosMark?: number }).agentosMark)).toBe(42);
  });

  it("draws the reward trend with the audit's disagreement marked, named for what it shows", async () => {
    // +1 claimed on a near-empty answer: the rule-based audit scores it 0.
    await page.getByRole("textbox", { name: "Task" }).fill("Say ok. [answer:ok]");
    await page.getByRole("button", { name: "Enqueue" }).click();
    const chart = page.getByRole("img", { name: /rewards of the last 2 tasks/ });
    await chart.waitFor({ timeout: 30_000 });
    expect(await chart.getAttribute("aria-label")).toMatch(/^Reward trend chart: rewards of the last 2 tasks, rolling mean now 1, 1 audit divergence marked$/);
    const canvas = await chart.locator("canvas").boundingBox();
    expect(canvas!.width).toBeGreaterThan(200);
    expect(canvas!.height).toBeGreaterThan(100);
    await page.getByRole("heading", { name: "Git timeline" }).waitFor();
    expect(await page.locator(".timeline li").count()).toBeGreaterThanOrEqual(3); // two tasks and init
    await page.getByText("Audit: 0").first().waitFor();
    await page.getByRole("rowheader", { name: /explain-rewards/ }).waitFor();
    // Also in the prompt section (the goal is in the prompt the agent last sent): the list item is the goal.
    await page.getByRole("listitem").filter({ hasText: "document the reward audit" }).first().waitFor();
    await page.getByText("quote the constraint lines").first().waitFor();
    await screenshot("agent", 1280);
    await screenshot("agent", 390);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("requeues a dead letter, which then runs", async () => {
    failing.add("flaky");
    expect((await api("POST", "/v1/agents/orion/tasks", { id: "flaky", task: "Summarise the incident report." })).status).toBe(202);
    await eventually(async () => (await taskStatus("flaky")) === "dead", 30_000, "flaky dead-lettered");
    await page.getByRole("link", { name: "Dead letters" }).click();
    const letter = page.getByRole("article", { name: "Dead letter flaky" });
    await letter.waitFor();
    await letter.getByText("delivery limit").waitFor();
    failing.delete("flaky");
    await letter.getByRole("button", { name: "Requeue" }).click();
    await page.getByRole("status").filter({ hasText: "Requeued flaky to orion." }).waitFor();
    await letter.getByText(/to orion as/).waitFor();
    await eventually(async () => (await taskStatus("flaky")) === "done", 30_000, "flaky done after the requeue");
    await page.getByRole("link", { name: "Agents" }).click();
    await page.getByRole("row", { name: /orion/ }).getByText("flaky").waitFor({ timeout: 10_000 });
  });

  it("shows an agent its provider pauses, and why, as it happens", async () => {
    outage.add("outage-1");
    expect((await api("POST", "/v1/agents/iris/tasks", { id: "outage-1", task: "Review the retry wrapper." })).status).toBe(202);
    const iris = page.getByRole("row", { name: /iris/ });
    await iris.getByText("paused", { exact: true }).waitFor({ timeout: 30_000 });
    expect(await iris.locator(".why").textContent()).toMatch(/HTTP 500|failed/);
    await screenshot("overview", 1280);
    await screenshot("overview", 390);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("purges a dead letter only after asking, and filters by agent and reason", async () => {
    failing.add("doomed");
    expect((await api("POST", "/v1/agents/orion/tasks", { id: "doomed", task: "This one keeps failing." })).status).toBe(202);
    await eventually(async () => (await taskStatus("doomed")) === "dead", 30_000, "doomed dead-lettered");
    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.getByRole("combobox", { name: "Reason" }).selectOption("delivery_limit");
    await page.getByRole("combobox", { name: "Agent" }).selectOption("orion");
    expect(page.url()).toMatch(/#\/dead-letters\?agent=orion&reason=delivery_limit$/);
    const letter = page.getByRole("article", { name: "Dead letter doomed" });
    await letter.waitFor();
    await screenshot("dead-letters", 1280);
    await screenshot("dead-letters", 390);
    await page.setViewportSize({ width: 1280, height: 900 });

    await letter.getByRole("button", { name: "Purge" }).click();
    const dialog = page.getByRole("dialog", { name: "Purge this dead letter?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await letter.count()).toBe(1);
    await letter.getByRole("button", { name: "Purge" }).click();
    await dialog.getByRole("button", { name: "Purge for good" }).click();
    await letter.waitFor({ state: "detached" });
    const left = (await api("GET", "/v1/dead-letters?agent=orion")).json.dead_letters as { task_id: string }[];
    expect(left.map((d) => d.task_id)).toEqual(["flaky"]);
  });

  it("shows a task's text, answer, reward, audit and commit", async () => {
    await page.evaluate(() => void (location.hash = "#/agents/orion/tasks/flaky"));
    await page.getByRole("heading", { name: "Task flaky" }).waitFor();
    await page.getByRole("heading", { name: "Answer" }).waitFor();
    await page.getByText("Summarise the incident report.").first().waitFor();
    await page.getByText("orion(task): flaky").waitFor();
    await page.getByText("Task-Id: flaky").waitFor();
    await screenshot("task", 1280);
  });

  it("made no request that failed and logged no error in the browser", () => {
    expect(problems).toEqual([]);
  });
});
