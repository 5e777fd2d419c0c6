// The window of newest results (apply/results-window.ts): pure, so checked directly.
import { describe, expect, it } from "vitest";
import { ResultsWindow } from "../src/apply/results-window.js";

describe("ResultsWindow", () => {
  it("lets the oldest results go once more than keep are written, oldest first, one for one", () => {
    const w = new ResultsWindow(["results/a.md", "results/b.md"], 3);
    expect(w.add("results/1/c.md")).toEqual([]);
    expect(w.add("results/1/d.md")).toEqual(["results/a.md"]);
    expect(w.add("results/1/e.md")).toEqual(["results/b.md"]);
    expect(w.size).toBe(3);
  });

  it("trims a bigger tree to keep at the first write, and a result written again becomes the newest", () => {
    const w = new ResultsWindow(["r/1", "r/2", "r/3", "r/4", "r/5"], 2);
    expect(w.add("r/2")).toEqual(["r/1", "r/3", "r/4"]); // r/2 moved to the end: r/5 and r/2 stay
    expect(w.add("r/6")).toEqual(["r/5"]);
    expect(w.add("r/2")).toEqual([]);
    expect(w.add("r/7")).toEqual(["r/6"]);
    expect(w.size).toBe(2);
  });

  it("keeps every result with keep 0, and stays correct past its own compaction of the list", () => {
    const all = new ResultsWindow([], 0);
    for (let i = 0; i < 50; i++) expect(all.add(`r/${i}`)).toEqual([]);
    expect(all.size).toBe(50);
    const w = new ResultsWindow([], 10);
    const gone: string[] = [];
    for (let i = 0; i < 20_000; i++) gone.push(...w.add(`r/${i}`));
    expect(gone).toEqual(Array.from({ length: 19_990 }, (_, i) => `r/${i}`));
    expect(w.size).toBe(10);
  });
});
