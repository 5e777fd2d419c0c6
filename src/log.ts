// Logging in the seed's text format (`2026-04-29T10:00:00 INFO [agentos] ...`) or
// one JSON object per line (LOG_FORMAT=json). Owns nothing else; never logs secrets.
export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines carry this scope, e.g. `[agent] [orion]`. */
  child(scope: string): Logger;
}

export interface LogOptions {
  level?: Level;
  format?: "text" | "json";
  write?: (line: string) => void;
  now?: () => Date;
}

/** The root logger has no scope; each part adds its own (`[bootstrap]`, `[agent] [orion]`). */
export function createLogger(opts: LogOptions = {}): Logger {
  const min = RANK[opts.level ?? "info"];
  const format = opts.format ?? "text";
  const write = opts.write ?? ((line: string) => process.stdout.write(line + "\n"));
  const now = opts.now ?? (() => new Date());
  const make = (scopes: string[]): Logger => {
    const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
      if (RANK[level] < min) return;
      const time = now().toISOString();
      if (format === "json") {
        write(JSON.stringify({ time, level, scope: scopes.join("/"), msg, ...fields }));
      } else {
        const tail = fields && Object.keys(fields).length ? " " + formatFields(fields) : "";
        write(`${time.slice(0, 19)} ${level.toUpperCase()} ${scopes.map((s) => `[${s}]`).join(" ")} ${msg}${tail}`);
      }
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (s) => make([...scopes, s]),
    };
  };
  return make([]);
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(" ");
}

/** A logger that drops everything: for library use and tests that do not read logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
