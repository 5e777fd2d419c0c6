// The configuration reference, generated from the zod schemas (docs/configuration.md
// is this output; a test keeps them in step).
import * as z from "zod";
import { AgentConfig, AgentsFile, Env } from "./schema.js";

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  anyOf?: JsonSchema[];
  minimum?: number;
  pattern?: string;
  format?: string;
};

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v).replace(/"/g, "")).join(" \\| ");
  if (s.anyOf) return s.anyOf.map(typeOf).join(" or ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "values"}`;
  if (s.type === "object") return "object";
  if (s.format === "uri") return "URL";
  return String(s.type ?? "value");
}

function rows(schema: JsonSchema, prefix: string, out: string[], inherited?: Record<string, unknown>): void {
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const fallback = s.default ?? inherited?.[key];
    if (s.type === "object" && s.properties && !s.description?.startsWith("Per-agent")) {
      rows(s, path, out, fallback as Record<string, unknown> | undefined);
      continue;
    }
    const def = fallback === undefined ? "" : `\`${JSON.stringify(fallback)}\``;
    out.push(`| \`${path}\` | ${typeOf(s)} | ${def} | ${(s.description ?? "").replace(/\|/g, "\\|")} |`);
  }
}

export function configReference(): string {
  const file = z.toJSONSchema(AgentsFile, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const agent = z.toJSONSchema(AgentConfig, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const env = z.toJSONSchema(Env, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const head = "| key | type | default | meaning |\n|---|---|---|---|";
  const agentRows: string[] = [];
  rows(agent, "", agentRows);
  for (const [k, s] of Object.entries(agent.properties?.llm?.properties ?? {})) {
    agentRows.push(`| \`llm.${k}\` | ${typeOf(s)} |  | ${s.description ?? ""} |`);
  }
  const fileRows: string[] = [];
  rows({ properties: Object.fromEntries(Object.entries(file.properties ?? {}).filter(([k]) => k !== "agents")) }, "", fileRows);
  const envRows: string[] = [];
  rows(env, "", envRows);
  return [
    "<!-- generated from src/config/schema.ts by `agentos config-reference`; do not edit by hand -->",
    "",
    "## Each agent (`agents:` list)",
    "",
    head,
    ...agentRows,
    "",
    "## Runtime sections (all optional)",
    "",
    head,
    ...fileRows,
    "",
    "## Environment",
    "",
    head,
    ...envRows,
    "",
  ].join("\n");
}
