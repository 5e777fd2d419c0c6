// The byte order git sorts paths and tree entries in, and binary search over it.

/** Byte order of UTF-8 (what git uses); plain string order agrees for ASCII. */
export function compareBytes(a: string, b: string): number {
  if (/^[\x00-\x7f]*$/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Where `key` is (or would go) in a list sorted by compareBytes of `keyOf`. */
export function sortedPosition<T>(list: readonly T[], key: string, keyOf: (item: T) => string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareBytes(keyOf(list[mid]!), key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
