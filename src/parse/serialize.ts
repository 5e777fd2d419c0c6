// Writes task blocks in the format parse.ts reads. `created:` always comes last,
// because a block that ends with it is complete the moment it lands.
import type { Priority } from "../config/schema.js";

export interface NewTask {
  id: string;
  task: string;
  priority?: Priority;
  created: string;
  ttlSeconds?: number;
  from?: string;
  parent?: string;
  hops?: number;
}

export function serializeBlock(t: NewTask): string {
  const lines = [`## ${t.id}`];
  const text = t.task.replace(/\r\n?/g, "\n").replace(/\s+$/, "");
  const plain = !text.includes("\n") && !/^["'|>]/.test(text) && text === text.trim();
  if (plain) lines.push(`task: ${text}`);
  else lines.push("task: |", ...text.split("\n").map((l) => (l.trim() === "" ? "" : `  ${l}`)));
  lines.push(`priority: ${t.priority ?? "normal"}`);
  if (t.ttlSeconds !== undefined) lines.push(`ttl_seconds: ${t.ttlSeconds}`);
  if (t.from !== undefined) lines.push(`from: ${t.from}`);
  if (t.parent !== undefined) lines.push(`parent: ${t.parent}`);
  if (t.hops !== undefined) lines.push(`hops: ${t.hops}`);
  lines.push(`created: ${t.created}`);
  // The leading blank line separates the block from whatever the file ends with.
  return "\n" + lines.join("\n") + "\n";
}

/** A readable, unique-enough id for a task given without one: `task-20261126-103501-k3f9`. */
export function generateTaskId(now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `task-${stamp}-${Math.floor(random() * 36 ** 4).toString(36).padStart(4, "0")}`;
}
