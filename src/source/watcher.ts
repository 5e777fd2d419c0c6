// chokidar over everything that feeds tasks: each agent's queue.md, the inbox and
// handoff folders, and agents.yaml. It only reports paths; reading is the agent's job.
import { watch, type FSWatcher } from "chokidar";
import { basename, dirname, join, relative, sep } from "node:path";

export type WatchEvent =
  | { kind: "queue"; agent: string; path: string }
  | { kind: "inbox" | "handoff"; agent: string; path: string; gone: boolean }
  | { kind: "config"; path: string };

export interface WatchOptions {
  dataDir: string;
  agents: string[];
  inboxRoot: string;
  handoffsRoot: string;
  agentsYaml: string;
  poll: boolean;
  onEvent: (e: WatchEvent) => void;
  onError: (err: Error) => void;
}

export class TaskWatcher {
  private readonly watcher: FSWatcher;
  private readonly agentsDir: string;
  private readonly ready: Promise<void>;

  constructor(private readonly opts: WatchOptions) {
    this.agentsDir = join(opts.dataDir, "agents");
    const { inboxRoot, handoffsRoot, agentsYaml } = opts;
    this.watcher = watch([], {
      ignoreInitial: true,
      // Editors' atomic saves arrive as one `change` instead of unlink + add.
      atomic: true,
      // A linked folder is not watched through (harden: nothing under DATA_DIR follows links).
      followSymlinks: false,
      backend: opts.poll ? "polling" : "auto",
      pollingInterval: 200,
      ignored: (path: string) => {
        const dir = dirname(path);
        const name = basename(path);
        if (dir === this.agentsDir) return false; // an agent's folder itself
        if (dirname(dir) === this.agentsDir) return name !== "queue.md";
        if (path === inboxRoot || path === handoffsRoot || path === agentsYaml) return false;
        if (dir === inboxRoot || dir === handoffsRoot) return false; // per-agent message folders
        if (dirname(dir) === inboxRoot || dirname(dir) === handoffsRoot) return name.startsWith(".");
        return true;
      },
    });
    this.ready = new Promise((resolve) => this.watcher.once("ready", () => resolve()));
    this.watcher.on("all", (event, path) => this.route(event, path));
    this.watcher.on("error", (err) => opts.onError(err as Error));
    this.watcher.add([agentsYaml, inboxRoot, handoffsRoot, ...opts.agents.map((a) => join(this.agentsDir, a))]);
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  addAgent(name: string): void {
    this.watcher.add(join(this.agentsDir, name));
  }

  removeAgent(name: string): void {
    this.watcher.unwatch(join(this.agentsDir, name));
  }

  async close(): Promise<void> {
    await this.watcher.close();
  }

  private route(event: string, path: string): void {
    // A directory where queue.md should be is reported (as an error) by the read.
    if ((event === "addDir" || event === "unlinkDir") && basename(path) !== "queue.md") return;
    if (path === this.opts.agentsYaml) {
      if (event !== "unlink") this.opts.onEvent({ kind: "config", path });
      return;
    }
    const rel = relative(this.agentsDir, path);
    if (!rel.startsWith("..")) {
      const [agent, file] = rel.split(sep);
      if (agent && file === "queue.md") this.opts.onEvent({ kind: "queue", agent, path });
      return;
    }
    for (const [root, kind] of [
      [this.opts.inboxRoot, "inbox"],
      [this.opts.handoffsRoot, "handoff"],
    ] as const) {
      const r = relative(root, path);
      if (r.startsWith("..")) continue;
      const parts = r.split(sep);
      if (parts.length === 2) this.opts.onEvent({ kind, agent: parts[0]!, path, gone: event === "unlink" });
      return;
    }
  }
}
