// Shared by the CLI commands: resolving DATA_DIR, loading config and env, where a problem
// becomes a UserError (printed as `agentos: ...`, exit code from ops/errors.ts).
import { resolve } from "node:path";
import { formatProblem, loadAgentsFile, loadEnv } from "../config/load.js";
import type { AgentsFile, Env } from "../config/schema.js";
import { createLogger, type Logger } from "../log.js";
import { UserError } from "../ops/errors.js";

export { UserError };

export function envOrExit(): Env {
  const env = loadEnv();
  if (!env.ok) throw new UserError(env.problems.map(formatProblem).join("\n"), "AGENTOS_INVALID_CONFIG");
  return env.value;
}

export function dataDirFrom(opt: string | undefined, env: Env): string {
  return resolve(opt ?? env.DATA_DIR);
}

export function configOrExit(dataDir: string): AgentsFile {
  const loaded = loadAgentsFile(resolve(dataDir, "agents.yaml"));
  if (!loaded.ok) throw new UserError(loaded.problems.map(formatProblem).join("\n"), "AGENTOS_INVALID_CONFIG");
  return loaded.value;
}

export function loggerFor(env: Env): Logger {
  return createLogger({ level: env.LOG_LEVEL, format: env.LOG_FORMAT });
}
