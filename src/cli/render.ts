// How the CLI shows reports in a terminal (the REST API sends the same reports as JSON).
import type { AgentReport } from "../ops/status.js";

export function renderReports(reports: AgentReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    const last = r.last_reward ? `${r.last_reward.reward > 0 ? "+" : ""}${r.last_reward.reward} on ${r.last_reward.task}` : "none yet";
    out.push(
      `${r.name}  ${r.running ? (r.paused ? "PAUSED" : "running") : r.unknown ? "unknown" : "stopped"}  pending ${r.pending}${r.running ? ` (waiting ${r.waiting})` : ""}  in flight ${r.in_flight}  done ${r.done}  last reward ${last}`,
    );
    if (r.unknown) out.push(`  unknown: ${r.unknown}`);
    if (r.paused) out.push(`  paused since ${r.paused.since}: ${r.paused.reason}`);
    if (r.tokens) out.push(`  tokens: ${r.tokens.today} today${r.tokens.perDay ? ` of ${r.tokens.perDay}` : ""}; since start ${r.tokens.prompt} in, ${r.tokens.completion} out`);
    out.push(`  rewards: +1 x${r.totals.plus}, 0 x${r.totals.zero}, -1 x${r.totals.minus}`);
    out.push(`  skills (${r.skills.length}): ${r.skills.map((s) => `${s.slug} (${s.evidence})`).join(", ") || "none"}`);
    out.push(`  goals (${r.goals.length}): ${r.goals.join("; ") || "none"}`);
    for (const p of r.problems) out.push(`  problem: ${p}`);
  }
  return out.join("\n");
}
