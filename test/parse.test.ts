import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { markdownStructure, parseTaskFile, plainStructure, type ParsedBlock, type TaskBlock } from "../src/parse/task-blocks.js";
import { generateTaskId, serializeBlock } from "../src/parse/serialize.js";
import { FIXTURES } from "./support/data.js";

const tasks = (r: { blocks: ParsedBlock[] }): TaskBlock[] => r.blocks.filter((b) => b.kind === "task").map((b) => b.block as TaskBlock);

describe("task block parser", () => {
  it("reads the seed's three example tasks verbatim", () => {
    const text = readFileSync(join(FIXTURES, "tasks", "orion.md"), "utf8");
    const r = parseTaskFile(text);
    expect(tasks(r).map((t) => [t.id, t.priority, t.created])).toEqual([
      ["first-task", "normal", "2026-04-29T10:05:00.000Z"],
      ["paginated-api", "high", "2026-04-29T10:10:00.000Z"],
      ["sql-parameterization", "high", "2026-04-29T10:15:00.000Z"],
    ]);
    expect(tasks(r)[0]!.task).toBe("List your active constraints and explain how the reward system works.");
    expect(tasks(r)[1]!.line).toBe(7);
  });

  it("keeps `## ` inside fenced code and inside a task: | literal as task text", () => {
    const text = readFileSync(join(FIXTURES, "tasks", "revu.md"), "utf8");
    const [t] = tasks(parseTaskFile(text));
    expect(t!.id).toBe("review-flask-endpoint");
    expect(t!.task).toContain("```python\n@app.route('/user/<username>')");
    expect(t!.task).toContain("## Not a header: this line is part of the task text");
    expect(t!.task.endsWith("Provide specific line-by-line findings with fixes.")).toBe(true);
    expect(t!.priority).toBe("high");
  });

  it("does not split at a `## ` line inside an unindented fenced block", () => {
    const text = "## a\ntask: |\n  x\n\n```\n## inside\n```\n\n## b\ntask: y\ncreated: 2026-01-01T00:00:00Z\n";
    const r = parseTaskFile(text);
    expect(r.blocks.map((b) => b.block.id)).toEqual(["a", "b"]);
    // The fence at column 0 after the literal is more of the task's text.
    expect(tasks(r)[0]!.task).toBe("x\n\n```\n## inside\n```");
  });

  it("handles CRLF, text before the first block and a last line without newline", () => {
    const text = "# My queue\r\nnotes for humans\r\n\r\n## one\r\ntask: first\r\npriority: low\r\ncreated: 2026-04-29T10:05:00Z\r\n\r\n## two\r\ntask: second";
    const r = parseTaskFile(text);
    expect(tasks(r).map((t) => [t.id, t.task, t.priority])).toEqual([["one", "first", "low"]]);
    expect(r.incompleteAt).toBe(text.indexOf("## two"));
    // Once the file has been still for the settle time, the last line needs no newline.
    expect(tasks(parseTaskFile(text, { settled: true })).map((t) => [t.id, t.task])).toEqual([["one", "first"], ["two", "second"]]);
    const r2 = parseTaskFile(text + "\r\n", { settled: true });
    expect(tasks(r2).map((t) => t.id)).toEqual(["one", "two"]);
  });

  it("does not run a block that is still being written", () => {
    expect(parseTaskFile("## a\n").blocks).toEqual([]);
    expect(parseTaskFile("## a\ntask: do").blocks).toEqual([]);
    // task is there, but no closing `created:` and the file has not settled yet
    const r = parseTaskFile("## a\ntask: |\n  line one\n");
    expect(r.blocks).toEqual([]);
    expect(r.incompleteAt).toBe(0);
    expect(tasks(parseTaskFile("## a\ntask: |\n  line one\n", { settled: true }))[0]!.task).toBe("line one");
    // a following block closes the one before it
    expect(tasks(parseTaskFile("## a\ntask: one\n\n## b\n")).map((t) => t.id)).toEqual(["a"]);
  });

  it("reports invalid blocks with line and column, and never drops them", () => {
    const text = "## good\ntask: ok\ncreated: 2026-04-29T10:05:00Z\n\n## bad one\npriority: urgent\ncolour: blue\ncreated: yesterday\n";
    const r = parseTaskFile(text, { settled: true });
    expect(r.blocks.map((b) => b.kind)).toEqual(["task", "invalid"]);
    const bad = r.blocks[1]!;
    if (bad.kind !== "invalid") throw new Error("expected invalid");
    const messages = bad.block.problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
    expect(messages).toEqual([
      "5:4: invalid task id 'bad one': expected letters, digits, '.', '-' or '_' (no spaces or slashes, at most 128)",
      "7:1: unknown field 'colour' (expected one of task, priority, created, ttl_seconds, from, parent, hops)",
      "5:1: missing field 'task' (expected `task: <what to do>`)",
      "6:11: priority: expected high, normal or low, found 'urgent'",
      "8:10: created: expected an ISO 8601 date such as 2026-04-29T10:05:00Z, found 'yesterday'",
    ]);
    expect(bad.block.raw).toBe(text.slice(text.indexOf("## bad one")));
  });

  it("treats a task without a header as an error instead of ignoring it", () => {
    const r = parseTaskFile("task: forgot the header\n\n## x\ntask: y\ncreated: 2026-04-29T10:05:00Z\n");
    expect(r.blocks[0]!.kind).toBe("invalid");
    expect(r.blocks[0]!.kind === "invalid" && r.blocks[0]!.block.problems[0]!.message).toMatch(/without a header/);
    expect(r.blocks[1]!.block.id).toBe("x");
  });

  it("parses only the tail when asked to resume, with correct line numbers", () => {
    const head = "## a\ntask: one\ncreated: 2026-04-29T10:05:00Z\n\n";
    const full = head + "## b\ntask: two\ncreated: 2026-04-29T10:05:00Z\n";
    const first = parseTaskFile(head);
    const r = parseTaskFile(full, { from: first.resumeAt, fromLine: 1 });
    expect(r.blocks.map((b) => [b.block.id, b.block.line, b.block.start])).toEqual([
      ["a", 1, 0],
      ["b", 5, head.length],
    ]);
  });

  it("reads ttl, from, parent and hops of handoff messages", () => {
    const text = "## orion.first\ntask: check it\npriority: high\nttl_seconds: 600\nfrom: orion\nparent: first\nhops: 1\ncreated: 2026-04-29T10:30:00Z\n";
    const [t] = tasks(parseTaskFile(text));
    expect(t).toMatchObject({ id: "orion.first", ttlSeconds: 600, from: "orion", parent: "first", hops: 1, priority: "high" });
  });

  it("round-trips what enqueue writes, including multi-line text with `## ` lines", () => {
    const task = "Review this:\n\n```md\n## heading in code\n```\n## not a block either\nThanks: bye";
    const text = serializeBlock({ id: "t-1", task, priority: "high", created: "2026-04-29T10:30:00Z", ttlSeconds: 60 });
    expect(text.startsWith("\n## t-1\n")).toBe(true);
    const [t] = tasks(parseTaskFile(text));
    expect(t).toMatchObject({ id: "t-1", task, priority: "high", ttlSeconds: 60 });
    const one = tasks(parseTaskFile(serializeBlock({ id: "x", task: "Fix this: the bug", created: "2026-04-29T10:30:00Z" })))[0]!;
    expect(one.task).toBe("Fix this: the bug");
  });

  it("runs a last block without a final newline (an editor's save) once the file is still, and not before", () => {
    const text = "## first-task\ntask: List your active constraints.\npriority: normal\ncreated: 2026-04-29T10:05:00Z";
    expect(parseTaskFile(text).blocks).toEqual([]);
    expect(parseTaskFile(text).incompleteAt).toBe(0);
    expect(tasks(parseTaskFile(text, { settled: true }))[0]).toMatchObject({ id: "first-task", created: "2026-04-29T10:05:00.000Z" });
  });

  it("takes the text after `task:` up to the next field as the task: paragraphs, lists and fenced code at column 0", () => {
    const text = [
      "## fix-retry",
      "task: Fix the flaky retry test.",
      "",
      "```js",
      "const delay = base * 2 ** attempt; // priority: not a field",
      "## not a header either",
      "```",
      "",
      "### Steps",
      "- find the race",
      "Note: keep the public API.",
      "priority: high",
      "created: 2026-04-29T10:50:00Z",
      "",
    ].join("\n");
    const r = parseTaskFile(text);
    expect(r.blocks.map((b) => b.kind)).toEqual(["task"]);
    expect(tasks(r)[0]).toMatchObject({
      id: "fix-retry",
      priority: "high",
      task: "Fix the flaky retry test.\n\n```js\nconst delay = base * 2 ** attempt; // priority: not a field\n## not a header either\n```\n\n### Steps\n- find the race\nNote: keep the public API.",
    });
  });

  it("reports a misspelt field inside the task text instead of taking it as text", () => {
    const r = parseTaskFile("## t\ntask: do it\npriorty: high\ncreated: 2026-04-29T10:50:00Z\n", { settled: true });
    expect(r.blocks[0]!.kind === "invalid" && r.blocks[0]!.block.problems.map((p) => `${p.line}:${p.message}`)).toEqual(["3:unknown field 'priorty' (did you mean 'priority'?)"]);
  });

  it("reads what remark-stringify and prettier make of a valid file as the same tasks", () => {
    // fixtures/formats: queue.md, and what `npx prettier@3.10.1 --write` and
    // unified().use(remarkParse).use(remarkStringify) (remark-stringify 11) wrote from it.
    const dir = join(FIXTURES, "formats");
    const shape = (t: TaskBlock) => ({
      id: t.id,
      priority: t.priority,
      created: t.created,
      ttlSeconds: t.ttlSeconds,
      from: t.from,
      // Equal as markdown: formatters add blank lines and pick their own bullet character.
      task: t.task.replace(/\n[^\S\n]*(?=\n)/g, "").replace(/^[*+-] /gm, "- "),
    });
    const original = tasks(parseTaskFile(readFileSync(join(dir, "queue.md"), "utf8"))).map(shape);
    expect(original.map((t) => t.id)).toEqual(["first-task", "paginated-api", "sql-parameterization", "review-flask-endpoint", "review-nda-clause", "calc", "checklist", "markdown-authors"]);
    for (const name of ["queue.prettier.md", "queue.remark.md"]) {
      const r = parseTaskFile(readFileSync(join(dir, name), "utf8"));
      expect(r.blocks.filter((b) => b.kind === "invalid"), name).toEqual([]);
      expect(tasks(r).map(shape), name).toEqual(original);
    }
    // remark-stringify's escapes are not part of the text; code spans keep theirs.
    const calc = tasks(parseTaskFile(readFileSync(join(dir, "queue.remark.md"), "utf8"))).find((t) => t.id === "calc")!;
    expect(readFileSync(join(dir, "queue.remark.md"), "utf8")).toContain("compute 2 \\* 3");
    expect(calc.task).toBe("compute 2 * 3, then a_b_c for [x] & <y> and `a * b` in code");
    expect(tasks(parseTaskFile("## e\ntask: keep `a\\*b` and 2 \\* 3\ncreated: 2026-04-29T10:50:00Z\n"))[0]!.task).toBe("keep `a\\*b` and 2 * 3");
  });

  it("accepts a no-break space after `task:`, and shows invisible characters as \\u00a0 in errors", () => {
    const [t] = tasks(parseTaskFile("## nb\ntask:\u00a0Summarise the logs\npriority:\u00a0high\ncreated: 2026-04-29T10:50:00Z\n"));
    expect(t).toMatchObject({ task: "Summarise the logs", priority: "high" });
    const bad = parseTaskFile("## nb\ntask\u00a0: Summarise the logs\ncreated: 2026-04-29T10:50:00Z\n", { settled: true }).blocks[0]!;
    expect(bad.kind === "invalid" && bad.block.problems[0]!.message).toBe(
      "expected a field such as `task: ...` (one of task, priority, created, ttl_seconds, from, parent, hops), found 'task\\u00a0: Summarise the logs'",
    );
  });

  it("generates readable unique ids", () => {
    const id = generateTaskId(new Date("2026-04-29T10:30:05Z"), () => 0.5);
    expect(id).toMatch(/^task-20260429-103005-[0-9a-z]{4}$/);
  });

  describe("the line scan used for plain slices", () => {
    // Lines that look like structure to a person or a formatter, without the characters
    // that send a slice to the markdown tree; and a few with them, to check the switch.
    const lines = [
      "## a", "## b-1", "##", "## ", "##x", "###", "### c", "#", "# d", " ## e", "  ## f", "   ## g", "\\## h", "## i ##", "## j #",
      "task: do it", "task: |", "  indented text", "   three spaces", "priority: high", "created: 2026-12-02T10:00:00Z", "ttl_seconds: 5",
      "", "", "> quote", "> ## quoted", ">", "- item", "- ## in a list", "* star", "+ plus", "1. first", "2) second", "-", "---", "***", "===", "Title",
      "####### seven", "#######", "=", "==", "- - -", "* * *", "_ _ _", "1. ## x", "![i](u)", "**bold", "\\", "#5", "a  ", "``", "## k\\",
      "a *b* _c_ `d`", "\\*escaped", "[link](x)", "[ref]", "&amp; &#42;", "a \u2028 b", "\u00a0## nbsp", "## \u00e9t\u00e9", "line\\",
      // These send the slice to the tree: fence, HTML, code indentation, definition, CR.
      "```", "~~~", "<div>", "<!-- c -->", "    code", "\tx", "-     code in a list", "[r]: /url", "cr\rline",
    ];
    function* documents(count: number): Generator<string> {
      // mulberry32: the same documents on every run.
      let seed = 42;
      const rand = (n: number) => {
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) % n;
      };
      for (let d = 0; d < count; d++) {
        const n = 1 + rand(14);
        const picked = Array.from({ length: n }, () => lines[rand(lines.length)]!);
        yield picked.join("\n") + (rand(3) ? "\n" : "");
      }
    }

    it("finds the same blocks and code lines as the markdown tree wherever it answers", () => {
      let compared = 0;
      let deferred = 0;
      for (const doc of documents(6000)) {
        const plain = plainStructure(doc);
        if (!plain) {
          deferred++;
          continue;
        }
        compared++;
        const tree = markdownStructure(doc, 1);
        expect({ ...plain, verbatim: [...plain.verbatim] }, JSON.stringify(doc)).toEqual({ ...tree, verbatim: [...tree.verbatim] });
      }
      // Both kinds occur: the comparison covers the scan, and the switch is exercised.
      expect(compared).toBeGreaterThan(1000);
      expect(deferred).toBeGreaterThan(500);
    });

    it("leaves fences, HTML, indented code and definitions to the tree", () => {
      for (const doc of ["## a\ntask: x\n```\n## b\n```\n", "## a\ntask: x\n<div>\n## b\n</div>\n", "## a\ntask: |\n  x\n\n    ## b\n", "## a\n[r]: /u 'x\n## b\n'\n", "## a\rtask: x\r"]) {
        expect(plainStructure(doc)).toBeUndefined();
      }
      // The fenced `## b` is task text, not a block of its own.
      expect(tasks(parseTaskFile("## a\ntask: x\n```\n## b\n```\ncreated: 2026-12-02T10:00:00Z\n", { settled: true })).map((t) => t.id)).toEqual(["a"]);
    });
  });
});
