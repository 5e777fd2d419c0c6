// One task block's lines -> its fields. The task text is what follows `task:` until the
// next field: the rest of that line, a `task: |` literal (indented), and the paragraphs,
// lists and fenced code that follow at column 0, as a markdown author writes them and
// as formatters (prettier, remark-stringify) rewrite them. Pure; lines inside fenced code
// come from the mdast tree (the caller), never from a second look at the text.
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

export interface BlockRead {
  parsed: ParsedBlock;
  /** The task text runs to the end of the block (no field after it): more text may follow. */
  taskOpen: boolean;
}

// Field separators: spaces, tabs, and the Unicode spaces editors and chat apps paste (NBSP).
const FIELD_LINE = /^([A-Za-z_][A-Za-z0-9_]*):(?:[^\S\r\n]+(.*?))?[^\S\r\n]*$/;
const INDENTED_FIELD = /^[^\S\r\n]+([a-z_]+):(?:[^\S\r\n]+(.*?))?[^\S\r\n]*$/;
const isField = (k: string): k is FieldName => (FIELDS as readonly string[]).includes(k);

type Part = { text: string; markdown: boolean };

/** Reads one block (`raw` starts with its `## id` line at `line`); `verbatim` lines are inside fenced code. */
export function parseBlock(raw: string, line: number, start: number, verbatim: ReadonlySet<number>): BlockRead {
  const problems: BlockProblem[] = [];
  const lines = raw.split(/\r?\n/);
  const header = (lines[0] ?? "").replace(/^##\s*/, "").replace(/\s+#*\s*$/, "").trim();
  const id = header.length > 0 ? header : undefined;
  if (!id) problems.push({ line, column: 1, message: "expected a task id after `## `" });
  else if (!TASK_ID_PATTERN.test(id)) {
    problems.push({
      line,
      column: 4,
      message: `invalid task id '${visible(id)}': expected letters, digits, '.', '-' or '_' (no spaces or slashes, at most 128)`,
    });
  }

  // Fields a list swallowed (a formatter indents the lines after `- item`): indented field
  // lines count as fields when only such lines follow them.
  let tail = lines.length;
  for (let i = lines.length - 1; i > 0; i--) {
    const m = INDENTED_FIELD.exec(lines[i]!) ?? FIELD_LINE.exec(lines[i]!);
    if (lines[i]!.trim() === "") continue;
    if (!m || !isField(m[1]!) || m[1] === "task" || verbatim.has(line + i)) break;
    tail = i;
  }

  const fields = new Map<FieldName, { value: string; line: number }>();
  let taskParts: Part[] | undefined;
  let textOpen = false;
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i]!;
    const lineNo = line + i;
    const inFence = verbatim.has(lineNo);
    const m = inFence ? null : (FIELD_LINE.exec(text) ?? (i >= tail ? INDENTED_FIELD.exec(text) : null));
    if (textOpen && (!m || !isField(m[1]!))) {
      const near = m && !isField(m[1]!) ? nearestField(m[1]!) : undefined;
      if (near) problems.push({ line: lineNo, column: 1, message: `unknown field '${visible(m![1]!)}' (did you mean '${near}'?)` });
      else taskParts!.push({ text, markdown: !inFence });
      continue;
    }
    textOpen = false;
    if (text.trim() === "") continue;
    if (!m) {
      problems.push({
        line: lineNo,
        column: 1,
        message: `expected a field such as \`task: ...\` (one of ${FIELDS.join(", ")}), found '${visible(truncate(text))}'`,
      });
      continue;
    }
    const key = m[1]!;
    let value = (m[2] ?? "").trim();
    if (!isField(key)) {
      const near = nearestField(key);
      problems.push({ line: lineNo, column: 1, message: `unknown field '${visible(key)}' (${near ? `did you mean '${near}'? ` : ""}expected one of ${FIELDS.join(", ")})` });
      continue;
    }
    if (fields.has(key)) {
      problems.push({ line: lineNo, column: 1, message: `field '${key}' appears twice (first on line ${fields.get(key)!.line})` });
      continue;
    }
    if (key === "task") {
      taskParts = [];
      if (/^[|>][+-]?$/.test(value)) {
        // YAML-style literal: every following blank or indented line belongs to it.
        const body: string[] = [];
        while (i + 1 < lines.length && i + 1 < tail && (lines[i + 1]!.trim() === "" || /^[ \t]/.test(lines[i + 1]!))) body.push(lines[++i]!);
        // Blank lines after the literal separate it from what follows (kept in the text).
        while (body.length && body[body.length - 1]!.trim() === "") (body.pop(), i--);
        taskParts.push({ text: dedent(body, value.startsWith(">")), markdown: false });
      } else {
        const unquoted = unquote(value);
        taskParts.push({ text: unquoted, markdown: unquoted === value });
      }
      textOpen = true;
      fields.set(key, { value: "", line: lineNo });
      continue;
    }
    fields.set(key, { value: unquote(value.replace(/\s+#.*$/, "")), line: lineNo });
  }

  const task = taskParts ? joinText(taskParts) : "";
  if (!taskParts) problems.push({ line, column: 1, message: "missing field 'task' (expected `task: <what to do>`)" });
  else if (task.trim() === "") problems.push({ line: fields.get("task")!.line, column: 1, message: "field 'task' is empty" });

  const block: TaskBlock = { id: id ?? "", task, priority: "normal", raw, line, start, end: start + raw.length };
  const check = (key: FieldName, ok: (v: string) => boolean, expected: string, set: (v: string) => void) => {
    const f = fields.get(key);
    if (!f) return;
    if (ok(f.value)) set(f.value);
    else problems.push({ line: f.line, column: key.length + 3, message: `${key}: expected ${expected}, found '${visible(truncate(f.value))}'` });
  };
  check("priority", (v) => Priority.safeParse(v).success, "high, normal or low", (v) => (block.priority = v as Priority));
  check("created", isIsoDate, "an ISO 8601 date such as 2026-04-29T10:05:00Z", (v) => (block.created = new Date(v).toISOString()));
  check("ttl_seconds", (v) => /^\d+$/.test(v) && Number(v) > 0, "a whole number of seconds above 0", (v) => (block.ttlSeconds = Number(v)));
  check("hops", (v) => /^\d+$/.test(v), "a whole number from 0", (v) => (block.hops = Number(v)));
  check("from", (v) => NAME_PATTERN.test(v), "an agent name", (v) => (block.from = v));
  check("parent", (v) => TASK_ID_PATTERN.test(v), "a task id", (v) => (block.parent = v));

  const parsed: ParsedBlock =
    problems.length > 0 ? { kind: "invalid", block: { id, raw, line, start, end: start + raw.length, problems } } : { kind: "task", block };
  return { parsed, taskOpen: textOpen };
}

/** The task text: its parts joined by lines, markdown escapes resolved, outer blank lines dropped. */
function joinText(parts: Part[]): string {
  const text = parts.map((p) => (p.markdown ? unescapeMarkdown(p.text) : p.text)).join("\n");
  return text.replace(/^(?:[^\S\n]*\n)+/, "").replace(/\s+$/, "");
}

/**
 * `2 \* 3` is how markdown writers (remark-stringify, prettier) keep a `*` literal: the
 * text means `2 * 3`. Backslash escapes of ASCII punctuation are resolved, as CommonMark
 * does, except inside `code spans`, which are literal.
 */
export function unescapeMarkdown(line: string): string {
  let out = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "`") {
      const run = /^`+/.exec(line.slice(i))![0];
      const close = line.indexOf(run, i + run.length);
      if (close > 0 && line[close + run.length] !== "`") {
        out += line.slice(i, close + run.length);
        i = close + run.length - 1;
        continue;
      }
      out += run;
      i += run.length - 1;
      continue;
    }
    if (c === "\\" && i + 1 < line.length && /[!-/:-@[-`{-~]/.test(line[i + 1]!)) {
      out += line[++i];
      continue;
    }
    out += c;
  }
  return out;
}

/** A field name one or two edits away from `key` (a typo), if there is one. */
function nearestField(key: string): FieldName | undefined {
  const k = key.toLowerCase();
  if (isField(k)) return k; // `Priority:` means priority
  for (const f of FIELDS) if (editDistance(k, f) <= (f.length > 5 ? 2 : 1)) return f;
  return undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
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

/** Characters that look like a space or nothing, written out (`\u00a0`), so an error never looks like valid input. */
export function visible(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00a0\u00ad\u1680\u2000-\u200f\u2028-\u202f\u205f\u2060\u3000\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
