// The process: loads agents.yaml, bootstraps and starts every agent it runs, wires
// the watcher, the safety-net reconcile scan, heartbeats and hot reload of agents.yaml.
import { lstat, rename, unlink } from "node:fs/promises";
import { join, relative } from "node:path";
import { request } from "undici";
import { formatProblem, loadAgentsFile } from "../config/load.js";
import type { AgentConfig, AgentsFile, Env } from "../config/schema.js";
import { providerFor } from "../config/provider.js";
import { ProviderModel, closeProviderPools } from "../work/llm/client.js";
import { OFFLINE_MODEL, OfflineModel } from "../work/llm/offline.js";
import type { LlmEvents, StepModel } from "../work/llm/types.js";
import type { Logger } from "../log.js";
import { DeadLetterOffice } from "../schedule/dead-letter-office.js";
import { bootstrapAgent, makeAgentFolder, makeMailboxes } from "./bootstrap.js";
import { ensureDir, entryProblem, listFolder, readTextIfExists, UnsafePathError } from "../store/files.js";
import { MAX_TASK_FILE_BYTES } from "../store/task-file-read.js";
import { isMessageFileName, sharedPaths } from "../store/layout.js";
import { TaskWatcher } from "../source/watcher.js";
import { AgentRuntime, type AgentEvents } from "./agent.js";

export interface RuntimeOptions {
  dataDir: string;
  env: Env;
  log: Logger;
  /** Run only these agents (Compose runs one container per agent). */
  only?: string[];
  offline?: boolean;
  poll?: boolean;
  /** A model to use for every agent instead of the configured provider (tests, demo). */
  model?: StepModel;
  now?: () => Date;
  /** Task outcomes and LLM requests, as they happen (metrics). */
  events?: AgentEvents & LlmEvents;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

export class Runtime {
  readonly agents = new Map<string, AgentRuntime>();
  private file!: AgentsFile;
  private watcher?: TaskWatcher;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly models = new Map<string, StepModel>();
  private readonly log: Logger;
  private readonly now: () => Date;
  private stopping?: Promise<void>;
  private reloading = Promise.resolve();
  /** Agents removed from agents.yaml that are still stopping. */
  private readonly leaving = new Set<string>();

  constructor(private readonly opts: RuntimeOptions) {
    this.log = opts.log;
    this.now = opts.now ?? (() => new Date());
  }

  get config(): AgentsFile {
    return this.file;
  }

  /** Started, watcher up, not stopping: what /readyz reports (with per-agent pause state). */
  get isRunning(): boolean {
    return this.watcher !== undefined && this.stopping === undefined;
  }

  private get agentsYaml(): string {
    return join(this.opts.dataDir, "agents.yaml");
  }

  private selected(file: AgentsFile): AgentConfig[] {
    return file.agents.filter((a) => !this.opts.only?.length || this.opts.only.includes(a.name));
  }

  /** Resolves (with who took them) once every agent of this runtime was taken over by another runtime. */
  private abandon: (takenBy: string) => void = () => {};
  readonly abandoned = new Promise<string>((resolve) => (this.abandon = resolve));

  /** Loads config, bootstraps and starts every agent; throws ConfigError for bad input. */
  async start(): Promise<void> {
    const loaded = loadAgentsFile(this.agentsYaml);
    if (!loaded.ok) throw new ConfigError(loaded.problems.map(formatProblem));
    this.file = loaded.value;
    const unknown = (this.opts.only ?? []).filter((n) => !this.file.agents.some((a) => a.name === n));
    if (unknown.length) {
      throw new ConfigError([`${this.agentsYaml}: --agent ${unknown.join(", ")}: no such agent (agents.yaml has ${this.file.agents.map((a) => a.name).join(", ")})`]);
    }
    for (const a of this.selected(this.file)) this.modelFor(a); // fail fast on provider settings
    const shared = sharedPaths(this.opts.dataDir, this.file.iac.dead_letter_path);
    // harden: a linked folder is refused, said once; the rest starts.
    const ensure = (d: string) => ensureDir(d).catch((err: Error) => (err instanceof UnsafePathError ? this.refuse(d, err) : Promise.reject(err)));
    for (const d of [shared.segments, shared.deadLetters]) await ensure(d);
    // Every agent's mailboxes, also of those another process runs: a message can be dropped
    // for an agent before its own runtime has ever started (docs/iac.md, step 2).
    const made = await makeMailboxes([shared.inboxRoot, shared.handoffsRoot], this.file.agents.map((a) => a.name), ensure);

    // A few at a time: start-up is mostly small fsynced writes, which overlap well
    // (1,000 agents one by one took 49 s to restart on a 2-core VM).
    const pending = [...this.selected(this.file)];
    await Promise.all(Array.from({ length: Math.min(16, pending.length) }, async () => {
      for (let a = pending.shift(); a; a = pending.shift()) await this.startAgent(a, true, made.has(join(shared.inboxRoot, a.name)) && made.has(join(shared.handoffsRoot, a.name)));
    }));
    // Listed (status, API) in agents.yaml order, not in the order they happened to start.
    const started = new Map(this.agents);
    this.agents.clear();
    for (const a of this.selected(this.file)) if (started.has(a.name)) this.agents.set(a.name, started.get(a.name)!);

    this.watcher = new TaskWatcher({
      dataDir: this.opts.dataDir,
      agents: [...this.agents.keys()],
      inboxRoot: shared.inboxRoot,
      handoffsRoot: shared.handoffsRoot,
      agentsYaml: this.agentsYaml,
      poll: this.opts.poll ?? this.file.watch.poll,
      onError: (err) => this.log.child("watch").error(`watcher error: ${err.message}; the reconcile scan keeps tasks flowing`),
      onEvent: (e) => {
        if (e.kind === "config") return void this.reload();
        const agent = this.agents.get(e.agent);
        if (e.kind === "queue") return agent?.onFileEvent(e.path, "queue");
        if (!isMessageFileName(e.path.split("/").pop()!)) return;
        if (agent) agent.onFileEvent(e.path, e.kind);
        else if (!e.gone && !this.isKnown(e.agent)) void this.deadLetterUnknown(e.path, e.agent);
      },
    });
    await this.watcher.whenReady();
    // Anything that landed between the first read and the watcher being ready.
    for (const a of this.agents.values()) void a.reconcile();
    await this.sweepUnknownAgents();

    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.log.error(String(err))), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.file.watch.reconcile_seconds * 1000, async () => {
      for (const a of this.agents.values()) await a.reconcile();
      await this.sweepUnknownAgents();
    });
    every(10_000, async () => {
      for (const a of this.agents.values()) await a.heartbeat();
      // Nothing left to run here: say so (the CLI exits non-zero, so Docker restarts it or
      // marks it failed) instead of staying up, healthy-looking, with no agent.
      const all = [...this.agents.values()];
      if (all.length && all.every((a) => a.takenOverBy)) this.abandon(all.map((a) => `${a.name} by ${a.takenOverBy}`).join(", "));
    });
    this.log.child("agentos").info(`AgentOS running with ${this.agents.size} agent(s). Watching for tasks.`);
  }

  /** `sharedMade`: the shared folders and this agent's mailboxes were made by start(); `newMailboxes`: made just now, by this start. */
  private async startAgent(a: AgentConfig, sharedMade = false, newMailboxes = false): Promise<void> {
    const boot = this.log.child("bootstrap");
    const agent = new AgentRuntime(a, {
      dataDir: this.opts.dataDir,
      file: this.file,
      model: this.modelFor(a),
      log: this.log,
      now: this.now,
      knownAgents: () => new Set(this.file.agents.map((x) => x.name)),
      events: this.opts.events,
      crashAt: this.opts.env.AGENTOS_CRASH_AT,
      postWebhook,
    });
    const fresh = await makeAgentFolder(this.opts.dataDir, a.name);
    // Own the agent first: a second runtime must not commit into a repo it does not own.
    await agent.acquire(fresh);
    const { paths } = await bootstrapAgent(this.opts.dataDir, a, this.file, boot, { now: this.now, fresh, sharedMade });
    // Both callers reconcile the agent next (start: once the watcher is ready; reload: 100 ms on).
    await agent.start({ fresh, readLater: true, newMailboxes });
    this.agents.set(a.name, agent);
    this.log.child("agentos").info(`Agent '${a.name}' ready at ${paths.dir}`);
  }

  private modelFor(a: AgentConfig): StepModel {
    if (this.opts.model) return this.opts.model;
    const env = this.opts.env;
    // harden: the global key only to the global base URL; every key registered with the redactor.
    const { model, baseUrl, apiKey, warnings } = providerFor(a, env);
    if (this.opts.offline || model === OFFLINE_MODEL) return this.cached("offline", () => new OfflineModel());
    if (!apiKey && /api\.openai\.com/.test(baseUrl)) {
      throw new ConfigError([
        `agent '${a.name}': LLM_API_KEY is not set (provider ${baseUrl}). Set LLM_API_KEY or LLM_API_KEY_FILE, point LLM_BASE_URL at a local server such as Ollama, or use --offline for the built-in offline model.`,
      ]);
    }
    // One client per agent (its log lines carry the agent name); the connection pool is shared per origin.
    const temperature = a.llm?.temperature ?? env.LLM_TEMPERATURE;
    const shape = {
      responseFormat: a.llm?.response_format ?? env.LLM_RESPONSE_FORMAT,
      tokensParam: a.llm?.max_tokens_param ?? env.LLM_MAX_TOKENS_PARAM,
      temperature: temperature === "default" ? null : temperature,
      tokensPerDay: a.budget?.tokens_per_day,
    };
    const events = this.opts.events;
    return this.cached(`${a.name}\0${baseUrl}\0${model}\0${apiKey ?? ""}\0${JSON.stringify(shape)}`, () => {
      for (const w of warnings) this.log.child("agentos").warn(w);
      return new ProviderModel({
        baseUrl,
        apiKey,
        model,
        maxTokens: env.LLM_MAX_TOKENS,
        timeoutMs: env.LLM_TIMEOUT * 1000,
        maxRetries: env.LLM_MAX_RETRIES,
        maxReplyBytes: env.LLM_MAX_REPLY_BYTES,
        log: this.log.child("llm").child(a.name),
        ...shape,
        onRequest: (outcome) => events?.llmRequest?.(a.name, outcome),
        onTokens: (usage) => events?.llmTokens?.(a.name, usage),
      });
    });
  }

  private cached(key: string, make: () => StepModel): StepModel {
    let m = this.models.get(key);
    if (!m) this.models.set(key, (m = make()));
    return m;
  }

  /** agents.yaml changed: apply it without a restart, or keep the old one and say why. */
  private reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      if (this.stopping) return;
      const log = this.log.child("agentos");
      const loaded = loadAgentsFile(this.agentsYaml);
      if (!loaded.ok) {
        log.error(`agents.yaml has errors; keeping the running configuration:\n${loaded.problems.map(formatProblem).join("\n")}`);
        return;
      }
      const next = loaded.value;
      const before = this.file;
      this.file = next;
      const wanted = new Map(this.selected(next).map((a) => [a.name, a]));
      for (const [name, agent] of [...this.agents]) {
        if (!wanted.has(name)) {
          log.info(`agent '${name}' left agents.yaml; stopping it after its running tasks`);
          this.agents.delete(name);
          this.leaving.add(name);
          this.watcher?.removeAgent(name);
          await agent.stop(this.opts.env.SHUTDOWN_GRACE_SECONDS * 1000);
          this.leaving.delete(name);
        }
      }
      for (const [name, cfg] of wanted) {
        const running = this.agents.get(name);
        try {
          if (!running) {
            await this.startAgent(cfg);
            this.watcher?.addAgent(name);
            // chokidar needs a moment to put the watch on the new folder: a task written in
            // that moment would wait for the 30 s reconcile scan, so look again shortly.
            const added = this.agents.get(name);
            for (const ms of [100, 500, 2_000]) setTimeout(() => void added?.reconcile(), ms).unref();
            log.info(`agent '${name}' added`);
          } else {
            await running.reconfigure(cfg, next, () => bootstrapAgent(this.opts.dataDir, cfg, next, this.log.child("bootstrap"), { now: this.now }));
          }
        } catch (err) {
          log.error(`agent '${name}' could not be (re)started: ${(err as Error).message}`);
        }
      }
      if (JSON.stringify(before) !== JSON.stringify(next)) log.info(`agents.yaml reloaded: ${this.agents.size} agent(s) running`);
    });
    return this.reloading;
  }

  /** In agents.yaml, or left it and is still finishing its running tasks (its files are still its own). */
  private isKnown(agent: string): boolean {
    return this.file.agents.some((a) => a.name === agent) || this.leaving.has(agent);
  }

  /** Message folders for agents that agents.yaml does not know: their files become dead letters. */
  private async sweepUnknownAgents(): Promise<void> {
    const shared = sharedPaths(this.opts.dataDir, this.file.iac.dead_letter_path);
    // harden: listed, never followed: a linked folder or file, a FIFO or device is reported once and left alone.
    for (const root of [shared.inboxRoot, shared.handoffsRoot]) {
      for (const dir of await listFolder(root).catch((err: Error) => (this.refuse(root, err), []))) {
        if (this.isKnown(dir.name)) continue;
        const folder = join(root, dir.name);
        if (dir.kind !== "dir") {
          if (dir.kind !== "file") this.refuse(folder, new UnsafePathError(folder, entryProblem(dir)!));
          continue;
        }
        for (const e of await listFolder(folder).catch((err: Error) => (this.refuse(folder, err), []))) {
          if (!isMessageFileName(e.name)) continue;
          const problem = entryProblem(e);
          if (problem) this.refuse(join(folder, e.name), new UnsafePathError(join(folder, e.name), problem));
          else await this.deadLetterUnknown(join(folder, e.name), dir.name);
        }
      }
    }
  }

  /** Paths refused (a link, a special file), each said once: the reconcile scan would repeat it every 30 s. */
  private readonly refused = new Set<string>();
  private refuse(path: string, err: Error): void {
    const key = `${path}\0${err.message}`;
    if (this.refused.has(key)) return;
    this.refused.add(key);
    this.log.child("agentos").error(`${err instanceof UnsafePathError ? err.message : `${path}: ${err.message}`}; left as it is, everything else keeps running`);
  }

  private async deadLetterUnknown(path: string, agent: string): Promise<void> {
    try {
      await this.deadLetterUnknownFile(path, agent);
    } catch (err) {
      // One bad file must never take the runtime down (it was an unhandled rejection).
      this.refuse(path, err as Error);
    }
  }

  private async deadLetterUnknownFile(path: string, agent: string): Promise<void> {
    // A file still being written (a `cp` in progress) is left for its next event or the rescan.
    const st = await lstat(path).catch(() => undefined);
    if (!st) return;
    if (!st.isFile()) return this.refuse(path, new UnsafePathError(path, st.isSymbolicLink() ? "is a symbolic link; AgentOS never follows links under DATA_DIR" : "is not a regular file; refused"));
    const quietMs = Date.now() - st.mtimeMs;
    if (quietMs < this.file.tasks.settle_ms) {
      await new Promise((r) => setTimeout(r, this.file.tasks.settle_ms - quietMs));
      const again = await lstat(path).catch(() => undefined);
      if (!again || again.size !== st.size || again.mtimeMs !== st.mtimeMs) return;
    }
    // Claim by rename so two runtimes over one DATA_DIR never both act on the file.
    const claimed = `${path}.${process.pid}.claimed`;
    const renamed = await rename(path, claimed).then(() => undefined, (err: NodeJS.ErrnoException) => err);
    if (renamed) {
      if (renamed.code === "ENAMETOOLONG") this.refuse(path, new Error("its name is too long to claim; rename it shorter"));
      return;
    }
    let text: string;
    try {
      text = (await readTextIfExists(claimed, MAX_TASK_FILE_BYTES)) ?? "";
    } catch (err) {
      // Swapped for a link or a FIFO after the check: put the name back, never read it.
      await rename(claimed, path).catch(() => {});
      return this.refuse(path, err as Error);
    }
    const shared = sharedPaths(this.opts.dataDir, this.file.iac.dead_letter_path);
    const log = this.log.child("agentos");
    const office = new DeadLetterOffice({ dir: shared.deadLetters, dataDir: this.opts.dataDir, agent, now: this.now, log, onLetter: (reason) => this.opts.events?.deadLetter?.(agent, reason) });
    const lastError = `no agent '${agent}' in agents.yaml (known: ${this.file.agents.map((a) => a.name).join(", ")})`;
    const file = await office.send("unknown_agent", { file: path, original: text, lastError });
    if (!file) return void (await rename(claimed, path).catch(() => {})); // not written: the file stays for the next scan
    await unlink(claimed).catch(() => {});
    log.error(`${relative(this.opts.dataDir, path)}: no agent '${agent}' in agents.yaml; moved to ${relative(this.opts.dataDir, file)}`);
  }

  /** For `run --once`: resolves when every agent has nothing left it could run. */
  async drained(): Promise<void> {
    const settle = this.file.tasks.settle_ms + 100;
    const busy = () => [...this.agents.values()].filter((a) => a.outstanding > 0 && !a.isPaused);
    for (;;) {
      const working = busy();
      if (working.length === 0) {
        // A handoff the last task wrote may not have reached the watcher yet: look for it.
        for (const a of this.agents.values()) await a.scanMessageDirs();
        await new Promise((r) => setTimeout(r, settle));
        if (busy().length === 0) return;
        continue;
      }
      // Woken by the next task to finish anywhere; the timer only catches an agent that paused meanwhile.
      let timer: NodeJS.Timeout | undefined;
      const woken = new AbortController(); // the others' listeners go (a long task would pile them up)
      await Promise.race([...working.map((a) => a.onTaskLeft(woken.signal)), new Promise((r) => (timer = setTimeout(r, 1_000)))]);
      woken.abort();
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      await this.watcher?.close();
      await this.reloading;
      const grace = this.opts.env.SHUTDOWN_GRACE_SECONDS * 1000;
      await Promise.all([...this.agents.values()].map((a) => a.stop(grace)));
      await closeProviderPools();
    })();
    return this.stopping;
  }
}

async function postWebhook(url: string, body: unknown): Promise<void> {
  const res = await request(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  await res.body.dump();
  if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
}
