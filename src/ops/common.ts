// Shared by the CLI commands: resolving DATA_DIR, loading config with readable errors.
import { resolve } from "node:path";
import { formatProblem, loadAgentsFile, loadEnv } from "../config/load.js";
import type { AgentsFile, Env } from "../config/schema.js";
import { createLogger, type Logger } from "../log.js";

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function envOrExit(): Env {
  const env = loadEnv();
  if (!env.ok) throw new UserError(env.problems.map(formatProblem).join("\n"));
  return env.value;
}

export function dataDirFrom(opt: string | undefined, env: Env): string {
  return resolve(opt ?? env.DATA_DIR);
}

export function configOrExit(dataDir: string): AgentsFile {
  const loaded = loadAgentsFile(resolve(dataDir, "agents.yaml"));
  if (!loaded.ok) throw new UserError(loaded.problems.map(formatProblem).join("\n"));
  return loaded.value;
}

export function loggerFor(env: Env): Logger {
  return createLogger({ level: env.LOG_LEVEL, format: env.LOG_FORMAT });
}
