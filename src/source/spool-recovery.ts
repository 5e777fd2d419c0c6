// Recovery after a crash in the middle of a compaction of queue.md (see task-source.ts).
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { parseTaskFile } from "../parse/task-blocks.js";
import { appendDurable } from "../store/files.js";
import { readTaskFile } from "../store/task-file-read.js";
import { decodeLenient } from "./decode.js";
import { blockKey } from "./task-source.js";

/**
 * After a crash in the middle of a compaction: puts every not-yet-handled block of a
 * left-over spool file back into queue.md (unless queue.md already has it), then
 * removes the spool file.
 */
export async function recoverSpools(queuePath: string, spoolDir: string, isHandledKey: (key: string) => boolean): Promise<number> {
  const names = (await readdir(spoolDir).catch(() => [] as string[])).filter((n) => n.endsWith(".md")).sort();
  let restored = 0;
  for (const name of names) {
    const path = join(spoolDir, name);
    const spoolText = decodeLenient(await readFile(path));
    const current = await readTaskFile(queuePath);
    const present = new Set(current.ok ? parseTaskFile(current.text, { settled: true }).blocks.map(blockKey) : []);
    const p = parseTaskFile(spoolText, { settled: true });
    const back = p.blocks.filter((b) => !isHandledKey(blockKey(b)) && !present.has(blockKey(b))).map((b) => b.block.raw);
    const tail = p.incompleteAt !== undefined ? spoolText.slice(p.incompleteAt) : "";
    if (back.length || tail) {
      const text = back.join("") + tail;
      await appendDurable(queuePath, current.ok && current.text.length && !current.text.endsWith("\n") ? "\n" + text : text);
      restored += back.length;
    }
    await unlink(path);
  }
  return restored;
}

