// One agent's git repository, through isomorphic-git (no native git needed): the facade
// over message, objects, tree cache, index file and refs. Never commits anything but
// the paths it is given.
//
// A commit costs O(changed paths), not O(tracked files): git.add rewrites the whole
// index and git.commit rebuilds every tree from it, which made a task commit 5× slower
// at 10,000 results/<id>.md files. Instead the blobs, the trees on the changed paths
// (kept in memory between commits) and the commit are written as one pack, and the
// index (also kept in memory, re-read when someone else changed it) is written back with
// entries for the changed paths, so native `git status` stays clean.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { appendFile, mkdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFilesAtomic } from "../../store/files.js";
import { IndexFile, type IndexEntries } from "./index-file.js";
import { commitMessage, commitObject, parseTrailers, type Signature, type Trailers } from "./message.js";
import { ObjectStore } from "./objects.js";
import { moveHead, readHead, type RefStep } from "./refs.js";
import { TreeCache, type ChangedFile } from "./tree-cache.js";
import { Packer } from "./packing.js";
import { personsOperation, RepoBusyError } from "./persons-operation.js";
import type { Logger } from "../../log.js";

export { commitMessage, parseTrailers, type Trailers } from "./message.js";

/** A commit whose file contents are given (null = delete), not read from disk. */
export interface ContentCommit {
  subject: string;
  body?: string;
  trailers?: Trailers;
  files: Record<string, string | null>;
  at?: Date;
}

export interface LoggedCommit {
  oid: string;
  subject: string;
  trailers: Record<string, string>;
}

export interface CommitAllOptions {
  /** Commits git already has (recovery): their files are still written, unless git has every one. */
  skip?: (i: number) => boolean;
  /** Crash points for the kill -9 tests. */
  crash?: (point: string) => void;
  /** The files are on disk as given already (bootstrap wrote them): only committed. */
  written?: boolean;
  /** The repository was created a moment ago (bootstrap): no branch to read; the move still checks. */
  first?: boolean;
}

/** One commit of a group, its blobs written: what is needed to make it (again) on any parent. */
interface PlannedCommit {
  files: ChangedFile[];
  removed: string[];
  subject: string;
  message: string;
  who: Signature;
}

/** `.git/info/exclude` of a repository the runtime creates. */
const TEMP_PATTERN = ".*.tmp";
const EXCLUDE = `# git ls-files --others --exclude-from=.git/info/exclude\n# Written by AgentOS: its temp files (renamed into place within milliseconds).\n${TEMP_PATTERN}\n`;

async function ignoreTempFiles(gitDir: string): Promise<void> {
  const path = join(gitDir, "info", "exclude");
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text?.split("\n").includes(TEMP_PATTERN)) return;
  await mkdir(join(gitDir, "info"), { recursive: true });
  await appendFile(path, `${text && !text.endsWith("\n") ? "\n" : ""}# Added by AgentOS: its temp files.\n${TEMP_PATTERN}\n`);
}

export class AgentRepo {
  private readonly gitDir: string;
  private readonly objects: ObjectStore;
  private readonly trees: TreeCache;
  private readonly index: IndexFile;
  private readonly packer: Packer;
  private readonly logger?: Logger;

  constructor(
    readonly dir: string,
    private readonly author: { name: string; email: string },
    /** `treeFolders`, `fullRepackFirst`: how many folders' trees stay in memory (tree-cache.ts), when the first whole repack runs (packing.ts); tests make them small. */
    opts: { log?: Logger; treeFolders?: number; fullRepackFirst?: number } = {},
  ) {
    this.gitDir = join(dir, ".git");
    this.objects = new ObjectStore(dir, this.gitDir);
    this.trees = new TreeCache(this.objects, opts.treeFolders);
    this.index = new IndexFile(this.gitDir);
    this.packer = new Packer(dir, () => this.objects.forgetCache(), opts.log, opts.fullRepackFirst);
    this.logger = opts.log;
  }

  /** Resolves when no background repack of this repository is running. */
  get packed(): Promise<void> {
    return this.packer.idle;
  }

  /**
   * Creates the repository if it is missing (true when it was created), and makes sure
   * git ignores the runtime's temp files (`.name.<pid>.<hex>.tmp` beside the file they
   * replace), so a person's `git add -A` never stages one.
   */
  async init(): Promise<boolean> {
    if (fs.existsSync(join(this.gitDir, "HEAD"))) {
      await ignoreTempFiles(this.gitDir);
      return false;
    }
    // The folders git needs, synchronously: a few small calls, each cheaper than a trip
    // through the thread pool (1,000 agents start at once), and the reflog's, which the
    // first commit writes to. Not objects/info or refs/tags: git makes them when it needs
    // them, and each folder is an inode to allocate (1,000 agents, ~45 inodes each). HEAD
    // last: it says the repository is complete.
    for (const d of ["", "objects", "objects/pack", "refs", "refs/heads", "info", "logs", "logs/refs", "logs/refs/heads"]) fs.mkdirSync(join(this.gitDir, d), { recursive: true });
    fs.writeFileSync(join(this.gitDir, "config"), "[core]\n\trepositoryformatversion = 0\n\tfilemode = false\n\tbare = false\n\tlogallrefupdates = true\n\tsymlinks = false\n\tignorecase = true\n");
    fs.writeFileSync(join(this.gitDir, "info", "exclude"), EXCLUDE);
    fs.writeFileSync(join(this.gitDir, "HEAD"), "ref: refs/heads/main\n");
    return true;
  }

  /** A person's merge (revert, rebase) under way here, said for the log; commits wait for it. */
  busy(): string | undefined {
    const refused = this.index.stillRefused();
    return personsOperation(this.gitDir) ?? (refused && `${join(this.gitDir, "index")}: ${refused}; task commits wait until it is one AgentOS writes`);
  }

  /** The commit HEAD points at (undefined before the first commit). */
  head(): Promise<string | undefined> {
    return readHead(this.gitDir);
  }

  /**
   * Several commits in a row from contents in memory (a group commit): every object is
   * written first, then the working files (last content of each path), then, under
   * `index.lock`, the index entries of these paths (a person's staged changes to other
   * paths stay staged) and the branch, once. The branch moves to the last commit in one
   * step, so after a crash git shows all of them or none; if a person committed since
   * HEAD was read, the commits are made again on top of theirs. Returns the new commits' oids.
   */
  async commitAll(plans: ContentCommit[], o: CommitAllOptions = {}): Promise<string[]> {
    // Everything already in git (a replay after the branch moved): its files were written
    // before the branch moved, and writing them again could put back older texts.
    if (plans.every((_, i) => o.skip?.(i))) return [];
    // A person's merge (revert, rebase) under way, or an index we do not write: wait for
    // them (the caller retries later, the task is not at fault), never write around it.
    const busy = this.busy();
    if (busy) throw new RepoBusyError(busy);
    const indexed = await this.index.load();
    if (typeof indexed === "string") throw new RepoBusyError(`${join(this.gitDir, "index")}: ${indexed}; task commits wait until it is one AgentOS writes`);
    plans = await this.keepEdited(plans, indexed);
    return this.resettingOnError(async () => {
      const head = o.first ? undefined : await this.head();
      // The group's objects go into one pack: two files instead of one per object.
      this.objects.packNext();
      const last = new Map<string, string | null>();
      const blobs = new Map<string, string>();
      const todo: PlannedCommit[] = [];
      for (const [i, plan] of plans.entries()) {
        for (const [path, content] of Object.entries(plan.files)) {
          last.set(path, content);
          blobs.delete(path);
        }
        if (o.skip?.(i)) continue;
        const files: ChangedFile[] = [];
        const removed: string[] = [];
        for (const [path, content] of Object.entries(plan.files)) {
          if (content === null) removed.push(path);
          else {
            const oid = this.objects.write("blob", Buffer.from(content, "utf8"));
            blobs.set(path, oid);
            files.push({ path, mode: "100644", oid });
          }
        }
        todo.push({ files, removed, subject: plan.subject, message: commitMessage(plan.subject, plan.body, plan.trailers), who: this.signature(plan.at) });
      }
      const steps = await this.build(head, todo);
      o.crash?.("after-commit-object");
      if (!o.written) {
        const toWrite = [...last].filter((e): e is [string, string] => e[1] !== null);
        await writeFilesAtomic(toWrite.map(([path, content]) => [join(this.dir, path), content] as const));
        await Promise.all([...last].filter(([, c]) => c === null).map(([path]) => unlink(join(this.dir, path)).catch(() => {})));
      }
      o.crash?.("after-state-files");
      const index = await this.index.lock();
      try {
        for (const [path, content] of last) {
          if (content === null) {
            index.entries.delete(path);
            continue;
          }
          // Synchronously: a file just written, its inode cached; a trip through the thread
          // pool for each cost more than the call (a fresh agent's first commit has a dozen).
          const st = fs.statSync(join(this.dir, path), { bigint: true });
          const oid = blobs.get(path) ?? this.objects.write("blob", Buffer.from(content, "utf8"));
          index.entries.set(path, st, oid, st.mode & 0o111n ? "100755" : "100644");
        }
        await this.objects.flush();
        // Git's order: the branch moves while the index is still locked, then the index
        // is renamed in, so no `git commit` can run between the two.
        const rebuild = async (actual: string | undefined) => {
          // Packed and kept too: loose, they are what `git gc --prune=now` deletes first.
          this.objects.packNext();
          const again = await this.build(actual, todo);
          await this.objects.flush();
          return again;
        };
        const moved = steps.length ? await moveHead(this.gitDir, head, steps, rebuild) : [];
        await this.objects.unkeep();
        await index.commit();
        this.packer.add(this.objects.takeStored());
        return moved.map((s) => s.oid);
      } catch (err) {
        await index.release();
        throw err;
      }
    });
  }

  /**
   * A file someone changed since git last recorded it is never deleted by a plan (an old
   * result leaving results/, a skill being archived): it stays, tracked as it was, and the
   * log says so. `git rm` refuses the same without -f.
   */
  private async keepEdited(plans: ContentCommit[], indexed: IndexEntries): Promise<ContentCommit[]> {
    const edited = new Set<string>();
    for (const path of new Set(plans.flatMap((p) => Object.entries(p.files).filter(([, c]) => c === null).map(([path]) => path)))) {
      const st = await stat(join(this.dir, path), { bigint: true }).catch(() => undefined);
      if (!st || indexed.unchangedOnDisk(path, st) !== false) continue;
      // The stat differs (a touch, a copied data dir): only different content counts, as in git.
      const text = await readFile(join(this.dir, path)).catch(() => undefined);
      if (text && blobId(text) !== indexed.oidOf(path)) edited.add(path);
    }
    if (!edited.size) return plans;
    for (const path of edited) this.logger?.warn(`kept ${path}: it was changed by hand since it was committed (commit or remove it yourself)`);
    return plans.map((p) => ({ ...p, files: Object.fromEntries(Object.entries(p.files).filter(([path, c]) => !(c === null && edited.has(path)))) }));
  }

  /**
   * Writes the trees and commit objects of `todo` in a row on top of `base`, and starts
   * storing what was collected for the pack: it is written while the working files are,
   * and `flush()` waits for it before the branch moves.
   */
  private async build(base: string | undefined, todo: PlannedCommit[]): Promise<RefStep[]> {
    this.trees.startFrom(base);
    const steps: RefStep[] = [];
    let parent = base;
    for (const c of todo) {
      parent = await this.writeCommit(parent, c.files, c.removed, c.message, c.who);
      steps.push({ oid: parent, subject: c.subject, who: c.who });
    }
    this.objects.seal();
    return steps;
  }

  /** The newest commits first, with their trailers. */
  async log(depth: number): Promise<LoggedCommit[]> {
    if (!(await this.head())) return [];
    return (await this.objects.log(depth)).map((e) => ({
      oid: e.oid,
      subject: e.message.split("\n")[0] ?? "",
      trailers: parseTrailers(e.message),
    }));
  }

  /** A file's text as of a commit (undefined when it has none there). */
  fileAt(commit: string, path: string): Promise<string | undefined> {
    return this.objects.fileAt(commit, path);
  }

  private signature(at: Date | undefined): Signature {
    return { ...this.author, timestamp: Math.floor((at ?? new Date()).getTime() / 1000) };
  }

  /** The trees on the changed paths and a commit object on top of `head`; moves the in-memory trees to it. */
  private async writeCommit(head: string | undefined, files: ChangedFile[], removed: string[], message: string, who: Signature): Promise<string> {
    const tree = await this.trees.write(files, removed);
    const oid = this.objects.write("commit", commitObject(tree, head, who, message));
    this.trees.movedTo(oid);
    return oid;
  }

  /** Runs a commit; if it fails, the index and trees in memory may be ahead of disk: read both again next time. */
  private async resettingOnError<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      await this.objects.abandon();
      this.index.forget();
      this.trees.forget();
      throw err;
    }
  }
}

const blobId = (content: Buffer) => createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
