// Keeps an agent's history compact without anyone doing anything. Every group commit is
// stored as one small pack without deltas (pack-file.ts); once enough objects have piled
// up, `git repack -d --geometric=2` runs in the background with the git CLI (at low
// priority, one repository at a time per process) and merges those packs, as
// `git gc --auto` merges the packs that fetches leave. Merging packs reuses their objects
// as they are, without looking for deltas, so each time the objects written by this
// process double, the repack is a whole one instead (`-a -d -k -f`): every object
// compressed again with deltas (10,000 rewards.md versions are mostly the same lines),
// for a cost that stays proportional to what was written. Neither ever blocks a commit
// or touches refs: repack only adds a pack and then removes loose objects and packs whose
// every object is in the new one — what git's own `gc --auto` does beside running
// commands. Objects not yet referenced (a commit being made) are kept: geometric
// repacking keeps every object of the packs it merges, and `-k` keeps unreachable ones
// (a pack that appears while a repack runs is not one it removes).
//
// Without the git CLI nothing is merged: isomorphic-git packs no deltas, and a pack
// without them is several times the size git makes (each rewards.md version whole),
// for the price of reading every object back. History then stays in the small packs (a
// few KB per task on disk) until `git gc` runs where git is installed; the log says so once.
import { spawn } from "node:child_process";
import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { setPriority } from "node:os";
import { join } from "node:path";
import type { Logger } from "../../log.js";

/** Objects stored since the last repack after which the next starts (about 150 tasks). */
export const PACK_AFTER_OBJECTS = 1_000;
/** Objects written by this process at which the first whole repack runs (then at each doubling). */
export const FULL_REPACK_FIRST = 4_000;
/** A temp pack this old was left by a crash (writing one takes milliseconds). */
const STALE_TEMP_MS = 60 * 60 * 1000;

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
  /** Objects stored by this process so far, and the count at which the next repack is whole. */
  private total = 0;
  private fullAt: number;
  private running?: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly onPacked: () => void,
    private readonly log?: Logger,
    fullFirst = FULL_REPACK_FIRST,
  ) {
    this.fullAt = fullFirst;
  }

  /** `n` new objects were stored; starts a repack in the background once enough have. */
  add(n: number): void {
    this.written += n;
    this.total += n;
    if (this.written < PACK_AFTER_OBJECTS || this.running) return;
    this.written = 0;
    this.running = this.pack().finally(() => (this.running = undefined));
  }

  /** The repack under way, if any (tests and benchmarks wait for it; nothing else needs to). */
  get idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async pack(): Promise<void> {
    await this.removeStaleTemps();
    if (!(await hasGit())) {
      if (!warned) this.log?.info("git is not installed: history stays in small packs without deltas (run `git gc` where git is, or install git; see docs/durability.md)");
      warned = true;
      return;
    }
    const whole = this.total >= this.fullAt;
    if (whole) this.fullAt = 2 * this.total;
    const how = whole ? ["-a", "-d", "-k", "-f"] : ["-d", "--geometric=2"];
    const mine = turn.then(() => this.run(["-c", "gc.auto=0", "-c", "repack.writeBitmaps=false", "repack", "-q", ...how]));
    turn = mine.catch(() => {});
    await mine;
    this.onPacked();
  }

  /**
   * A pack being written is `objects/pack/.agentos_<pid>_<hex>.tmp` (`tmp_agentos_…`
   * before) until it is renamed in
   * (pack-file.ts); one left by a runtime killed mid-write is never renamed. Only one
   * runtime works on an agent (its lease), so another pid's temp is such a leftover, and
   * so is an hour-old one of this pid (a container's runtime is pid 1 every time).
   * (git leaves them: not `tmp_*`, which `git gc --prune=now` deletes mid-write.) The same for the `.keep` that holds
   * a pack out of repacks until the branch points at it, which reads `agentos <pid>`; a
   * person's own `.keep` files are left alone.
   */
  private async removeStaleTemps(): Promise<void> {
    const dir = join(this.dir, ".git", "objects", "pack");
    const all = await readdir(dir).catch(() => [] as string[]);
    const temps = all.filter((n) => /^(tmp_agentos|\.agentos)_\d+_/.test(n));
    const stale = async (n: string, pid: string | undefined) => pid !== String(process.pid) || Date.now() - (await stat(join(dir, n))).mtimeMs > STALE_TEMP_MS;
    const keepPid = async (n: string) => /^agentos (\d+)\n$/.exec(await readFile(join(dir, n), "utf8"))?.[1] ?? null;
    await Promise.all([
      ...temps.map(async (n) => ((await stale(n, /_(\d+)_/.exec(n)?.[1]).catch(() => false)) ? unlink(join(dir, n)).catch(() => {}) : undefined)),
      ...all.filter((n) => n.endsWith(".keep")).map(async (n) => {
        const pid = await keepPid(n).catch(() => null);
        if (pid !== null && (await stale(n, pid).catch(() => false))) await unlink(join(dir, n)).catch(() => {});
      }),
    ]);
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
