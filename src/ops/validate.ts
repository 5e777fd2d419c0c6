// Validation (`agentos validate`): every problem in agents.yaml and the task files, as file:line:column.
import { relative, resolve } from "node:path";
import { formatProblem, loadAgentsFile, loadEnv } from "../config/load.js";
import { providerFor } from "../config/provider.js";
import { readTaskFile } from "../store/task-file-read.js";
import { agentTaskFiles } from "../store/task-files.js";
import { parseTaskFile } from "../parse/task-blocks.js";

export interface ValidationReport {
  errors: string[];
  warnings: string[];
  tasks: number;
  files: number;
}

export async function validateDataDir(dataDir: string): Promise<ValidationReport> {
  const report: ValidationReport = { errors: [], warnings: [], tasks: 0, files: 0 };
  const yamlPath = resolve(dataDir, "agents.yaml");
  const loaded = loadAgentsFile(yamlPath);
  report.files++;
  if (!loaded.ok) {
    report.errors.push(...loaded.problems.map(formatProblem));
    return report;
  }
  const file = loaded.value;
  // harden: where each agent's key would go (no key to a foreign base_url, plain http off loopback).
  const env = loadEnv();
  if (env.ok) for (const a of file.agents) report.warnings.push(...providerFor(a, env.value).warnings.map((w) => `${relative(process.cwd(), yamlPath) || yamlPath}: ${w}`));
  for (const a of file.agents) {
    for (const f of await agentTaskFiles(dataDir, file.iac.dead_letter_path, a.name)) {
      const shown = relative(process.cwd(), f) || f;
      const r = await readTaskFile(f);
      if (!r.ok) {
        if (!r.missing) report.errors.push(`${shown}:1:1: ${r.message}`);
        continue;
      }
      report.files++;
      const parsed = parseTaskFile(r.text, { settled: true });
      const ids = new Map<string, number>();
      for (const b of parsed.blocks) {
        if (b.kind === "invalid") {
          for (const p of b.block.problems) report.errors.push(`${shown}:${p.line}:${p.column}: ${p.message}`);
          continue;
        }
        report.tasks++;
        const first = ids.get(b.block.id);
        if (first !== undefined) report.errors.push(`${shown}:${b.block.line}:4: duplicate task id '${b.block.id}' (first on line ${first})`);
        else ids.set(b.block.id, b.block.line);
      }
      if (parsed.incompleteAt !== undefined) {
        const line = r.text.slice(0, parsed.incompleteAt).split("\n").length;
        report.warnings.push(`${shown}:${line}:1: the last block is incomplete (no final newline or no \`task:\` yet); it will not run until it is`);
      }
    }
  }
  return report;
}
