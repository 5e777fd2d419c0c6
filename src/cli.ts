#!/usr/bin/env node
// The `agentos` command: run, validate, enqueue, status, dead-letters, init, demo, health.
// Parses arguments and prints; the work is in ops/ and agent/. Each command imports what
// it uses when it runs (`--version` loads no zod, fastify or undici; `status` no runtime):
// a command line tool that takes a second to say its version is one nobody scripts.
import { readFileSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import * as nodeModule from "node:module";
import { join, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";

// V8's code cache (in the OS temp dir) for the modules the command imports below: the
// second `agentos status` compiles nothing. Silently off where the temp dir is read-only.
nodeModule.enableCompileCache?.();

// `node dist/cli.js` on an older Node would crash deep inside undici; say what is needed.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  console.error(
    `agentos: needs Node.js 22.22 or newer; this is Node ${process.versions.node} (${process.execPath}). ` +
      "Run it as `npx agentos` in the clone, or `agentos` after `npm install -g .` (both use the Node 24 that `npm install` brings), or install Node 24 (https://nodejs.org, `nvm install 24`).",
  );
  process.exit(1);
}

// The values of config/schema's Priority, written out so that parsing arguments needs no zod.
const PRIORITIES = ["high", "normal", "low"] as const;
type Priority = (typeof PRIORITIES)[number];

/** The helpers every command needs (config and env loading: zod, yaml), loaded on first use. */
const common = () => import("./cli/common.js");

const program = new Command("agentos")
  .description("Event-driven runtime for self-learning LLM agents that live as files and git history")
  .version(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version as string)
  .showHelpAfterError();

const dataOption = () => new Option("-d, --data <dir>", "data directory (default: $DATA_DIR or ./data)");
const positiveInt = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("expected a whole number above 0");
  return Number(v);
};

program
  .command("run")
  .description("bootstrap the agents and process their tasks as files change")
  .addOption(dataOption())
  .option("-a, --agent <name...>", "run only these agents (one container per agent in Compose)")
  .option("--once", "process everything ready, then exit (0 if every task succeeded)")
  .option("--offline", "use the built-in offline model instead of an LLM provider")
  .option("--poll", "poll files instead of inotify (NFS, Docker Desktop bind mounts); also AGENTOS_WATCH_POLL=1")
  .option("--http <addr>", "serve the REST API, health and metrics at host:port (also HTTP_ADDR)")
  .action(async (opts: { data?: string; agent?: string[]; once?: boolean; offline?: boolean; poll?: boolean; http?: string }) => {
    const { envOrExit, dataDirFrom, loggerFor, UserError } = await common();
    const { ConfigError, Runtime } = await import("./agent/runtime.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const log = loggerFor(env);
    const httpAddr = opts.http ?? env.HTTP_ADDR;
    // Load the API first: a bad address or a missing token fails before any agent starts,
    // and the metrics must exist before the runtime so they see every task event.
    const http = httpAddr ? await import("./http/server.js") : undefined;
    if (http && httpAddr) http.parseListenAddress(httpAddr, env.AGENTOS_API_TOKEN);
    const metrics = http?.createMetrics();
    const runtime = new Runtime({ dataDir, env, log, only: opts.agent, offline: opts.offline, poll: opts.poll || env.AGENTOS_WATCH_POLL || undefined, events: metrics?.events });
    // Signals are handled from the first moment: a SIGTERM during start-up stops cleanly too.
    let stopSignal: string | undefined;
    let wake: () => void = () => {};
    const stopRequested = new Promise<void>((resolve) => (wake = resolve));
    let signals = 0;
    const onSignal = (sig: string) => {
      if (++signals > 1) {
        log.child("agentos").warn(`second ${sig}: stopping now; tasks that were running run again at the next start`);
        process.exit(130);
      }
      stopSignal = sig;
      wake();
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
    try {
      await runtime.start();
    } catch (err) {
      if (err instanceof ConfigError) throw new UserError(err.message);
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS") {
        throw new UserError(
          `cannot write ${e.path ?? dataDir} (${e.code}): the data directory must be writable by this user (uid ${process.getuid?.() ?? "?"}). ` +
            'In Docker, run without --user (the image then works as the owner of /data), or with --user "$(id -u):$(id -g)" of the directory\'s owner, or chown it to uid 1000.',
        );
      }
      throw new UserError(e.message);
    }
    let closeHttp: (() => Promise<void>) | undefined;
    if (http && httpAddr) {
      try {
        closeHttp = await http.startHttp(runtime, { addr: httpAddr, token: env.AGENTOS_API_TOKEN, dataDir, log: log.child("http"), metrics });
      } catch (err) {
        await runtime.stop();
        throw new UserError(`cannot serve the REST API on ${httpAddr}: ${(err as Error).message}`);
      }
    }
    if (opts.once) {
      await Promise.race([runtime.drained(), stopRequested]);
      const agents = [...runtime.agents.values()];
      const paused = agents.filter((a) => a.isPaused).map((a) => a.name);
      await closeHttp?.();
      await runtime.stop();
      const failed = agents.reduce((n, a) => n + a.finished.dead, 0);
      if (paused.length) log.child("agentos").error(`not everything ran: ${paused.join(", ")} paused (see above); their tasks stay queued`);
      const done = agents.reduce((n, a) => n + a.finished.ok, 0);
      log.child("agentos").info(`run --once: ${done} task(s) done, ${failed} dead-lettered${paused.length ? `, ${paused.length} agent(s) paused` : ""}`);
      process.exitCode = failed > 0 || paused.length > 0 ? 1 : 0;
      return;
    }
    let takenOver: string | undefined;
    await Promise.race([stopRequested, runtime.abandoned.then((by) => void (takenOver = by))]);
    if (takenOver) {
      log.child("agentos").error(`every agent of this runtime was taken over by another runtime (${takenOver}); nothing left to run here, exiting with status 3`);
      await closeHttp?.();
      await runtime.stop();
      process.exitCode = 3;
      return;
    }
    const again = stopSignal === "SIGINT" ? "Ctrl-C again" : `a second ${stopSignal}`;
    log.child("agentos").info(`${stopSignal} received: finishing running tasks (up to ${env.SHUTDOWN_GRACE_SECONDS} s), then exiting; ${again} stops now (tasks still running then run again at the next start)`);
    await closeHttp?.();
    await runtime.stop();
    log.child("agentos").info("stopped");
  });

program
  .command("validate")
  .description("check agents.yaml and every task file; report problems as file:line:column")
  .addOption(dataOption())
  .action(async (opts: { data?: string }) => {
    const { envOrExit, dataDirFrom } = await common();
    const { validateDataDir } = await import("./ops/validate.js");
    const env = envOrExit();
    const report = await validateDataDir(dataDirFrom(opts.data, env));
    for (const e of report.errors) console.error(`error: ${e}`);
    for (const w of report.warnings) console.error(`warning: ${w}`);
    console.log(`${report.errors.length ? "invalid" : "ok"}: ${report.files} file(s), ${report.tasks} task(s), ${report.errors.length} error(s), ${report.warnings.length} warning(s)`);
    if (report.errors.length) process.exitCode = 1;
  });

program
  .command("enqueue")
  .description("append a well-formed task block to an agent's queue.md (one atomic append); prints the id")
  .argument("<agent>", "agent name")
  .addOption(dataOption())
  .option("-t, --task <text>", "what to do (or --file, or text on stdin)")
  .option("-f, --file <path>", "read the task text from a file")
  .option("--id <id>", "task id (generated if omitted)")
  .addOption(new Option("-p, --priority <priority>", "high | normal | low").choices(PRIORITIES).default("normal"))
  .option("--ttl <seconds>", "expire the task if not started within this many seconds", positiveInt)
  .option("--inbox", "drop it into shared/iac/inbox/<agent>/ as a message file instead")
  .option("--no-wait", "exit 75 with 'queue full' instead of queueing when the agent's queue is at max_queue_depth")
  .action(async (agent: string, opts: { data?: string; task?: string; file?: string; id?: string; priority: Priority; ttl?: number; inbox?: boolean; wait: boolean }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { enqueueTask } = await import("./ops/enqueue.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const file = configOrExit(dataDir);
    let task = opts.task;
    if (task === undefined && opts.file) task = readFileSync(opts.file, "utf8");
    if (task === undefined && !process.stdin.isTTY) task = readFileSync(0, "utf8");
    const r = await enqueueTask(dataDir, file, { agent, task: task ?? "", id: opts.id, priority: opts.priority, ttlSeconds: opts.ttl, inbox: opts.inbox, noWait: !opts.wait });
    console.log(r.id);
  });

program
  .command("status")
  .description("per agent: pending, in flight, done, last reward, skills, goals")
  .addOption(dataOption())
  .option("--json", "machine-readable output")
  .action(async (opts: { data?: string; json?: boolean }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { agentReports } = await import("./ops/status.js");
    const { renderReports } = await import("./cli/render.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const reports = await agentReports(dataDir, configOrExit(dataDir));
    console.log(opts.json ? JSON.stringify(reports, null, 2) : renderReports(reports));
  });

program
  .command("result <id>")
  .description("print the result of a task by its id (from results/, else from git history)")
  .addOption(dataOption())
  .option("--agent <name>", "the agent (default: whichever has it)")
  .action(async (id: string, opts: { data?: string; agent?: string }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { findResult } = await import("./ops/results.js");
    const dataDir = dataDirFrom(opts.data, envOrExit());
    const found = await findResult(dataDir, configOrExit(dataDir), id, opts.agent);
    process.stdout.write(found.text);
  });

const dl = program.command("dead-letters").description("inspect, requeue and purge dead letters");
dl.command("list")
  .description("list dead letters: when, reason, agent, task, file, last error")
  .addOption(dataOption())
  .option("--agent <name>", "only this agent's")
  .option("--reason <reason>", "expired | invalid | duplicate | delivery_limit | hop_limit | unknown_agent")
  .option("--json", "machine-readable output")
  .action(async (opts: { data?: string; agent?: string; reason?: string; json?: boolean }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { findDeadLetters } = await import("./ops/dead-letters.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const list = await findDeadLetters(dataDir, configOrExit(dataDir), opts);
    if (opts.json) console.log(JSON.stringify(list, null, 2));
    else if (!list.length) console.log("no dead letters");
    else {
      for (const d of list) {
        console.log(`${d.at}  ${d.reason.padEnd(14)} ${d.agent.padEnd(12)} ${(d.taskId ?? "-").padEnd(28)} ${d.file.split("/").pop()}${d.lastError ? `\n    ${d.lastError.slice(0, 160)}` : ""}`);
        for (const r of d.requeued ?? []) console.log(`    requeued ${r}`);
      }
    }
  });
dl.command("show")
  .description("print one dead letter, with the original block verbatim")
  .argument("<file>", "dead letter file (name or path)")
  .addOption(dataOption())
  .action(async (name: string, opts: { data?: string }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { readDeadLetterFile, resolveDeadLetterPath } = await import("./ops/dead-letters.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const d = await readDeadLetterFile(resolveDeadLetterPath(dataDir, configOrExit(dataDir), name));
    console.log(readFileSync(d.file, "utf8"));
  });
dl.command("requeue")
  .description("put a dead letter's block back into an agent's inbox with a fresh created and TTL")
  .argument("<file>", "dead letter file (name or path)")
  .addOption(dataOption())
  .option("--to <agent>", "send it to another agent")
  .action(async (name: string, opts: { data?: string; to?: string }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { requeueDeadLetter, resolveDeadLetterPath } = await import("./ops/dead-letters.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const file = configOrExit(dataDir);
    const r = await requeueDeadLetter(dataDir, file, resolveDeadLetterPath(dataDir, file, name), opts.to);
    console.log(`requeued ${r.id} to ${r.agent}: ${r.target}`);
  });
dl.command("purge")
  .description("delete dead letters older than an age")
  .addOption(dataOption())
  .requiredOption("--older-than <age>", "e.g. 30d, 12h")
  .action(async (opts: { data?: string; olderThan: string }) => {
    const { envOrExit, dataDirFrom, configOrExit } = await common();
    const { parseAge, purgeDeadLetters } = await import("./ops/dead-letters.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const removed = await purgeDeadLetters(dataDir, configOrExit(dataDir), parseAge(opts.olderThan));
    console.log(`purged ${removed.length} dead letter(s)`);
  });

program
  .command("init")
  .description("create a data directory with an example agents.yaml (the seed's six example agents)")
  .addOption(dataOption())
  .action(async (opts: { data?: string }) => {
    const { envOrExit, dataDirFrom, UserError } = await common();
    const { ensureDir, exists } = await import("./store/files.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    await ensureDir(dataDir);
    const target = join(dataDir, "agents.yaml");
    if (await exists(target)) throw new UserError(`${target} already exists; not overwriting it`);
    await copyFile(new URL("../fixtures/agents.yaml", import.meta.url), target);
    console.log(`wrote ${target} with the seed's six example agents; edit it, then: agentos run --data ${dataDir}`);
  });

program
  .command("demo")
  .description("run the seed's example agents and tasks with the built-in offline model (no API key)")
  .option("-d, --data <dir>", "use this (empty) directory instead of a temporary one")
  .action(async (opts: { data?: string }) => {
    const { runDemo } = await import("./cli/demo.js");
    await runDemo({ dataDir: opts.data });
  });

program
  .command("config-reference", { hidden: true })
  .description("print the configuration reference generated from the schemas (docs/configuration.md)")
  .action(async () => {
    const { configReference } = await import("./config/reference.js");
    process.stdout.write(configReference());
  });

program
  .command("health")
  .description("exit 0 if the runtime's heartbeat for the agents is fresh (Docker HEALTHCHECK)")
  .addOption(dataOption())
  .option("-a, --agent <name...>", "only these agents")
  .action(async (opts: { data?: string; agent?: string[] }) => {
    const { envOrExit, dataDirFrom, configOrExit, UserError } = await common();
    const { agentPaths } = await import("./store/layout.js");
    const { leaseIsLive, readLease } = await import("./store/lease.js");
    const env = envOrExit();
    const dataDir = dataDirFrom(opts.data, env);
    const file = configOrExit(dataDir);
    const names = opts.agent?.length ? opts.agent : file.agents.map((a) => a.name);
    const stale: string[] = [];
    for (const n of names) {
      const lease = await readLease(agentPaths(dataDir, n).lease);
      if (!lease || !leaseIsLive(lease)) stale.push(n);
    }
    if (stale.length) throw new UserError(`unhealthy: no fresh heartbeat for ${stale.join(", ")}`);
    console.log(`healthy: ${names.join(", ")}`);
  });

/** `--data DIR` / `-d DIR` / `--data=DIR` from the command line, before commander parses it. */
function dataArgument(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === "--data" || argv[i] === "-d") && argv[i + 1]) return argv[i + 1];
    if (argv[i]!.startsWith("--data=")) return argv[i]!.slice(7);
  }
  return undefined;
}

/** In the image (started as root): become the owner of the data directory first; see ops/data-owner. */
async function leaveRoot(): Promise<void> {
  if (process.env.AGENTOS_RUN_AS_DATA_OWNER !== "1" || process.getuid?.() !== 0) return;
  const argv = process.argv.slice(2);
  const dataDir = resolve(dataArgument(argv) ?? process.env.DATA_DIR ?? "data");
  const { runAsDataOwner } = await import("./ops/data-owner.js");
  // uid 1000 is `node` in the official Node images (and in the stand-in base image).
  const now = runAsDataOwner(dataDir, { uid: 1000, gid: 1000 });
  if (!now) return;
  const { createLogger } = await import("./log.js");
  const running = argv.length === 0 || argv[0] === "run";
  // Only `run` talks on stdout: `docker exec … agentos status --json` must stay parseable.
  const log = createLogger({ format: process.env.LOG_FORMAT === "json" ? "json" : "text", write: (l) => (running ? process.stdout : process.stderr).write(l + "\n") }).child("agentos");
  if (now.chowned > 0) {
    log.warn(
      `${dataDir} belonged to root: handed it (${now.chowned} files and folders) to uid ${now.uid}:${now.gid}, the image's unprivileged user, because agentos does not run as root. ` +
        `On the host they now belong to uid ${now.uid} (as root there, let git read them: git config --global --add safe.directory '*'); ` +
        `a host user who owns the folder keeps the files theirs`,
    );
  }
  if (running) log.info(`running as uid ${now.uid}:${now.gid}, the owner of ${dataDir} (the container started as root)`);
}

try {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv[0] === "run") (await import("./cli/service-node.js")).startAsService();
  await leaveRoot();
  await program.parseAsync();
} catch (err) {
  const { UserError } = await common();
  if (err instanceof UserError) {
    console.error(`agentos: ${err.message}`);
    process.exitCode = err.exitCode;
  } else throw err;
}
