// Keeps an agent's history compact without anyone doing anything: once enough loose
// objects have piled up, `git repack -d --geometric=2` runs in the background with the
// git CLI (at low priority, one repository at a time per process). It never blocks a
// commit and never touches refs: repack only adds a pack and then removes loose objects
// and packs whose every object is in the new one — what git's own `gc --auto` does
// beside running commands. Loose objects not yet referenced (a commit being made) are
// packed too (geometric repacking takes every loose object), never deleted.
//
// Without the git CLI nothing is packed: isomorphic-git packs no deltas, and a pack
// without them is several times the size git makes (each rewards.md version whole),
// for the price of reading every object back. History then stays loose (a few KB per
// task on disk) until `git gc` runs where git is installed; the log says so once.
import { spawn } from "node:child_process";
import { setPriority } from "node:os";
import type { Logger } from "../../log.js";

/** Loose objects written since the last pack after which a repack starts (about 100 tasks). */
export const PACK_AFTER_OBJECTS = 1_000;

let gitCli: Promise<boolean> | undefined;
/** Whether `git` runs here (asked once per process). */
function hasGit(): Promise<boolean> {
  gitCli ??= new Promise((resolve) => {
    const child = spawn("git", ["--version"], { stdio: "ignore" });
    child.on("error", () => resolve(false));
    child.on("exit", (code) => resolve(code === 0));
  });
  return gitCli;
}

/** Repacks of this process, one at a time: 1,000 agents must not start 1,000 git processes at once. */
let turn: Promise<unknown> = Promise.resolve();
let warned = false;

export class Packer {
  private written = 0;
  private running?: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly onPacked: () => void,
    private readonly log?: Logger,
  ) {}

  /** `n` new loose objects were stored; starts a repack in the background once enough have. */
  add(n: number): void {
    this.written += n;
    if (this.written < PACK_AFTER_OBJECTS || this.running) return;
    this.written = 0;
    this.running = this.pack().finally(() => (this.running = undefined));
  }

  /** The repack under way, if any (tests and benchmarks wait for it; nothing else needs to). */
  get idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async pack(): Promise<void> {
    if (!(await hasGit())) {
      if (!warned) this.log?.info("git is not installed: history stays in loose objects (run `git gc` where git is, or install git; see docs/durability.md)");
      warned = true;
      return;
    }
    const mine = turn.then(() => this.run(["-c", "gc.auto=0", "-c", "repack.writeBitmaps=false", "repack", "-d", "-q", "--geometric=2"]));
    turn = mine.catch(() => {});
    await mine;
    this.onPacked();
  }

  private run(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn("git", ["-C", this.dir, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err = (err + d).slice(-2000)));
      if (child.pid) {
        try {
          setPriority(child.pid, 10); // after the runtime's own work
        } catch {
          // not allowed here: it runs at normal priority
        }
      }
      child.on("error", (e) => {
        this.log?.warn(`git repack in ${this.dir} did not start: ${e.message}`);
        resolve();
      });
      child.on("exit", (code) => {
        // A failed repack changes nothing (git writes the new pack aside first); the next one tries again.
        if (code !== 0) this.log?.warn(`git repack in ${this.dir} failed (exit ${code}): ${err.trim().split("\n").pop() ?? ""}`);
        resolve();
      });
    });
  }
}
