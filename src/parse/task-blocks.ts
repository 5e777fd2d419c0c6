// Task block parser: queue.md, inbox and handoff files -> TaskBlock values with
// line numbers and offsets. Block boundaries come from the remark (mdast) tree, so a
// `## ` inside fenced code or an indented `task: |` literal never starts a block.
// Pure: no I/O, no clock (the caller says whether the file has settled).
import { createRequire } from "node:module";
import type { Heading, Nodes, Root } from "mdast";
import { parseBlock, TASK_ID_PATTERN, type ParsedBlock } from "./block-fields.js";

export { FIELDS, TASK_ID_PATTERN, unescapeMarkdown, visible } from "./block-fields.js";
export type { BlockProblem, InvalidBlock, ParsedBlock, TaskBlock } from "./block-fields.js";

export interface ParseResult {
  blocks: ParsedBlock[];
  /** Parsing stopped at `to`, before the end of the text: the rest starts at `resumeAt`. */
  more?: boolean;
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
  /**
   * Parse only up to this offset (a block start, or the text's end): a big file is read
   * in slices. The slice's last block is left for the next slice, which starts at it.
   */
  to?: number;
}

// remark (some 40 packages) is loaded on the first text that could hold a block, not when
// this module is imported: `agentos status` over empty queues never pays for it. A
// synchronous require of the ESM packages (Node 22.12+) keeps parseTaskFile synchronous.
const require = createRequire(import.meta.url);
let parser: { parse(text: string): unknown } | undefined;
function markdownParser(): { parse(text: string): unknown } {
  if (!parser) {
    const { unified } = require("unified") as typeof import("unified");
    const remarkParse = (require("remark-parse") as typeof import("remark-parse")).default;
    parser = unified().use(remarkParse);
  }
  return parser;
}

/** Parses task blocks from `text` (BOM already removed by the reader). */
export function parseTaskFile(text: string, opts: ParseOptions = {}): ParseResult {
  const from = opts.from ?? 0;
  const fromLine = opts.fromLine ?? 1;
  const to = Math.min(opts.to ?? text.length, text.length);
  const more = to < text.length;
  const slice = text.slice(from, to);
  const { starts, verbatim } = plainStructure(slice) ?? markdownStructure(slice, fromLine);

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
    let j = i + 1;
    let read = parseBlock(slice.slice(s.offset, starts[j]?.offset ?? slice.length), s.line + fromLine - 1, from + s.offset, verbatim);
    // `## Not a header: …` (no valid id) inside a task's text, as a formatter leaves a
    // `task: |` literal's indented `## ` line: part of that text, not a block of its own.
    while (read.taskOpen && j < starts.length && !TASK_ID_PATTERN.test(headingText(slice, starts[j]!.offset))) {
      j++;
      read = parseBlock(slice.slice(s.offset, starts[j]?.offset ?? slice.length), s.line + fromLine - 1, from + s.offset, verbatim);
    }
    const next = starts[j];
    const raw = slice.slice(s.offset, next ? next.offset : slice.length);
    if (next === undefined && more) {
      // It may go on past the slice: the next slice starts here.
      starts.length = i + 1;
      break;
    }
    if (next === undefined && !isComplete(raw, read.parsed, opts.settled ?? false)) {
      incompleteAt = from + s.offset;
      starts.length = i + 1;
      break;
    }
    blocks.push(read.parsed);
    starts.splice(i + 1, j - i - 1);
  }
  const last = starts[starts.length - 1];
  return { blocks, incompleteAt, resumeAt: last ? from + last.offset : from, more: more || undefined };
}

/** Where blocks start in a slice (offset and line of each `## ` heading) and which lines are code (task text, whatever they look like). */
export interface Structure {
  starts: { offset: number; line: number }[];
  /** Lines (1-based, numbered as in the file) inside a fenced or indented code block. */
  verbatim: Set<number>;
}

/** The structure from the markdown (mdast) tree: what decides wherever the text holds code, HTML or a definition. */
export function markdownStructure(slice: string, fromLine: number): Structure {
  // No `##` at all: no block can start, and only the preamble check applies.
  const tree: Root = slice.includes("##") ? (markdownParser().parse(slice) as Root) : { type: "root", children: [] };
  const starts = tree.children
    .filter((n): n is Heading => n.type === "heading" && n.depth === 2)
    .map((h) => h.position!.start)
    // ATX headings at column 1 only: an indented `  ## x` is literal text of a `task: |`.
    .filter((p) => p.column === 1 && slice.startsWith("##", p.offset!))
    .map((p) => ({ offset: p.offset!, line: p.line }));
  return { starts, verbatim: codeLines(tree, fromLine) };
}

/**
 * What can make a `## ` line at column 1 something else than a heading, or make a line
 * code: a fence, an HTML block, indentation as code (four spaces or a tab, anywhere: after
 * `- ` or `> ` too), a link definition (its title may span lines), a `-` line under a
 * paragraph (a setext heading: `##x` over `---` is a level-2 heading starting with `##`),
 * and line ends other than LF (CommonMark ends a line at a lone CR too).
 */
const NOT_PLAIN = /```|~~~|<|\]:|\r| {4}|\t|^ {0,3}-+ *$/m;

/**
 * The structure by a line scan, for a slice with none of NOT_PLAIN: there every `## `
 * line at column 1 is a heading (one interrupts a paragraph, a list or a quote) and no
 * line is code, so the markdown tree would say the same; test/parse.test.ts compares the
 * two on generated files. remark allocated ~750 bytes for each byte of a queue of small
 * tasks (a sixth of a drain's allocations) and held the event loop 50-170 ms per slice of
 * 256 blocks; this takes a fraction of that. Undefined: the slice needs the tree.
 */
export function plainStructure(slice: string): Structure | undefined {
  if (NOT_PLAIN.test(slice)) return undefined;
  const starts: Structure["starts"] = [];
  // Lines numbered within the slice, as the tree's positions are.
  for (let at = 0, line = 1; at < slice.length; line++) {
    const after = slice[at + 2];
    if (slice.startsWith("##", at) && (after === undefined || after === " " || after === "\n")) starts.push({ offset: at, line });
    const end = slice.indexOf("\n", at);
    at = end < 0 ? slice.length : end + 1;
  }
  return { starts, verbatim: new Set() };
}

/**
 * Blocks parsed at a time. A file of 100,000 blocks is parsed slice by slice as its
 * tasks are admitted, so memory and the time the event loop is held stay bounded.
 */
export const SLICE_BLOCKS = 256;

/** Parses one slice of about SLICE_BLOCKS blocks from `from`; a slice that ends inside one big block grows until it holds it. */
export function parseSlice(text: string, from: number, fromLine: number, settled: boolean): ParseResult {
  for (let n = SLICE_BLOCKS; ; n *= 4) {
    const p = parseTaskFile(text, { from, fromLine, settled, to: sliceEnd(text, from, n) });
    if (!p.more || p.blocks.length > 0) return p;
  }
}

/**
 * The offset of the `count`-th line after `from` that may start a block (`## ` at the
 * start of a line), or undefined if the text has fewer: where a slice of about `count`
 * blocks ends. Only a guess (a `## ` line in fenced code counts too); the parse decides.
 */
export function sliceEnd(text: string, from: number, count: number): number | undefined {
  const re = /^##(?=[ \t\r\n]|$)/gm;
  re.lastIndex = from + 1;
  for (let n = 0; ; ) {
    const m = re.exec(text);
    if (!m) return undefined;
    if (++n >= count) return m.index;
  }
}

/**
 * A block is complete when it is followed by another block; or when it has its task and
 * either closes with `created:` on a full line (as the seed and `enqueue` write it) or the
 * file has been quiet for the settle time (then also without a final newline: an editor's
 * last line).
 */
function isComplete(raw: string, parsed: ParsedBlock, settled: boolean): boolean {
  if (settled) return true; // an invalid block is reported once it stopped changing
  if (!raw.endsWith("\n") || parsed.kind === "invalid") return false;
  const lines = raw.trimEnd().split(/\r?\n/);
  return /^created:\s*\S/.test(lines[lines.length - 1] ?? "");
}

/** The text of the `## ` heading line at `offset`. */
function headingText(text: string, offset: number): string {
  const end = text.indexOf("\n", offset);
  return text.slice(offset, end < 0 ? text.length : end).replace(/^##\s*/, "").replace(/\s+#*\s*$/, "").trim();
}

/** Every line (1-based, numbered as in the file) inside a fenced or indented code block. */
function codeLines(tree: Root, fromLine: number): Set<number> {
  const lines = new Set<number>();
  const visit = (n: Nodes) => {
    if (n.type === "code" && n.position) for (let l = n.position.start.line; l <= n.position.end.line; l++) lines.add(l + fromLine - 1);
    if ("children" in n) for (const c of n.children) visit(c);
  };
  visit(tree);
  return lines;
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
