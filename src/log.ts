// Logging in the seed's text format (`2026-04-29T10:00:00 INFO [agentos] ...`) or
// one JSON object per line (LOG_FORMAT=json). Owns nothing else; never logs secrets.
// Messages and fields often carry text from files and the model: a line cannot forge
// another (continuation lines are indented), carry terminal escapes, or hold a key.
import { redact } from "./redact.js";

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
        // JSON.stringify escapes C0 controls; C1 controls and line separators are escaped here.
        write(redact(JSON.stringify({ time, level, scope: scopes.join("/"), msg, ...fields })).replace(UNSAFE_IN_JSON, unicodeEscape));
      } else {
        const tail = fields && Object.keys(fields).length ? " " + formatFields(fields) : "";
        write(redact(`${time.slice(0, 19)} ${level.toUpperCase()} ${scopes.map((s) => `[${s}]`).join(" ")} ${escapeText(msg)}${tail}`));
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
    .map(([k, v]) => `${escapeText(k).replace(/[\s=]/g, "_")}=${typeof v === "string" && PLAIN.test(v) ? v : jsonField(v)}`)
    .join(" ");
}

/** Printed bare: visible ASCII without quotes (anything else is quoted and escaped). */
const PLAIN = /^[\x21\x23-\x7e]+$/;
const jsonField = (v: unknown): string => (JSON.stringify(v) ?? String(v)).replace(UNSAFE_IN_JSON, unicodeEscape);

// C0 controls but tab and newline, DEL, C1 controls (0x9b is a CSI on some terminals),
// line/paragraph separators and bidi overrides, which reorder what a person reads.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * A message as one log entry: control characters shown as `\u001b`, and every line after
 * the first indented, so no text inside it can start a line that looks like a log line.
 */
export function escapeText(s: string): string {
  return s.replace(/\r\n?/g, "\n").replace(UNSAFE, unicodeEscape).replace(/\n/g, "\n  ");
}
