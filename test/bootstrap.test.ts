// A first start in a folder made a moment ago takes the short way (no probing, no reading
// back, nothing to recover): it must leave exactly what the careful way leaves, and the
// careful way must still be taken wherever anything was there before. Real temp dirs,
// the real CLI, checked with native git.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { makeAgentFolder } from "../src/agent/bootstrap.js";
import { UnsafePathError } from "../src/store/files.js";
import { writeFreshFiles } from "../src/store/fresh-files.js";
import { fsckStrict, git } from "./support/checker.js";
import { agentDir, dataDir, read, tempDir } from "./support/data.js";
import { runCli } from "./support/runtime.js";

const YAML = `agents:\n  - name: orion\n    persona: "Backend engineer."\n    goals: ["Handle streaming SSE endpoints robustly"]\n  - name: iris\n    persona: "Writer."\n`;

/** Every file under `dir` but git's own and the runtime's per-run state, with its text. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (rel === ".git" || rel === join(".agentos", "lease.json") || rel === join(".agentos", "status.json")) continue;
      if (e.isDirectory()) {
        out[`${rel}/`] = "";
        walk(p);
      } else out[rel] = readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

const runOnce = (data: string) => runCli(["run", "--once", "--offline", "--data", data]);

describe("first start", () => {
  it("leaves in a new folder exactly what it leaves in an empty folder that was there before: files, record, empty ledger, first commit", () => {
    const fresh = dataDir(YAML);
    const before = dataDir(YAML);
    for (const a of ["orion", "iris"]) mkdirSync(agentDir(before, a), { recursive: true });
    for (const data of [fresh, before]) expect(runOnce(data).status).toBe(0);

    for (const a of ["orion", "iris"]) {
      const [f, b] = [agentDir(fresh, a), agentDir(before, a)];
      const files = tree(f);
      // goals.md carries the moment it was made; the two runs were not made at the same second.
      const stamp = (t: Record<string, string>) => ({ ...t, "goals.md": (t["goals.md"] ?? "").replace(/\d{4}-\d\d-\d\dT[\d:]+Z/g, "<at>") });
      expect(stamp(files)).toEqual(stamp(tree(b)));
      expect(Object.keys(files)).toEqual(expect.arrayContaining(["persona.md", "system_prompt.md", "queue.md", ".gitignore", "skills/archive/.gitkeep", "results/.gitkeep", "iac/README.md", ".agentos/generated.json"]));
      expect(files[join(".agentos", "ledger.log")]).toBe("");
      // Made when first needed (by the first task): 1,000 fresh agents need not make 2,000 of them.
      for (const later of [".agentos/intents/", ".agentos/spool/"]) expect(files).not.toHaveProperty([later]);
      expect(git(f, "log", "--format=%s").trim()).toBe("init: agent filesystem");
      expect(git(f, "ls-tree", "-r", "--name-only", "HEAD").trim().split("\n")).toEqual(git(b, "ls-tree", "-r", "--name-only", "HEAD").trim().split("\n"));
      expect(git(f, "status", "--porcelain")).toBe("");
      fsckStrict(f);
    }
  });

  it("keeps a person's persona.md put in the agent's folder before the first start, and commits it as it is", () => {
    const data = dataDir(YAML);
    mkdirSync(agentDir(data, "orion"), { recursive: true });
    writeFileSync(join(agentDir(data, "orion"), "persona.md"), "# orion\n\nWritten by a person first.\n");
    expect(runOnce(data).status).toBe(0);
    const dir = agentDir(data, "orion");
    expect(read(join(dir, "persona.md"))).toBe("# orion\n\nWritten by a person first.\n");
    expect(git(dir, "show", "HEAD:persona.md")).toBe("# orion\n\nWritten by a person first.\n");
    expect(read(join(dir, "system_prompt.md"))).toContain("You are orion.");
    // The other agent's folder was new: it got everything.
    expect(read(join(agentDir(data, "iris"), "persona.md"))).toContain("Writer.");
    for (const a of ["orion", "iris"]) fsckStrict(agentDir(data, a));
  });

  it("puts back the files whose names a crash lost (a fresh agent's folder is not fsynced), as git has them, without a commit", () => {
    const data = dataDir(YAML);
    expect(runOnce(data).status).toBe(0);
    const dir = agentDir(data, "orion");
    const first = tree(dir);
    const commits = git(dir, "rev-list", "--count", "HEAD");
    for (const f of ["persona.md", "skills.md", join("skills", ".gitkeep"), join(".agentos", "generated.json")]) rmSync(join(dir, f));
    expect(runOnce(data).status).toBe(0);
    expect(tree(dir)).toEqual(first);
    expect(git(dir, "rev-list", "--count", "HEAD")).toBe(commits);
    expect(git(dir, "status", "--porcelain")).toBe("");
    fsckStrict(dir);
  });

  it("regenerates and commits a generated file when agents.yaml changes, and keeps one a person edited", () => {
    const data = dataDir(YAML);
    expect(runOnce(data).status).toBe(0);
    const dir = agentDir(data, "orion");
    writeFileSync(join(dir, "constraints.md"), "# Constraints\n\n- mine\n");
    writeFileSync(join(data, "agents.yaml"), YAML.replace("Backend engineer.", "Backend engineer who writes Go."));
    expect(runOnce(data).status).toBe(0);
    expect(read(join(dir, "persona.md"))).toContain("Backend engineer who writes Go.");
    expect(read(join(dir, "constraints.md"))).toBe("# Constraints\n\n- mine\n");
    expect(git(dir, "log", "-1", "--format=%s", "--", "persona.md").trim()).toBe("orion(config): update from agents.yaml");
    expect(git(dir, "show", "HEAD:persona.md")).toContain("who writes Go.");
    fsckStrict(dir);
  });

  it("starts a second time without a new commit or a rewritten file", () => {
    const data = dataDir(YAML);
    expect(runOnce(data).status).toBe(0);
    const dir = agentDir(data, "orion");
    const inodes = ["persona.md", "skills.md", ".agentos/generated.json"].map((f) => statSync(join(dir, f)).ino);
    expect(runOnce(data).status).toBe(0);
    expect(["persona.md", "skills.md", ".agentos/generated.json"].map((f) => statSync(join(dir, f)).ino)).toEqual(inodes);
    expect(git(dir, "log", "--format=%s").trim()).toBe("init: agent filesystem");
  });
});

describe("makeAgentFolder", () => {
  it("says whether it made the folder, and refuses an agents/ folder that is a link without writing through it", async () => {
    const data = tempDir();
    expect(await makeAgentFolder(data, "orion")).toBe(true);
    expect(await makeAgentFolder(data, "orion")).toBe(false);
    const linked = tempDir();
    const outside = tempDir("agentos-outside-");
    symlinkSync(outside, join(linked, "agents"));
    await expect(makeAgentFolder(linked, "orion")).rejects.toThrow(UnsafePathError);
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe("writeFreshFiles", () => {
  it("writes every file whole and leaves no temp file, also when one of them cannot be written", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "sub"));
    await writeFreshFiles([
      [join(dir, "a.md"), "alpha\n"],
      [join(dir, "sub", "b.md"), "béta\n".repeat(1000)],
    ]);
    expect(readFileSync(join(dir, "a.md"), "utf8")).toBe("alpha\n");
    expect(readFileSync(join(dir, "sub", "b.md"), "utf8")).toBe("béta\n".repeat(1000));
    await expect(writeFreshFiles([[join(dir, "c.md"), "gamma\n"], [join(dir, "missing", "d.md"), "delta\n"]])).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir).sort()).toEqual(["a.md", "sub"]);
    expect(existsSync(join(dir, "c.md"))).toBe(false);
  });
});
