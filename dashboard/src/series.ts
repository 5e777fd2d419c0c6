// Pure helpers of the reward chart (no DOM), so they can be tested without a browser.

/** The rolling mean over the last `window` rewards (fewer at the start), two decimals. */
export function rollingMean(values: number[], window = 10): number[] {
  const out: number[] = [];
  let sum = 0;
  values.forEach((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window]!;
    out.push(Math.round((sum / Math.min(i + 1, window)) * 100) / 100);
  });
  return out;
}
