// Task block parser: queue.md, inbox and handoff files -> TaskBlock values with
// line numbers and offsets. Block boundaries come from the remark (mdast) tree, so a
// `## ` inside fenced code or an indented `task: |` literal never starts a block.
// Pure: no I/O, no clock (the caller says whether the file has settled).
import type { Heading, Root } from "mdast";
import remarkParse from "remark-parse";
import { unified } from "unified";
import { NAME_PATTERN, Priority } from "../config/schema.js";

export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const FIELDS = ["task", "priority", "created", "ttl_seconds", "from", "parent", "hops"] as const;
type FieldName = (typeof FIELDS)[number];

export interface TaskBlock {
  id: string;
  task: string;
  priority: Priority;
  created?: string;
  ttlSeconds?: number;
  from?: string;
  parent?: string;
  hops?: number;
  /** The block exactly as written, for dead letters and compaction. */
  raw: string;
  /** 1-based line of the `## id` header. */
  line: number;
  /** Offsets (UTF-16 units) of the block in the parsed text. */
  start: number;
  end: number;
}

export interface BlockProblem {
  line: number;
  column: number;
  message: string;
}

export interface InvalidBlock {
  id?: string;
  raw: string;
  line: number;
  start: number;
  end: number;
  problems: BlockProblem[];
}

export type ParsedBlock = { kind: "task"; block: TaskBlock } | { kind: "invalid"; block: InvalidBlock };

export interface ParseResult {
  blocks: ParsedBlock[];
  /** Offset where the last block that is still being written starts (not in `blocks`). */
  incompleteAt?: number;
  /** Offset from which a later parse must start again: the start of the last block. */
  resumeAt: number;
}

export interface ParseOptions {
  /** Offset in `text` to start at (must be a block start or the file start). */
  from?: number;
  /** Line number of `from` (1-based). */
  fromLine?: number;
  /**
   * The file has not changed for the settle time: a last block that has its `task`
   * but no closing `created:` line may run.
   */
  settled?: boolean;
}

const parser = unified().use(remarkParse);

/** Parses task blocks from `text` (BOM already removed by the reader). */
export function parseTaskFile(text: string, opts: ParseOptions = {}): ParseResult {
  const from = opts.from ?? 0;
  const fromLine = opts.fromLine ?? 1;
  const slice = text.slice(from);
  const tree = parser.parse(slice) as Root;
  const starts = tree.children
    .filter((n): n is Heading => n.type === "heading" && n.depth === 2)
    .map((h) => h.position!.start)
    // ATX headings at column 1 only: an indented `  ## x` is literal text of a `task: |`.
    .filter((p) => p.column === 1 && slice.startsWith("##", p.offset!))
    .map((p) => ({ offset: p.offset!, line: p.line }));

  const blocks: ParsedBlock[] = [];
  let incompleteAt: number | undefined;
  if (from === 0) {
    // Text before the first block is a free-form preamble, unless it looks like a
    // task someone forgot to give a `## id` header: that must not vanish silently.
    const preamble = slice.slice(0, starts[0]?.offset ?? slice.length);
    const taskLine = preamble.split(/\r?\n/).findIndex((l) => /^task:/.test(l));
    if (taskLine >= 0 && (starts.length > 0 || preamble.endsWith("\n"))) {
      blocks.push({
        kind: "invalid",
        block: {
          raw: preamble,
          line: fromLine,
          start: 0,
          end: preamble.length,
          problems: [{ line: fromLine + taskLine, column: 1, message: "a task without a header: expected a `## <task-id>` line before `task:`" }],
        },
      });
    }
  }
  for (let i = 0; i < starts.length; i++) {
    const s = starts[i]!;
    const next = starts[i + 1];
    const end = next ? next.offset : slice.length;
    const raw = slice.slice(s.offset, end);
    const isLast = next === undefined;
    const parsed = parseBlock(raw, s.line + fromLine - 1, from + s.offset);
    if (isLast && !isComplete(raw, parsed, opts.settled ?? false)) {
      incompleteAt = from + s.offset;
      break;
    }
    blocks.push(parsed);
  }
  const last = starts[starts.length - 1];
  return { blocks, incompleteAt, resumeAt: last ? from + last.offset : from };
}

/**
 * A block is complete when it is followed by another block, or it ends with a
 * newline, has its task, and either closes with `created:` (as the seed and
 * `enqueue` write it) or the file has been quiet for the settle time.
 */
function isComplete(raw: string, parsed: ParsedBlock, settled: boolean): boolean {
  if (!raw.endsWith("\n")) return false;
  if (parsed.kind === "invalid") {
    // A header alone, or a header and a half-written field, is still being typed.
    return settled;
  }
  if (settled) return true;
  const lines = raw.trimEnd().split(/\r?\n/);
  return /^created:\s*\S/.test(lines[lines.length - 1] ?? "");
}

function parseBlock(raw: string, line: number, start: number): ParsedBlock {
  const problems: BlockProblem[] = [];
  const lines = raw.split(/\r?\n/);
  const header = (lines[0] ?? "").replace(/^##\s*/, "").replace(/\s+#*\s*$/, "").trim();
  const id = header.length > 0 ? header : undefined;
  if (!id) problems.push({ line, column: 1, message: "expected a task id after `## `" });
  else if (!TASK_ID_PATTERN.test(id)) {
    problems.push({
      line,
      column: 4,
      message: `invalid task id '${id}': expected letters, digits, '.', '-' or '_' (no spaces or slashes, at most 128)`,
    });
  }

  const fields = new Map<FieldName, { value: string; line: number }>();
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i]!;
    const lineNo = line + i;
    if (text.trim() === "") continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*):(?:[ \t]+(.*))?$/.exec(text);
    if (!m) {
      problems.push({
        line: lineNo,
        column: 1,
        message: `expected a field such as \`task: ...\` (one of ${FIELDS.join(", ")}), found '${truncate(text)}'`,
      });
      continue;
    }
    const key = m[1]! as FieldName;
    let value = (m[2] ?? "").trim();
    if (!FIELDS.includes(key)) {
      problems.push({ line: lineNo, column: 1, message: `unknown field '${m[1]}' (expected one of ${FIELDS.join(", ")})` });
      continue;
    }
    if (fields.has(key)) {
      problems.push({ line: lineNo, column: 1, message: `field '${key}' appears twice (first on line ${fields.get(key)!.line})` });
      continue;
    }
    if (/^[|>][+-]?$/.test(value)) {
      // YAML-style literal: every following blank or indented line belongs to it.
      const body: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1]!.trim() === "" || /^[ \t]/.test(lines[i + 1]!))) body.push(lines[++i]!);
      value = dedent(body, value.startsWith(">"));
    } else if (key !== "task") {
      value = unquote(value.replace(/\s+#.*$/, ""));
    } else {
      value = unquote(value);
    }
    fields.set(key, { value, line: lineNo });
  }

  const task = fields.get("task")?.value ?? "";
  if (!fields.has("task")) problems.push({ line, column: 1, message: "missing field 'task' (expected `task: <what to do>`)" });
  else if (task.trim() === "") problems.push({ line: fields.get("task")!.line, column: 1, message: "field 'task' is empty" });

  const block: TaskBlock = { id: id ?? "", task, priority: "normal", raw, line, start, end: start + raw.length };
  const check = (key: FieldName, ok: (v: string) => boolean, expected: string, set: (v: string) => void) => {
    const f = fields.get(key);
    if (!f) return;
    if (ok(f.value)) set(f.value);
    else problems.push({ line: f.line, column: key.length + 3, message: `${key}: expected ${expected}, found '${truncate(f.value)}'` });
  };
  check("priority", (v) => Priority.safeParse(v).success, "high, normal or low", (v) => (block.priority = v as Priority));
  check("created", isIsoDate, "an ISO 8601 date such as 2026-04-29T10:05:00Z", (v) => (block.created = new Date(v).toISOString()));
  check("ttl_seconds", (v) => /^\d+$/.test(v) && Number(v) > 0, "a whole number of seconds above 0", (v) => (block.ttlSeconds = Number(v)));
  check("hops", (v) => /^\d+$/.test(v), "a whole number from 0", (v) => (block.hops = Number(v)));
  check("from", (v) => NAME_PATTERN.test(v), "an agent name", (v) => (block.from = v));
  check("parent", (v) => TASK_ID_PATTERN.test(v), "a task id", (v) => (block.parent = v));

  if (problems.length > 0) return { kind: "invalid", block: { id, raw, line, start, end: start + raw.length, problems } };
  return { kind: "task", block };
}

function isIsoDate(v: string): boolean {
  return /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v));
}

function dedent(lines: string[], folded: boolean): string {
  while (lines.length && lines[lines.length - 1]!.trim() === "") lines.pop();
  const indents = lines.filter((l) => l.trim() !== "").map((l) => /^[ \t]*/.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  const out = lines.map((l) => l.slice(Math.min(cut, l.length)));
  return folded ? out.join(" ").replace(/\s+/g, " ").trim() : out.join("\n");
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v) as string;
    } catch {
      return v.slice(1, -1);
    }
  }
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  return v;
}

function truncate(s: string, n = 60): string {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

/**
 * Ids of `## <id>` lines, by a line scan instead of a full parse: ~100× faster on a
 * 10,000-block queue. Conservative on purpose: a `## x` line inside an unindented fenced
 * block counts too. For enqueue's "already queued?" and "queue full?" checks only; the
 * runtime always parses.
 */
export function headerIds(text: string): string[] {
  const ids: string[] = [];
  for (const m of text.matchAll(/^##[ \t]+(\S+)[ \t#]*\r?$/gm)) ids.push(m[1]!);
  return ids;
}
