// Writes task blocks in the format parse.ts reads. `created:` always comes last,
// because a block that ends with it is complete the moment it lands. What is written
// reads back as exactly the task given (checked by parsing it back), whatever the text
// holds: submitted text cannot change the structure of the file around it.
import type { Priority } from "../config/schema.js";
import { parseTaskFile } from "./task-blocks.js";

export interface NewTask {
  id: string;
  task: string;
  priority?: Priority;
  created: string;
  ttlSeconds?: number;
  from?: string;
  parent?: string;
  hops?: number;
}

export function serializeBlock(t: NewTask): string {
  const text = normalizeTaskText(t.task);
  // The seed's two-space literal; four spaces when the text holds something that would open
  // a markdown block running past its end; a JSON string when even that would not read back.
  // Callers refuse control characters at their door (taskTextProblem); if one gets here
  // anyway, only the JSON form (which escapes it) is written, never a raw NUL.
  const controls = CONTROL.test(text);
  const forms = controls ? [] : [readableTask(text, "  "), readableTask(text, "    ")];
  for (const form of [...forms, [`task: ${JSON.stringify(text)}`]]) {
    if (!form) continue;
    const block = renderBlock(t, form);
    if (readsBackAs(block, t.id, text)) return block;
  }
  throw new Error(`serializeBlock: task ${t.id} does not read back as written`);
}

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** What a task's text becomes in a file: LF line ends, no trailing white space. */
export const normalizeTaskText = (task: string): string => task.replace(/\r\n?/g, "\n").replace(/\s+$/, "");

/**
 * Why a task text cannot be written, or undefined. NUL and other control characters
 * (tab and newline are fine) would make the file binary or hide text from a person.
 */
export function taskTextProblem(task: string): string | undefined {
  const m = CONTROL.exec(task);
  if (m) {
    const line = task.slice(0, m.index).split("\n").length;
    return `the task contains a control character (U+${m[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()}) on line ${line}; only text, tabs and newlines are allowed`;
  }
  if (normalizeTaskText(task) === "") return "the task is empty";
  return undefined;
}

/**
 * The form a person would write: one line, or a `task: |` literal. Indented by four
 * spaces, nothing in it (an unclosed ``` fence, `<!--`, a `---` line) can open a markdown
 * block that runs past the end of the task (fences and HTML blocks may be indented three
 * spaces at most). Undefined when the literal cannot read back (every line indented: the
 * reader removes the common indent).
 */
function readableTask(text: string, indent: string): string[] | undefined {
  if (!text.includes("\n") && !/^["'|>]/.test(text) && text === text.trim()) return [`task: ${text}`];
  const lines = text.split("\n");
  if (lines.every((l) => l.trim() === "" || /^[ \t]/.test(l))) return undefined;
  return ["task: |", ...lines.map((l) => (l.trim() === "" ? "" : `${indent}${l}`))];
}

function renderBlock(t: NewTask, task: string[]): string {
  const lines = [`## ${t.id}`, ...task];
  lines.push(`priority: ${t.priority ?? "normal"}`);
  if (t.ttlSeconds !== undefined) lines.push(`ttl_seconds: ${t.ttlSeconds}`);
  if (t.from !== undefined) lines.push(`from: ${t.from}`);
  if (t.parent !== undefined) lines.push(`parent: ${t.parent}`);
  if (t.hops !== undefined) lines.push(`hops: ${t.hops}`);
  lines.push(`created: ${t.created}`);
  // The leading blank line separates the block from whatever the file ends with.
  return "\n" + lines.join("\n") + "\n";
}

/** The block parses, followed by another, as exactly one task with this id and text, and the next block survives. */
function readsBackAs(block: string, id: string, text: string): boolean {
  const probe = "\n## agentos-probe\ntask: probe\ncreated: 2026-01-01T00:00:00Z\n";
  const { blocks } = parseTaskFile(block + probe, { settled: true });
  const [first, second] = blocks;
  return blocks.length === 2 && first?.kind === "task" && first.block.id === id && first.block.task === text && second?.kind === "task" && second.block.id === "agentos-probe";
}

/** A readable, unique-enough id for a task given without one: `task-20261126-103501-k3f9`. */
export function generateTaskId(now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `task-${stamp}-${Math.floor(random() * 36 ** 4).toString(36).padStart(4, "0")}`;
}
