// Small helpers shared by the learning files: dates, slugs and `- key: value` fields.
export const isoSecond = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");
export const day = (d: Date): string => d.toISOString().slice(0, 10);

/** `Retry With Backoff!` -> `retry-with-backoff` (safe as a file name). */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60)
    .replace(/-+$/, "");
  return slug || "skill";
}

/** Near-identical names compare equal: same words, ignoring plural `s` and order of filler words. */
export function canonicalName(name: string): string {
  return slugify(name)
    .split("-")
    .filter((w) => !["a", "an", "the", "of", "for", "to", "and", "with"].includes(w))
    .map((w) => (w.length > 3 && w.endsWith("s") && !w.endsWith("ss") ? w.slice(0, -1) : w))
    .join("-");
}

export const words = (s: string): Set<string> =>
  new Set(
    s
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter((w) => w.length > 2),
  );

export const estimateTokens = (s: string): number => Math.ceil(s.length / 4);

export const oneLine = (s: string, max = 240): string => {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
};

/** Something in a learning file we could not read: reported with its place, never rewritten away. */
export interface FileProblem {
  file: string;
  line: number;
  message: string;
}

export const formatProblem = (p: FileProblem): string => `${p.file}:${p.line}: ${p.message}; kept as written`;

/** Splits text into lines without a trailing empty line for the final newline. */
export function lines(text: string): string[] {
  const all = text.replace(/\r\n/g, "\n").split("\n");
  if (all.length && all[all.length - 1] === "") all.pop();
  return all;
}
