// The results in an agent's work tree, oldest first: what apply/results-window.ts starts
// from. Both layouts: `results/<xx>/<id>.md` and the flat `results/<id>.md` of data
// dirs from before the fan-out folders. Listed, never followed (a link is skipped).
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { listFolder } from "./files.js";

const isResult = (name: string) => name.endsWith(".md") && !name.startsWith(".");

/** Paths relative to the repository (`results/ab/x.md`), by modification time, then by name. */
export async function listResults(repoDir: string): Promise<string[]> {
  const found: string[] = [];
  const top = await listFolder(join(repoDir, "results")).catch(() => []);
  for (const e of top) {
    if (e.kind === "file" && isResult(e.name)) found.push(`results/${e.name}`);
    else if (e.kind === "dir" && /^[0-9a-f]{2}$/.test(e.name)) {
      const inner = await listFolder(join(repoDir, "results", e.name)).catch(() => []);
      for (const f of inner) if (f.kind === "file" && isResult(f.name)) found.push(`results/${e.name}/${f.name}`);
    }
  }
  const dated = await Promise.all(found.map(async (rel) => ({ rel, at: (await stat(join(repoDir, rel)).catch(() => undefined))?.mtimeMs ?? 0 })));
  return dated.sort((a, b) => a.at - b.at || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0)).map((d) => d.rel);
}
