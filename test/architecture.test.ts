// The layout is part of the design (ARCHITECTURE.md §9): data flows source → parse →
// schedule → work → apply → commit, composed by agent/, used by ops/, served by http/
// and the CLI. These tests read every import in src/ and fail on an import against
// that flow or a cycle between folders, naming the file and the line.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "..", "src");

/** Modules every stage may use: configuration, logging, secrets, and the data dir's formats. */
const BASE = ["config", "log", "redact", "store"];
/** Stages in dependency order: a stage may import from those before it (and from BASE). */
const FLOW = ["parse", "source", "schedule", "work", "apply", "commit", "agent", "ops", "http", "cli"];

interface Import {
  file: string;
  line: number;
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : n.endsWith(".ts") ? [p] : [];
  });
}

/** The folder a module belongs to: its first folder under src/, or its name for a top-level file. */
function unitOf(path: string): string {
  const rel = relative(SRC, path).split("/");
  const top = rel.length === 1 ? rel[0]!.replace(/\.ts$/, "") : rel[0]!;
  return top === "cli" || top === "cli.ts" ? "cli" : top;
}

function importsOf(file: string): Import[] {
  const out: Import[] = [];
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, i) => {
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|^import\s+)["'](\.{1,2}\/[^"']+)["']/g)) {
        const target = resolve(dirname(file), m[1]!).replace(/\.js$/, ".ts");
        out.push({ file: relative(SRC, file), line: i + 1, from: unitOf(file), to: unitOf(target) });
      }
    });
  return out;
}

const imports = sourceFiles(SRC).flatMap(importsOf);

describe("the source layout", () => {
  it("has every folder of src/ in the flow or the base (a new folder needs a place)", () => {
    const units = new Set(sourceFiles(SRC).map(unitOf));
    const unplaced = [...units].filter((u) => !BASE.includes(u) && !FLOW.includes(u));
    expect(unplaced, `folders with no place in the flow: ${unplaced.join(", ")}`).toEqual([]);
  });

  it("imports only from stages to the left and from the base modules", () => {
    const rank = (u: string) => (BASE.includes(u) ? -1 : FLOW.indexOf(u));
    const against = imports
      .filter((i) => i.from !== i.to && rank(i.to) > rank(i.from))
      .map((i) => `src/${i.file}:${i.line}: ${i.from} imports ${i.to}, which comes after it (${[...BASE, "|", ...FLOW].join(" ")})`);
    expect(against, against.join("\n")).toEqual([]);
  });

  it("has no import cycle between folders", () => {
    const edges = new Map<string, Set<string>>();
    for (const i of imports) if (i.from !== i.to) edges.set(i.from, (edges.get(i.from) ?? new Set()).add(i.to));
    const cycles: string[] = [];
    const visit = (u: string, path: string[]) => {
      for (const v of edges.get(u) ?? []) {
        if (path.includes(v)) cycles.push([...path.slice(path.indexOf(v)), v].join(" -> "));
        else if (path.length < 20) visit(v, [...path, v]);
      }
    };
    for (const u of edges.keys()) visit(u, [u]);
    expect([...new Set(cycles)], [...new Set(cycles)].join("\n")).toEqual([]);
  });

  it("keeps every source file under 400 lines", () => {
    const long = sourceFiles(SRC)
      .map((f) => ({ f: relative(SRC, f), n: readFileSync(f, "utf8").split("\n").length }))
      .filter((x) => x.n > 400)
      .map((x) => `src/${x.f}: ${x.n} lines`);
    expect(long, long.join("\n")).toEqual([]);
  });
});
