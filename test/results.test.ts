// Results by task id: fan-out folders for new results, the flat results/<id>.md of a data
// dir from before them left in place and still found, and a result found in git history
// when the work tree no longer has it — through `agentos result`, the API and plain git.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { flatResultFile, resultFile } from "../src/store/layout.js";
import { baseEnv, dataDirWith, eventually, fsckStrict, git, read, removeDir, runCli, runCliAsync, shellAppend, startRun } from "./support/harness.js";
import { startLlmServer } from "./support/llm-server.js";

const llm = await startLlmServer();
const dirs: string[] = [];
afterAll(async () => {
  dirs.forEach(removeDir);
  await llm.close();
});
const env = () => baseEnv({ LLM_API_KEY: "k", LLM_BASE_URL: llm.url, LLM_MODEL: "scripted", SHUTDOWN_GRACE_SECONDS: "2" });
const AGENTS = `agents:\n  - name: orion\n    persona: "Backend engineer."\ntasks:\n  settle_ms: 50\n`;

describe("results by task id", () => {
  it("puts new results in fan-out folders, keeps a data dir's flat results where they are, and finds both, and one only in history", async () => {
    const data = dataDirWith(AGENTS);
    dirs.push(data);
    const dir = join(data, "agents", "orion");
    // A data dir as runs before the fan-out folders left it: flat results, committed with their trailers.
    expect(runCli(["run", "--once", "--data", data], env()).status).toBe(0);
    mkdirSync(join(dir, "results"), { recursive: true });
    for (const id of ["old-1", "old-2"]) {
      writeFileSync(join(dir, flatResultFile(id)), `# ${id}\n\nAn answer from before.\n`);
      git(dir, "add", flatResultFile(id));
      git(dir, "-c", "user.name=orion", "-c", "user.email=orion@agentos.local", "commit", "-q", "-m", `orion(task): ${id}\n\nOld task.\n\nTask-Id: ${id}\nSource: queue`);
    }
    // A person removes one old result from the work tree; history still has it.
    git(dir, "rm", "-q", flatResultFile("old-2"));
    git(dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.org", "commit", "-q", "-m", "tidy: remove an old result");

    const run = await startRun(data, env(), ["--http", "127.0.0.1:0"]);
    try {
      const base = (await run.waitFor(/REST API listening on (http:\/\/\S+)/))[1]!;
      shellAppend(join(dir, "queue.md"), "\n## new-1\ntask: Explain the fan-out folders.\npriority: normal\n");
      await eventually(() => existsSync(join(dir, resultFile("new-1"))), 20_000, "the new result");
      const bucket = createHash("sha1").update("new-1").digest("hex").slice(0, 2);
      expect(resultFile("new-1")).toBe(`results/${bucket}/new-1.md`);
      // Left where it was: no migration commit moves the old ones.
      expect(read(join(dir, "results", "old-1.md"))).toBe("# old-1\n\nAn answer from before.\n");

      const get = async (path: string) => {
        const res = await fetch(base + path);
        return { status: res.status, type: res.headers.get("content-type"), where: res.headers.get("x-agentos-result-path"), text: await res.text() };
      };
      const fresh = await get("/v1/agents/orion/results/new-1");
      expect(fresh).toMatchObject({ status: 200, where: `agents/orion/results/${bucket}/new-1.md` });
      expect(fresh.type).toMatch(/^text\/markdown/);
      expect(fresh.text).toBe(read(join(dir, resultFile("new-1"))));
      expect((await get("/v1/agents/orion/results/old-1")).text).toBe("# old-1\n\nAn answer from before.\n");
      expect((await get("/v1/agents/orion/results/old-2")).text).toBe("# old-2\n\nAn answer from before.\n");
      expect((await get("/v1/agents/orion/results/never")).status).toBe(404);
      expect((await get("/v1/agents/orion/results/..%2Fpersona")).status).toBe(400);
      const task = await fetch(base + "/v1/agents/orion/tasks/new-1").then((r) => r.json());
      expect(task).toMatchObject({ status: "done", result: fresh.text });
    } finally {
      await run.stop();
    }

    const cli = (id: string, ...extra: string[]) => runCli(["result", id, "--data", data, ...extra], env());
    expect(cli("new-1").stdout).toBe(read(join(dir, resultFile("new-1"))));
    expect(cli("old-1", "--agent", "orion").stdout).toBe("# old-1\n\nAn answer from before.\n");
    expect(cli("old-2").stdout).toBe("# old-2\n\nAn answer from before.\n");
    const missing = cli("never");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no result for task 'never' in any of 1 agent\(s\): not in results\/[0-9a-f]{2}\/never\.md, results\/never\.md or git history/);
    expect(cli("x", "--agent", "nobody").stderr).toMatch(/unknown agent 'nobody' \(agents\.yaml has orion\)/);
    // The plain-git way in docs/file-formats.md.
    expect(git(dir, "ls-files", "results/*/new-1.md")).toBe(`results/${createHash("sha1").update("new-1").digest("hex").slice(0, 2)}/new-1.md\n`);
    const commit = git(dir, "log", "-1", "--format=%H", "--grep=^Task-Id: old-2$").trim();
    expect(git(dir, "show", `${commit}:results/old-2.md`)).toBe("# old-2\n\nAn answer from before.\n");
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  }, 90_000);

  it("keeps the newest keep_results results in the work tree: older ones leave it with a later task's commit and are found in history", async () => {
    // One task at a time (the slow class): the order results are written in is the queue's.
    const data = dataDirWith(`${AGENTS.replace('persona: "Backend engineer."', 'persona: "Backend engineer."\n    throughput_class: slow')}  keep_results: 3\n`);
    dirs.push(data);
    const dir = join(data, "agents", "orion");
    expect(runCli(["run", "--once", "--data", data], env()).status).toBe(0);
    // A data dir from before the window: four flat results, committed.
    for (const id of ["old-1", "old-2", "old-3", "old-4"]) {
      writeFileSync(join(dir, flatResultFile(id)), `# ${id}\n\nAn answer from before.\n`);
      git(dir, "add", flatResultFile(id));
      git(dir, "-c", "user.name=orion", "-c", "user.email=orion@agentos.local", "commit", "-q", "-m", `orion(task): ${id}\n\nOld task.\n\nTask-Id: ${id}\nSource: queue`);
    }
    const ids = ["w-1", "w-2", "w-3", "w-4", "w-5"];
    writeFileSync(join(dir, "queue.md"), ids.map((id) => `## ${id}\ntask: Answer ${id}.\npriority: normal\n\n`).join(""));
    // Async: the scripted model answers from this process.
    const once = await runCliAsync(["run", "--once", "--data", data], env());
    expect(once.status, once.stdout.slice(-3000)).toBe(0);
    const tracked = git(dir, "ls-files", "results").trim().split("\n").filter((p) => p.endsWith(".md"));
    expect(tracked.sort()).toEqual(["w-3", "w-4", "w-5"].map(resultFile).sort());
    // Each task's commit adds its result and takes the oldest ones out, down to three: w-1's
    // the two oldest of the four from before, w-2's and w-3's the other two, w-4's w-1.
    const changed = (id: string) => git(dir, "show", "--no-renames", "--name-status", "--format=", git(dir, "log", "-1", "--format=%H", `--grep=^Task-Id: ${id}$`).trim()).trim().split("\n").filter((l) => l.includes("results/")).sort();
    expect(changed("w-1")).toEqual([`A\t${resultFile("w-1")}`, ...["old-1", "old-2"].map((id) => `D\t${flatResultFile(id)}`)].sort());
    expect(changed("w-3")).toEqual([`A\t${resultFile("w-3")}`, `D\t${flatResultFile("old-4")}`].sort());
    expect(changed("w-4")).toEqual([`A\t${resultFile("w-4")}`, `D\t${resultFile("w-1")}`].sort());
    for (const id of ["old-1", "old-4", "w-1", "w-2"]) {
      expect(existsSync(join(dir, resultFile(id))) || existsSync(join(dir, flatResultFile(id))), `${id} left the work tree`).toBe(false);
      const r = runCli(["result", id, "--data", data], env());
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(id.startsWith("old") ? "An answer from before" : `# ${id}`));
    }
    expect(runCli(["result", "w-5", "--data", data], env()).stdout).toBe(read(join(dir, resultFile("w-5"))));
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  }, 90_000);
});
