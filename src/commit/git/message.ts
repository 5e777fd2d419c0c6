// Commit messages and commit objects: the subject, body and trailers the runtime writes
// (`Task-Id`, `Source`, `Reward`, …) and reads back, and the text of a commit object.
import { redactKnown } from "../../redact.js";

export interface Trailers {
  "Task-Id"?: string;
  Source?: string;
  Reward?: string;
  Audit?: string;
  Model?: string;
  Attempt?: string;
  "Handoff-From"?: string;
  "Handoff-To"?: string;
  "Parent-Task"?: string;
  [key: string]: string | undefined;
}

/** Author and committer of a commit: the agent, at a time in whole seconds (UTC). */
export interface Signature {
  name: string;
  email: string;
  timestamp: number;
}

/** The message of a commit; every key in use is taken out (harden: git history is forever). */
export function commitMessage(subject: string, body?: string, trailers?: Trailers): string {
  return redactKnown(composeMessage(subject, body, trailers));
}

function composeMessage(subject: string, body?: string, trailers?: Trailers): string {
  const parts = [subject.trim()];
  const text = body?.replace(/\r\n?/g, "\n").trim();
  if (text) parts.push(text);
  const lines = Object.entries(trailers ?? {})
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${String(v).replace(/\s+/g, " ").trim()}`);
  if (lines.length) parts.push(lines.join("\n"));
  return parts.join("\n\n") + "\n";
}

/** Trailers of a commit message: `Key: value` lines of its last paragraph. */
export function parseTrailers(message: string): Record<string, string> {
  const paragraphs = message.trim().split(/\n\s*\n/);
  const last = paragraphs[paragraphs.length - 1] ?? "";
  const out: Record<string, string> = {};
  if (paragraphs.length < 2) return out;
  for (const line of last.split("\n")) {
    const m = /^([A-Za-z][A-Za-z0-9-]*): (.*)$/.exec(line);
    if (!m) return {};
    out[m[1]!] = m[2]!;
  }
  return out;
}

export function signatureLine(who: Signature): string {
  return `${who.name} <${who.email}> ${who.timestamp} +0000`;
}

/** The content of a commit object (what is hashed and stored after its `commit <size>\0` header). */
export function commitObject(tree: string, parent: string | undefined, who: Signature, message: string): Buffer {
  const text = [
    `tree ${tree}`,
    ...(parent ? [`parent ${parent}`] : []),
    `author ${signatureLine(who)}`,
    `committer ${signatureLine(who)}`,
    "",
    message,
  ].join("\n");
  return Buffer.from(text, "utf8");
}
