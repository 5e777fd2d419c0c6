// Names that come from files people edit never reach the filesystem unchecked.
import { describe, expect, it } from "vitest";
import { parseSkills } from "../src/store/skills.js";
import { isInsideRepo } from "../src/commit/intent.js";

describe("paths from edited files", () => {
  it("treats a skills.md header that is not a plain name as unreadable (it would become a file name)", () => {
    const text = "# Skills\n\n### ../../../../tmp/pwned\n- reward_evidence: 1\n- last_success: 2026-04-29T10:00:00Z\n\n### good-one\n- reward_evidence: 2\n- last_success: 2026-04-29T10:00:00Z\n";
    const file = parseSkills(text);
    expect(file.entries.map((e) => e.kind)).toEqual(["unreadable", "skill"]);
    expect(file.entries[0]!.kind === "unreadable" && file.entries[0]!.message).toMatch(/expected a skill name of letters, digits/);
  });

  it("only writes paths inside the agent's repository", () => {
    for (const ok of ["skills.md", "results/t-1.md", "skills/archive/x.md"]) expect(isInsideRepo(ok), ok).toBe(true);
    for (const bad of ["../x.md", "skills/../../x.md", "/etc/passwd", ".git/config", "a//b"]) expect(isInsideRepo(bad), bad).toBe(false);
  });
});
