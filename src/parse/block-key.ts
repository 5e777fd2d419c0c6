// The ledger key of a block: pure, so the parser's callers (sources, intake, retirement,
// spool recovery) all name a block the same way.
import type { ParsedBlock } from "./block-fields.js";

/**
 * The ledger key of a block: its id, or for a block that cannot run, its text and place
 * (two identical broken blocks are two dead letters, never one dropped in silence).
 */
export const blockKey = (b: ParsedBlock): string =>
  b.kind === "task" ? b.block.id : `invalid:${hashText(b.block.raw)}:${b.block.start}`;

function hashText(s: string): string {
  // FNV-1a: a stable key for blocks without a usable id.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0") + s.length.toString(16);
}
