// Reads agents.yaml and the environment. Every problem a user can cause comes
// back as a SourceProblem pointing at file:line:column; nothing here throws for bad input
// (an alias bomb, a FIFO or a huge file included). Every key read is handed to the redactor.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { isMap, isSeq, LineCounter, parseDocument, Parser, type Document, type Node } from "yaml";
import type * as z from "zod";
import { addSecret } from "../redact.js";
import { AgentsFile, Env } from "./schema.js";

/** agents.yaml is a few KB; anything near this is a mistake or an attack. */
export const MAX_AGENTS_FILE_BYTES = 1024 * 1024;
/** YAML aliases resolved per document: enough for shared anchors, far too few for a "billion laughs". */
const MAX_YAML_ALIASES = 100;
const MAX_KEY_FILE_BYTES = 64 * 1024;

/** A user-caused error with the place it points at. */
export interface SourceProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export const formatProblem = (p: SourceProblem): string => `${p.file}:${p.line}:${p.column}: ${p.message}`;

export type Loaded<T> = { ok: true; value: T } | { ok: false; problems: SourceProblem[] };

export function loadAgentsFile(file: string): Loaded<AgentsFile> {
  let text: string;
  try {
    text = readConfigFile(file, MAX_AGENTS_FILE_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === "ENOENT"
        ? "agents.yaml not found: create it (see docs/configuration.md) or point --data / DATA_DIR at the right folder"
        : `cannot read agents.yaml (${code ?? (err as Error).message})`;
    return { ok: false, problems: [{ file, line: 1, column: 1, message }] };
  }
  return parseAgentsFile(text, file);
}

/**
 * A configuration file an operator wrote (agents.yaml, a key file): a link is followed
 * (Kubernetes mounts config and secrets as links), but it must end at a regular file
 * (a FIFO would block start-up for ever) of at most `maxBytes`.
 */
function readConfigFile(file: string, maxBytes: number): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(st.isDirectory() ? "it is a directory" : "it is not a regular file");
    const buf = Buffer.alloc(maxBytes + 1);
    let got = 0;
    for (let n = 1; n > 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, got);
    if (got > maxBytes) throw new Error(`it is over ${maxBytes / 1024} KB`);
    return buf.subarray(0, got).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export function parseAgentsFile(text: string, file: string): Loaded<AgentsFile> {
  try {
    return parseAgentsText(text, file);
  } catch (err) {
    // A bug of ours or of a library must not take a running runtime down on hot reload.
    return { ok: false, problems: [{ file, line: 1, column: 1, message: `cannot be loaded: ${(err as Error).message}` }] };
  }
}

function parseAgentsText(text: string, file: string): Loaded<AgentsFile> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    // After the first syntax error the parser is lost; what it says next is mostly echo.
    const first = doc.errors[0]!;
    const more = doc.errors.length - 1;
    const message = `invalid YAML: ${firstLine(first.message)}${more ? ` (and ${more} more error(s) after it, probably caused by this one)` : ""}`;
    // The parser notices an unclosed `[` or `{` lines later; point where it was opened.
    const open = unclosedFlow(text, first.pos[0]);
    if (open) {
      const where = at(first.pos[0]);
      const close = open.source === "[" ? "]" : "}";
      return { ok: false, problems: [{ file, ...at(open.offset), message: `invalid YAML: this \`${open.source}\` is never closed (expected \`${close}\` before ${first.pos[0] >= text.trimEnd().length ? "the end of the file" : `line ${where.line}`}): ${firstLine(first.message)}` }] };
    }
    return { ok: false, problems: [{ file, ...at(first.pos[0]), message }] };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) ?? {};
  } catch (err) {
    const message = /alias/i.test((err as Error).message)
      ? `invalid YAML: more than ${MAX_YAML_ALIASES} alias expansions (a YAML "billion laughs" document); use fewer aliases`
      : `invalid YAML: ${firstLine((err as Error).message)}`;
    return { ok: false, problems: [{ file, line: 1, column: 1, message }] };
  }
  const parsed = AgentsFile.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  // zod skips the cross-agent refinement when fields fail; report duplicates anyway.
  const issues = [...parsed.error.issues];
  if (!issues.some((i) => i.message.startsWith("Duplicate agent name"))) issues.push(...duplicateNames(raw));
  return {
    ok: false,
    problems: issues
      .map((issue) => ({ file, ...at(offsetOf(doc, issue)), message: describeIssue(issue, valueAt(raw, issue.path)) }))
      .sort((a, b) => a.line - b.line || a.column - b.column),
  };
}

function duplicateNames(raw: unknown): z.core.$ZodIssue[] {
  const agents = (raw as { agents?: unknown }).agents;
  if (!Array.isArray(agents)) return [];
  const seen = new Map<string, number>();
  const out: z.core.$ZodIssue[] = [];
  agents.forEach((a, i) => {
    const name = (a as { name?: unknown } | null)?.name;
    if (typeof name !== "string") return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else out.push({ code: "custom", path: ["agents", i, "name"], message: `Duplicate agent name '${name}' (first defined as agents[${first}]); names must be unique`, input: name } as z.core.$ZodIssue);
  });
  return out;
}

/** The start of the first flow collection (`[`, `{`) before `before` that has no closing token. */
function unclosedFlow(text: string, before: number): { offset: number; source: string } | undefined {
  let found: { offset: number; source: string } | undefined;
  const visit = (t: unknown): void => {
    if (found || !t || typeof t !== "object") return;
    const tok = t as { type?: string; start?: { offset: number; source: string }; end?: { type: string }[]; items?: unknown[]; key?: unknown; value?: unknown };
    if (tok.type === "flow-collection" && tok.start && tok.start.offset < before && !tok.end?.some((e) => e.type === "flow-seq-end" || e.type === "flow-map-end")) {
      found = { offset: tok.start.offset, source: tok.start.source };
      return;
    }
    for (const item of tok.items ?? []) {
      const it = item as { key?: unknown; value?: unknown };
      visit(it.key);
      visit(it.value);
    }
    visit(tok.key);
    visit(tok.value);
  };
  for (const token of new Parser().parse(text)) visit(token);
  return found;
}

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

/** Where a zod issue points in the YAML source: the offending key for unknown keys, else the value. */
function offsetOf(doc: Document, issue: z.core.$ZodIssue): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  const path = [...issue.path];
  if (issue.code === "unrecognized_keys" && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      const isLast = key === path[path.length - 1] && issue.code === "unrecognized_keys";
      node = isLast ? keyNode : pair.value;
      offset = (node as Node | null)?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof key === "number") {
      node = node.items[key];
      offset = (node as Node | null)?.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}

function describeIssue(issue: z.core.$ZodIssue, input?: unknown): string {
  const where = issue.path.length ? `${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "")}: ` : "";
  if (issue.code === "unrecognized_keys") {
    return `${where}unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
  }
  if (issue.code === "invalid_type") {
    const received = input ?? (issue as { input?: unknown }).input;
    return `${where}expected ${issue.expected === "int" ? "a whole number" : issue.expected}, got ${received === undefined ? "nothing" : JSON.stringify(received)}`;
  }
  return `${where}${issue.message}`;
}

/** Reads provider and runtime settings from the environment; LLM_API_KEY_FILE wins for Docker secrets. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Loaded<Env> {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = Env.safeParse(cleaned);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => ({
        file: "environment",
        line: 0,
        column: 0,
        message: `${String(i.path[0])}: ${i.message}`,
      })),
    };
  }
  const env = parsed.data;
  if (env.LLM_API_KEY_FILE) {
    try {
      env.LLM_API_KEY = readConfigFile(env.LLM_API_KEY_FILE, MAX_KEY_FILE_BYTES).trim();
    } catch (err) {
      return {
        ok: false,
        problems: [
          {
            file: env.LLM_API_KEY_FILE,
            line: 0,
            column: 0,
            message: `LLM_API_KEY_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
          },
        ],
      };
    }
  }
  addSecret(env.LLM_API_KEY);
  addSecret(env.AGENTOS_API_TOKEN);
  return { ok: true, value: env };
}

/** The value at a zod issue's path in the parsed YAML (zod 4 does not keep it). */
function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}
