// Links and special files: nothing under DATA_DIR is read, written or listed through a
// symbolic link, and no FIFO or device is ever opened in a way that could block or flood.
// Real symlinks, real FIFOs (mkfifo), a real link to /dev/zero.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { appendDurable, ensureDir, listFolder, readTextIfExists, TextCache, UnsafePathError, writeFileAtomic } from "../src/store/files.js";
import { readTaskFile } from "../src/store/task-file-read.js";
import { agentPaths, sharedPaths } from "../src/store/layout.js";
import { listDeadLetters } from "../src/store/dead-letters.js";
import { eventually, removeDir, shellAppend, tempDir } from "./support/harness.js";
import { startLlmServer } from "./support/llm-server.js";
import { agent, block, committed, queue, runtimeHarness, yaml } from "./support/iac.js";
import { agentDir, dataDir } from "./support/data.js";
import { runCli } from "./support/runtime.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A data dir (guarded, as every runtime's is) and a secret outside it that an attacker cannot read directly. */
function setup() {
  const data = tempDir();
  const outside = tempDir("agentos-outside-");
  dirs.push(data, outside);
  const secret = join(outside, "llm_api_key");
  writeFileSync(secret, "sk-secret-key-outside-data-dir\n");
  const shared = sharedPaths(data);
  const p = agentPaths(data, "orion");
  for (const d of [p.dir, join(shared.inboxRoot, "orion"), shared.handoffsRoot, shared.segments]) mkdirSync(d, { recursive: true });
  return { data, outside, secret, shared, p };
}

const mkfifo = (path: string) => execFileSync("mkfifo", [path]);

describe("state files", () => {
  it("refuses an agent whose ledger is a link at its next start, naming it, and leaves the file it points to as it was", () => {
    const data = dataDir(`agents:\n  - name: orion\n    persona: "Backend engineer."\n`);
    expect(runCli(["run", "--once", "--offline", "--data", data]).status).toBe(0);
    const outside = join(tempDir("agentos-outside-"), "notes.txt");
    writeFileSync(outside, "done\tnot-a-task\nkeep me as I am\n");
    const ledger = join(agentDir(data, "orion"), ".agentos", "ledger.log");
    rmSync(ledger);
    symlinkSync(outside, ledger);
    const r = runCli(["run", "--once", "--offline", "--data", data]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(`${ledger}: is a symbolic link`);
    expect(readFileSync(outside, "utf8")).toBe("done\tnot-a-task\nkeep me as I am\n");
  });
});

describe("task files", () => {
  it("refuses a symlinked message file, naming it, and reads the regular file beside it", async () => {
    const { secret, shared } = setup();
    const inbox = join(shared.inboxRoot, "orion");
    symlinkSync(secret, join(inbox, "steal.md"));
    writeFileSync(join(inbox, "ok.md"), "## ok\ntask: fine\n");
    const bad = await readTaskFile(join(inbox, "steal.md"));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/symbolic link; AgentOS never follows links/);
    expect(JSON.stringify(bad)).not.toContain("sk-secret");
    const good = await readTaskFile(join(inbox, "ok.md"));
    expect(good.ok && good.text).toBe("## ok\ntask: fine\n");
  });

  it("refuses a message file in a symlinked inbox folder, naming the folder", async () => {
    const { outside, shared } = setup();
    writeFileSync(join(outside, "victim.md"), "## victim\ntask: outside DATA_DIR\n");
    symlinkSync(outside, join(shared.inboxRoot, "iris"));
    const r = await readTaskFile(join(shared.inboxRoot, "iris", "victim.md"));
    expect(!r.ok && r.message).toContain(`${join(shared.inboxRoot, "iris")} is a symbolic link`);
    await expect(listFolder(join(shared.inboxRoot, "iris"))).rejects.toThrow(UnsafePathError);
    // The file outside is untouched and the real inbox still lists.
    expect(readFileSync(join(outside, "victim.md"), "utf8")).toContain("victim");
    expect(await listFolder(join(shared.inboxRoot, "orion"))).toEqual([]);
  });

  it("opens a FIFO without blocking and refuses it (four of them at once cannot freeze the thread pool)", async () => {
    const { shared } = setup();
    const inbox = join(shared.inboxRoot, "orion");
    const fifos = [1, 2, 3, 4, 5].map((i) => join(inbox, `pipe-${i}.md`));
    for (const f of fifos) mkfifo(f);
    const reads = await Promise.all(fifos.map((f) => readTaskFile(f)));
    for (const r of reads) expect(!r.ok && r.message).toMatch(/FIFO \(named pipe\), not a regular file/);
    // The pool is free: a regular read still completes.
    writeFileSync(join(inbox, "after.md"), "## after\ntask: x\n");
    expect((await readTaskFile(join(inbox, "after.md"))).ok).toBe(true);
    expect((await listFolder(inbox)).filter((e) => e.kind === "special").length).toBe(5);
  });

  it("never reads from a link to /dev/zero (no 700 MB read)", async () => {
    const { p } = setup();
    symlinkSync("/dev/zero", p.queue);
    const before = process.memoryUsage().rss;
    const r = await readTaskFile(p.queue);
    expect(!r.ok && r.message).toMatch(/symbolic link/);
    await expect(readTextIfExists(p.queue)).rejects.toThrow(/symbolic link/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("refuses a character device by descriptor check when it is not a link (/dev/null given directly)", async () => {
    const r = await readTaskFile("/dev/null");
    expect(!r.ok && r.message).toMatch(/character device, not a regular file/);
  });
});

describe("writes", () => {
  it("does not append through a symlinked queue.md", async () => {
    const { secret, p } = setup();
    symlinkSync(secret, p.queue);
    await expect(appendDurable(p.queue, "\n## t\ntask: x\n")).rejects.toThrow(/queue\.md: is a symbolic link/);
    expect(readFileSync(secret, "utf8")).toBe("sk-secret-key-outside-data-dir\n");
  });

  it("does not write a handoff into a symlinked handoffs folder (no file outside DATA_DIR)", async () => {
    const { outside, shared } = setup();
    symlinkSync(outside, join(shared.handoffsRoot, "iris"));
    await expect(writeFileAtomic(join(shared.handoffsRoot, "iris", "h-1.md"), "## h-1\ntask: x\n")).rejects.toThrow(UnsafePathError);
    await expect(ensureDir(join(shared.handoffsRoot, "iris", "sub"))).rejects.toThrow(/iris: is a symbolic link/);
    expect(existsSync(join(outside, "h-1.md"))).toBe(false);
    expect(existsSync(join(outside, "sub"))).toBe(false);
  });

  it("does not append into a FIFO (no writer blocked waiting for a reader)", async () => {
    const { p } = setup();
    mkfifo(p.queue);
    await expect(appendDurable(p.queue, "x\n")).rejects.toThrow(/FIFO/);
  });
});

describe("prompt files", () => {
  it("refuses a symlinked segment instead of sending its target in the prompt", async () => {
    const { secret, shared } = setup();
    const seg = join(shared.segments, "glossary.md");
    symlinkSync(secret, seg);
    const cache = new TextCache();
    await expect(cache.read(seg)).rejects.toThrow(/glossary\.md: is a symbolic link/);
    writeFileSync(join(shared.segments, "real.md"), "terms\n");
    expect(await cache.read(join(shared.segments, "real.md"))).toBe("terms\n");
  });
});

const llm = await startLlmServer();

describe("a running runtime under attack", { timeout: 240_000 }, () => {
  const h = runtimeHarness(llm);

  it("refuses every link and special file dropped at once, names each, and both agents keep committing", async () => {
    const server = llm;
    const data = h.dataDir(yaml([agent("orion", "medium", "    segments: [glossary]\n"), agent("iris")]));
    const outside = tempDir("agentos-outside-");
    h.track(outside);
    const secret = join(outside, "llm_api_key");
    writeFileSync(secret, "sk-secret-key-outside-data-dir\n");
    writeFileSync(join(outside, "victim.md"), "## victim\ntask: a file outside DATA_DIR\ncreated: 2026-01-01T00:00:00Z\n");
    const shared = sharedPaths(data);
    mkdirSync(shared.segments, { recursive: true });
    mkdirSync(join(shared.inboxRoot, "orion"), { recursive: true });
    mkdirSync(shared.handoffsRoot, { recursive: true });
    mkdirSync(join(shared.root, "shared", "iac", "dead_letters"), { recursive: true });
    // Before start: a linked segment, a linked inbox folder for iris, a linked handoffs folder.
    symlinkSync(secret, join(shared.segments, "glossary.md"));
    symlinkSync(outside, join(shared.inboxRoot, "iris"));
    symlinkSync(outside, join(shared.handoffsRoot, "iris"));
    const { lines } = await h.start(data);
    // While running: a link to the key in orion's inbox, an unknown agent's folder with a
    // FIFO, a link to /dev/zero and a link to the key; a FIFO among the dead letters.
    symlinkSync(secret, join(shared.inboxRoot, "orion", "steal.md"));
    mkdirSync(join(shared.inboxRoot, "ghost"));
    mkfifo(join(shared.inboxRoot, "ghost", "pipe.md"));
    symlinkSync("/dev/zero", join(shared.inboxRoot, "ghost", "zero.md"));
    symlinkSync(secret, join(shared.inboxRoot, "ghost", "key.md"));
    mkfifo(join(shared.root, "shared", "iac", "dead_letters", "trap.md"));
    writeFileSync(join(shared.inboxRoot, "ghost", "real.md"), "## ghost-1\ntask: for nobody\ncreated: 2026-01-01T00:00:00Z\n");

    shellAppend(queue(data, "orion"), block("o-1", "Still working?"));
    shellAppend(queue(data, "iris"), block("i-1", "Still working?"));
    await eventually(() => committed(data, "orion", "orion(task): o-1") && committed(data, "iris", "iris(task): i-1"), 120_000, "both agents' commits");
    await eventually(async () => (await listDeadLetters(join(data, "shared", "iac", "dead_letters"))).some((d) => d.taskId === undefined && d.original.includes("ghost-1")), 60_000, "the real unknown-agent file's dead letter");

    const log = lines.join("\n");
    expect(log).toMatch(/inbox\/iris: is a symbolic link/);
    expect(log).toMatch(/glossary' left out of the prompt: .*glossary\.md: is a symbolic link/);
    expect(log).toMatch(/inbox\/orion\/steal\.md: .*symbolic link/);
    expect(log).toMatch(/ghost\/pipe\.md: is not a regular file/);
    expect(log).toMatch(/ghost\/zero\.md: is a symbolic link/);
    // Nothing leaked: not in the prompt, not in a dead letter, not in a log line.
    const prompts = JSON.stringify(server.requests.map((r) => r.body));
    expect(prompts).not.toContain("sk-secret-key");
    expect(prompts).not.toContain("a file outside DATA_DIR");
    const letters = readdirSync(join(data, "shared", "iac", "dead_letters")).filter((n) => n !== "trap.md");
    for (const n of letters) expect(readFileSync(join(data, "shared", "iac", "dead_letters", n), "utf8")).not.toContain("sk-secret-key");
    expect(log).not.toContain("sk-secret-key");
    // Nothing outside DATA_DIR was run, moved or written.
    expect(readdirSync(outside).sort()).toEqual(["llm_api_key", "victim.md"]);
    expect(existsSync(join(shared.inboxRoot, "orion", "steal.md"))).toBe(true);
  });
});
