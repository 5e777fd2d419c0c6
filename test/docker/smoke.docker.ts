// Docker smoke test: builds the image, runs it the way docs/deploy.md says (read-only
// root, tmpfs /tmp, --user, a key in a secret file) against the scripted LLM server,
// and checks commits, restarts, upgrades, file ownership, PID-1 shutdown and the
// Compose example's handoff between two containers. Containers use host networking,
// which also lets them reach the scripted server on 127.0.0.1.
// No Docker engine is a failure, never a skip: CI must not go green without this test.
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/checker.js";
import { read, removeDir, shellAppend, tempDir, ROOT } from "../support/data.js";
import { startLlmServer, type LlmServer } from "../support/llm-server.js";

const IMAGE = process.env.AGENTOS_TEST_IMAGE ?? "agentos:smoke-test";
const IS_ROOT = process.getuid?.() === 0;
// --user: as root, a uid that is neither the image's default (1000) nor root; otherwise ourselves.
const UID = IS_ROOT ? 4321 : process.getuid!();
const GID = IS_ROOT ? 4321 : process.getgid!();
const PREFIX = `agentos-smoke-${process.pid}`;

function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; allowFail?: boolean; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, env: opts.env ?? process.env, timeout: opts.timeout ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
  if (!opts.allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}${r.error ? `\n${r.error.message}` : ""}`);
  return { status: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}
const docker = (...args: string[]) => sh("docker", args).out.trim();
const gitIn = (dir: string, ...args: string[]) => sh("git", ["-c", "safe.directory=*", "-C", dir, ...args]).out;
const taskSubjects = (dir: string) => gitIn(dir, "log", "--format=%s").split("\n").filter((s) => s.includes("(task):"));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Every file and directory under dir (symlinks not followed), with its owner. */
function owners(dir: string): { path: string; uid: number; gid: number }[] {
  const out: { path: string; uid: number; gid: number }[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue; // the running runtime just replaced it (atomic write, compaction)
    }
    out.push({ path: p, uid: st.uid, gid: st.gid });
    if (st.isDirectory()) out.push(...owners(p));
  }
  return out;
}

/** Hands a host path to uid (root can chown; others make it writable for everyone). */
function giveTo(uid: number, ...paths: string[]): void {
  for (const p of paths) {
    if (IS_ROOT) chownSync(p, uid, uid === UID ? GID : uid);
    else chmodSync(p, lstatSync(p).isDirectory() ? 0o777 : 0o644);
  }
}

/** Removes a data dir whose files belong to container users (as root, inside a container). */
function wipe(dir: string): void {
  sh("docker", ["run", "--rm", "--user", "0:0", "-v", `${dir}:/d`, "--entrypoint", "find", IMAGE, "/d", "-mindepth", "1", "-delete"], { allowFail: true });
  removeDir(dir);
}

/** What the runtime created in a data dir: everything under agents/ and shared/. */
const created = (data: string) => [...owners(join(data, "agents")), ...owners(join(data, "shared"))];

/** A Docker engine, or a loud failure; on machines without a registry, the local stand-in base image. */
function prepareDocker(): string {
  const local = join(ROOT, "..", "shared", "docker", "local-base-image.sh");
  let base = process.env.AGENTOS_BASE_IMAGE;
  if (!base && existsSync(local)) {
    const r = sh("bash", [local], { allowFail: true });
    if (r.status === 0) base = r.out.trim().split("\n").pop();
    else console.error(`[docker smoke] ${local} failed:\n${r.err}`);
  }
  const info = sh("docker", ["info", "--format", "{{.ServerVersion}}"], { allowFail: true });
  if (info.status !== 0) {
    throw new Error(
      `DOCKER SMOKE TEST CANNOT RUN: no Docker engine (docker info: ${info.err.trim() || "docker not found"}). ` +
        "Install Docker or start the daemon; this test fails rather than passing without checking the image.",
    );
  }
  return base ?? "node:24-bookworm-slim";
}

let llm: LlmServer;
let baseImage: string;
const cleanup: (() => void)[] = [];

beforeAll(async () => {
  baseImage = prepareDocker();
  const started = Date.now();
  sh("docker", ["build", "--network", "host", "--build-arg", `BASE_IMAGE=${baseImage}`, "-t", IMAGE, ROOT]);
  console.log(`[docker smoke] built ${IMAGE} from ${baseImage} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  llm = await startLlmServer({ host: "127.0.0.1" });
});

afterAll(async () => {
  for (const c of cleanup.reverse()) {
    try {
      c();
    } catch (err) {
      console.error(`[docker smoke] cleanup: ${(err as Error).message}`);
    }
  }
  await llm?.close();
});

describe("the Docker image", () => {
  it("is a small runtime image with the seed's defaults, a healthcheck and OCI labels, that leaves root before it works", () => {
    const [info] = JSON.parse(docker("image", "inspect", IMAGE)) as any[];
    const c = info.Config;
    // Started as root only to become the owner of /data (see the next tests).
    expect(c.User ?? "").toBe("");
    expect(c.Env).toContain("AGENTOS_RUN_AS_DATA_OWNER=1");
    expect(c.Entrypoint).toEqual(["agentos"]);
    expect(c.Cmd).toEqual(["run"]);
    expect(Object.keys(c.Volumes ?? {})).toEqual(["/data"]);
    expect(c.Env).toEqual(expect.arrayContaining(["DATA_DIR=/data", "LLM_BASE_URL=https://api.openai.com/v1", "LLM_MODEL=gpt-4o", "LLM_MAX_TOKENS=2048", "LLM_TIMEOUT=60"]));
    expect(c.Healthcheck.Test).toEqual(["CMD", "agentos", "health"]);
    expect(c.Labels["org.opencontainers.image.title"]).toBe("AgentOS");
    expect(c.Labels["org.opencontainers.image.version"]).toMatch(/^\d+\.\d+\.\d+/);
    // Runtime stage: compiled JS and production dependencies only, plus the git CLI
    // (background packing keeps .git small; docs/durability.md).
    const probe = sh("docker", ["run", "--rm", "--entrypoint", "sh", IMAGE, "-c", "ls /app; ls /app/node_modules | tr '\\n' ' '; test ! -e /app/src && test ! -e /app/node_modules/typescript && test ! -e /app/node_modules/vitest && command -v git"]);
    expect(probe.out).toContain("dist");
    console.log(`[docker smoke] image size ${(info.Size / 1e6).toFixed(0)} MB`);
  });

  it("runs read-only as --user, takes the key from a file, commits, and keeps state across stop/start and a new container", async () => {
    const data = tempDir("agentos-docker-", true);
    cleanup.push(() => wipe(data));
    writeFileSync(join(data, "agents.yaml"), `agents:\n  - name: orion\n    persona: "Backend engineer."\n`);
    const secrets = tempDir("agentos-docker-secret-", true);
    cleanup.push(() => removeDir(secrets));
    writeFileSync(join(secrets, "llm_api_key"), "sk-from-secret-file\n");
    chmodSync(join(secrets, "llm_api_key"), 0o644);
    giveTo(UID, data, join(data, "agents.yaml"));
    const apiPort = await freePort();
    const name = `${PREFIX}-orion`;
    const runArgs = (container: string, image = IMAGE) => [
      "run", "-d", "--name", container, "--network", "host",
      "--read-only", "--tmpfs", "/tmp", "--user", `${UID}:${GID}`,
      "--health-interval", "2s", "--health-start-period", "1s", "--health-retries", "2",
      "-v", `${data}:/data`, "-v", `${join(secrets, "llm_api_key")}:/run/secrets/llm_api_key:ro`,
      "-e", "LLM_API_KEY_FILE=/run/secrets/llm_api_key", "-e", `LLM_BASE_URL=${llm.url}`, "-e", "LLM_MODEL=scripted-model",
      "-e", `HTTP_ADDR=127.0.0.1:${apiPort}`,
      image,
    ];
    cleanup.push(() => sh("docker", ["rm", "-f", name, `${name}-v2`], { allowFail: true }));
    docker(...runArgs(name));
    const logs = (c = name) => sh("docker", ["logs", c], { allowFail: true }).out + sh("docker", ["logs", c], { allowFail: true }).err;
    await eventually(() => /Watching for tasks\./.test(logs()), 60_000, `container start:\n${logs()}`);
    expect(logs()).toMatch(/INFO \[bootstrap\] Initialised git repo at \/data\/agents\/orion/);

    const repo = join(data, "agents", "orion");
    const task = (id: string) => `\n## ${id}\ntask: |\n  [skill:retry-with-backoff] Write a retry helper with backoff for ${id}.\n`;
    shellAppend(join(repo, "queue.md"), task("docker-first"));
    await eventually(() => taskSubjects(repo).includes("orion(task): docker-first"), 30_000, `commit of docker-first:\n${logs()}`);
    const req = llm.requests.find((r) => r.taskId === "docker-first");
    expect(req?.headers.authorization).toBe("Bearer sk-from-secret-file");
    expect(logs()).not.toContain("sk-from-secret-file");

    // The healthcheck really runs the heartbeat check, and the API answers from the host.
    await eventually(() => docker("inspect", "--format", "{{.State.Health.Status}}", name) === "healthy", 30_000, "healthy");
    const health = await fetch(`http://127.0.0.1:${apiPort}/healthz`).then((r) => r.json());
    expect(health).toMatchObject({ status: "ok", agents: 1 });

    // Everything the container wrote belongs to the --user uid:gid.
    const wrong = created(data).filter((o) => o.uid !== UID || o.gid !== GID);
    expect(wrong).toEqual([]);

    // PID 1 handles SIGTERM: a graceful stop, well before Docker's 10 s SIGKILL.
    const t0 = Date.now();
    docker("stop", name);
    const stopSeconds = (Date.now() - t0) / 1000;
    expect(docker("inspect", "--format", "{{.State.ExitCode}}", name)).toBe("0");
    expect(logs()).toMatch(/SIGTERM received: finishing running tasks/);
    expect(logs()).toMatch(/INFO \[agentos\] stopped/);
    expect(stopSeconds).toBeLessThan(8);

    docker("start", name);
    await eventually(() => (logs().match(/Watching for tasks\./g) ?? []).length === 2, 60_000, "restart");
    shellAppend(join(repo, "queue.md"), task("docker-second"));
    await eventually(() => taskSubjects(repo).includes("orion(task): docker-second"), 30_000, `commit after restart:\n${logs()}`);
    expect(logs().match(/Initialised git repo/g)).toHaveLength(1);

    // Upgrade: rebuild the image (a new version label makes it a new image), remove the
    // container, run one from the new image over the same data.
    const upgraded = `${IMAGE}-v2`;
    sh("docker", ["build", "--network", "host", "--build-arg", `BASE_IMAGE=${baseImage}`, "--build-arg", "VERSION=0.1.1-smoke", "-t", upgraded, ROOT]);
    cleanup.push(() => sh("docker", ["rmi", "-f", upgraded], { allowFail: true }));
    expect(docker("image", "inspect", "--format", "{{.Id}}", upgraded)).not.toBe(docker("image", "inspect", "--format", "{{.Id}}", IMAGE));
    docker("rm", "-f", name);
    docker(...runArgs(`${name}-v2`, upgraded));
    await eventually(() => /Watching for tasks\./.test(logs(`${name}-v2`)), 60_000, "new container");
    expect(logs(`${name}-v2`)).not.toMatch(/Initialised git repo/);
    shellAppend(join(repo, "queue.md"), task("docker-third"));
    await eventually(() => taskSubjects(repo).includes("orion(task): docker-third"), 30_000, `commit in the new container:\n${logs(`${name}-v2`)}`);
    expect(taskSubjects(repo)).toEqual(["orion(task): docker-third", "orion(task): docker-second", "orion(task): docker-first"]);
    expect(read(join(repo, "skills.md"))).toMatch(/reward_evidence: 3/);
    expect(gitIn(repo, "log", "--format=%s").trim().split("\n").at(-1)).toBe("init: agent filesystem");
    sh("git", ["-c", "safe.directory=*", "-C", repo, "fsck", "--strict", "--no-progress"]);
    docker("stop", `${name}-v2`);
  });

  it("runs the seed's docker run example as written: default user, key and provider in the environment", async () => {
    const data = tempDir("agentos-docker-seed-", true);
    cleanup.push(() => wipe(data));
    writeFileSync(join(data, "agents.yaml"), `agents:\n  - name: revu\n    persona: "Code reviewer."\n`);
    giveTo(1000, data, join(data, "agents.yaml")); // the image's `node` user, like a desktop user's first uid
    const name = `${PREFIX}-seed`;
    cleanup.push(() => sh("docker", ["rm", "-f", name], { allowFail: true }));
    docker("run", "-d", "--name", name, "--network", "host", "-e", "LLM_API_KEY=sk-seed-example", "-e", `LLM_BASE_URL=${llm.url}`, "-e", "LLM_MODEL=gpt-4o", "-v", `${data}:/data`, IMAGE);
    const logs = () => { const r = sh("docker", ["logs", name], { allowFail: true }); return r.out + r.err; };
    await eventually(() => /Watching for tasks\./.test(logs()), 60_000, `seed example start:\n${logs()}`);
    const repo = join(data, "agents", "revu");
    shellAppend(join(repo, "queue.md"), "\n## review-flask-endpoint\ntask: Review this endpoint for SQL injection and missing auth.\n");
    await eventually(() => taskSubjects(repo).includes("revu(task): review-flask-endpoint"), 30_000, `seed example commit:\n${logs()}`);
    expect(gitIn(repo, "log", "-1", "--format=%(trailers:key=Model,valueonly)").trim()).toBe("gpt-4o");
    docker("stop", name);
    expect(created(data).filter((o) => o.uid !== 1000)).toEqual([]);
  });
});

describe("the article's docker run, whoever owns the data folder", () => {
  const article = (name: string, data: string, ...extra: string[]) => [
    "run", "-d", "--name", name, "--network", "host", "-e", "LLM_API_KEY=sk-...", "-e", `LLM_BASE_URL=${llm.url}`, "-e", "LLM_MODEL=gpt-4o", ...extra, "-v", `${data}:/data`, IMAGE,
  ];
  const logsOf = (name: string) => { const r = sh("docker", ["logs", name], { allowFail: true }); return r.out + r.err; };

  it("works as a non-root user over a folder root made (mkdir as root), and says so in docker logs", async () => {
    if (!IS_ROOT) {
      expect(IS_ROOT).toBe(false); // only root can make a root-owned folder to mount
      return;
    }
    const data = tempDir("agentos-docker-root-");
    cleanup.push(() => wipe(data));
    writeFileSync(join(data, "agents.yaml"), `agents:\n  - name: orion\n    persona: "Backend engineer."\n`);
    expect(lstatSync(data).uid).toBe(0);
    const name = `${PREFIX}-root-owned`;
    cleanup.push(() => sh("docker", ["rm", "-f", name], { allowFail: true }));
    docker(...article(name, data));
    await eventually(() => /Watching for tasks\./.test(logsOf(name)), 60_000, `start over a root-owned folder:\n${logsOf(name)}`);
    expect(logsOf(name)).toMatch(/WARN \[agentos\] \/data belonged to root: handed it \(\d+ files and folders\) to uid 1000:1000/);
    expect(logsOf(name)).toMatch(/INFO \[agentos\] running as uid 1000:1000, the owner of \/data/);
    const repo = join(data, "agents", "orion");
    shellAppend(join(repo, "queue.md"), "\n## first-task\ntask: List your active constraints and explain how the reward system works.\npriority: normal\ncreated: 2026-04-29T10:05:00Z\n");
    await eventually(() => taskSubjects(repo).includes("orion(task): first-task"), 30_000, `commit:\n${logsOf(name)}`);
    // The runtime process itself is not root, and `docker exec` commands leave root too.
    expect(docker("exec", name, "sh", "-c", "stat -c %u /proc/1")).toBe("1000");
    expect(docker("exec", name, "agentos", "status")).toMatch(/^orion {2}running/m);
    docker("stop", name);
    expect(created(data).filter((o) => o.uid !== 1000)).toEqual([]);
    // A second start changes nothing and says nothing about root.
    docker("start", name);
    await eventually(() => (logsOf(name).match(/Watching for tasks\./g) ?? []).length === 2, 60_000, "restart");
    expect(logsOf(name).match(/belonged to root/g)).toHaveLength(1);
    docker("stop", name);
  });

  it("works as the owner of a folder a host user owns, without --user", async () => {
    const data = tempDir("agentos-docker-owner-");
    cleanup.push(() => wipe(data));
    writeFileSync(join(data, "agents.yaml"), `agents:\n  - name: iris\n    persona: "Data analyst."\n`);
    giveTo(UID, data, join(data, "agents.yaml"));
    const name = `${PREFIX}-host-owned`;
    cleanup.push(() => sh("docker", ["rm", "-f", name], { allowFail: true }));
    docker(...article(name, data));
    await eventually(() => /Watching for tasks\./.test(logsOf(name)), 60_000, `start over a host user's folder:\n${logsOf(name)}`);
    if (IS_ROOT) expect(logsOf(name)).toContain(`running as uid ${UID}:${GID}, the owner of /data`);
    docker("stop", name);
    expect(created(data).filter((o) => o.uid !== (IS_ROOT ? UID : process.getuid!()))).toEqual([]);
  });

  it("says in docker logs what it cannot do: a root-owned folder mounted read-only", async () => {
    const data = tempDir("agentos-docker-ro-");
    cleanup.push(() => wipe(data));
    writeFileSync(join(data, "agents.yaml"), `agents:\n  - name: orion\n    persona: "Backend engineer."\n`);
    const name = `${PREFIX}-read-only`;
    cleanup.push(() => sh("docker", ["rm", "-f", name], { allowFail: true }));
    sh("docker", ["run", "-d", "--name", name, "--network", "host", "-e", "LLM_MODEL=offline", "-v", `${data}:/data:ro`, IMAGE]);
    await eventually(() => docker("inspect", "--format", "{{.State.Status}}", name) === "exited", 60_000, "exit");
    expect(docker("inspect", "--format", "{{.State.ExitCode}}", name)).toBe("1");
    if (IS_ROOT) expect(logsOf(name)).toMatch(/^agentos: \/data belongs to root and cannot be handed to uid 1000:1000 \(EROFS/m);
    else expect(logsOf(name)).toMatch(/^agentos: cannot write \/data\/\S+ \(EROFS\)/m);
  });
});

/** docker compose (v2 plugin) and docker-compose (v1), whichever this machine has. */
function composeTools(): string[][] {
  const tools: string[][] = [];
  if (sh("docker", ["compose", "version"], { allowFail: true }).status === 0) tools.push(["docker", "compose"]);
  if (sh("docker-compose", ["version"], { allowFail: true }).status === 0) tools.push(["docker-compose"]);
  return tools;
}

describe("the Compose example", () => {
  it("runs one container per agent; each hands its task to the other and both commit", async () => {
    const tools = composeTools();
    if (!tools.length) throw new Error("COMPOSE TEST CANNOT RUN: neither `docker compose` nor `docker-compose` is installed (Debian: apt-get install docker-compose)");
    for (const tool of tools) {
      const label = tool.join(" ");
      const dir = tempDir("agentos-compose-", true);
      const data = join(dir, "data");
      const secrets = join(dir, "secrets");
      mkdirSync(data);
      mkdirSync(secrets);
      copyFileSync(join(ROOT, "docs", "compose", "agents.yaml"), join(data, "agents.yaml"));
      writeFileSync(join(secrets, "llm_api_key"), "");
      chmodSync(join(secrets, "llm_api_key"), 0o644);
      giveTo(UID, data, join(data, "agents.yaml"));
      const apiPort = await freePort();
      const project = `${PREFIX}-${tool.length}`;
      const env = {
        ...process.env,
        AGENTOS_IMAGE: IMAGE,
        AGENTOS_DATA: data,
        AGENTOS_SECRETS: secrets,
        AGENTOS_UID: String(UID),
        AGENTOS_GID: String(GID),
        AGENTOS_API_TOKEN: "compose-token-0123456789abcdef0123",
        AGENTOS_API_PORT: String(apiPort),
      };
      const compose = (...args: string[]) =>
        sh(tool[0]!, [...tool.slice(1), "-p", project, "-f", join(ROOT, "docker-compose.yml"), "-f", join(ROOT, "docker-compose.host-network.yml"), ...args], { env });
      cleanup.push(() => {
        compose("down", "-t", "15");
        wipe(dir);
      });
      compose("up", "-d", "--no-build");
      const logs = () => { const r = compose("logs", "--no-color"); return r.out + r.err; };
      await eventually(() => (logs().match(/Watching for tasks\./g) ?? []).length === 2, 60_000, `${label}: both containers up:\n${logs()}`);

      // The iris container's API listens a moment after its agents are up.
      await eventually(() => fetch(`http://127.0.0.1:${apiPort}/healthz`).then((r) => r.ok, () => false), 60_000, `${label}: the API answers:\n${logs()}`);
      const tasks = readFileSync(join(ROOT, "docs", "compose", "tasks.md"), "utf8");
      const block = (id: string) => "\n" + tasks.slice(tasks.indexOf(`## ${id}`)).split(/\n\n/)[0] + "\n";
      shellAppend(join(data, "agents", "orion", "queue.md"), block("orion-retry-helper"));
      // The other one through the REST API served by the iris container.
      const posted = await fetch(`http://127.0.0.1:${apiPort}/v1/agents/iris/tasks`, {
        method: "POST",
        headers: { authorization: "Bearer compose-token-0123456789abcdef0123", "content-type": "application/json" },
        body: JSON.stringify({ id: "iris-style-guide", task: "Write a short style guide for error messages in our CLI tools, then hand off to orion so he checks it against the code." }),
      });
      expect(posted.status, label).toBe(202);

      const orion = join(data, "agents", "orion");
      const iris = join(data, "agents", "iris");
      await eventually(() => taskSubjects(orion).length === 2 && taskSubjects(iris).length === 2, 60_000, `${label}: handoffs committed:\n${logs()}`);
      expect(taskSubjects(orion).sort()).toEqual(["orion(task): iris.iris-style-guide", "orion(task): orion-retry-helper"]);
      expect(taskSubjects(iris).sort()).toEqual(["iris(task): iris-style-guide", "iris(task): orion.orion-retry-helper"]);
      expect(gitIn(iris, "log", "--grep", "orion.orion-retry-helper", "--format=%(trailers:key=Source,valueonly)").trim()).toBe("handoff");
      expect(logs()).toMatch(/orion_?1?.*handing off to iris as orion\.orion-retry-helper|handing off to iris as orion\.orion-retry-helper/);

      // Each container runs (and leases) only its own agent, and the API sees both as running.
      const agents = (await fetch(`http://127.0.0.1:${apiPort}/v1/agents`, { headers: { authorization: "Bearer compose-token-0123456789abcdef0123" } }).then((r) => r.json())) as any;
      expect(agents.agents.map((a: any) => [a.name, a.running, a.running_here]), label).toEqual([
        ["orion", true, false],
        ["iris", true, true],
      ]);
      const ids = compose("ps", "-q").out.trim().split("\n");
      expect(ids).toHaveLength(2);
      for (const id of ids) {
        const [c] = JSON.parse(docker("inspect", id)) as any[];
        expect(c.HostConfig.ReadonlyRootfs).toBe(true);
        expect(c.HostConfig.Memory).toBe(256 * 1024 * 1024);
        expect(c.HostConfig.NanoCpus).toBe(5e8);
        expect(c.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
        expect(c.Config.Healthcheck.Test[0]).toBe("CMD");
        expect(c.Config.User).toBe(`${UID}:${GID}`);
      }
      expect(created(data).filter((o) => o.uid !== UID)).toEqual([]);
      compose("down", "-t", "15");
      console.log(`[docker smoke] Compose example passed with ${label}`);
    }
  });
});
