// The reward trend of one agent (uPlot on a canvas): each task's own reward, the rolling
// mean over the last ROLLING tasks, and the audit's score where it disagreed.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { History } from "./api.js";
import { rollingMean } from "./series.js";

export const ROLLING = 10;

export function RewardChart({ rewards }: { rewards: History["rewards"] }) {
  const box = useRef<HTMLDivElement>(null);
  const divergent = rewards.filter((r) => r.audit !== undefined && r.audit !== r.reward).length;
  const mean = rollingMean(rewards.map((r) => r.reward), ROLLING);
  const label = rewards.length
    ? `Reward trend chart: rewards of the last ${rewards.length} task${rewards.length > 1 ? "s" : ""}, rolling mean now ${mean.at(-1)}, ${divergent} audit divergence${divergent === 1 ? "" : "s"} marked`
    : "Reward trend chart: no rewards yet";

  useEffect(() => {
    const el = box.current;
    if (!el || !rewards.length) return;
    const xs = rewards.map((_, i) => i + 1);
    const data: uPlot.AlignedData = [
      xs,
      mean,
      rewards.map((r) => r.reward),
      rewards.map((r) => (r.audit !== undefined && r.audit !== r.reward ? r.audit : null)),
    ];
    const dots = (stroke: string, fill: string, size: number): uPlot.Series => ({ stroke, fill, width: 0, paths: () => null, points: { show: true, size, stroke, fill, width: 2 } });
    const opts: uPlot.Options = {
      width: Math.max(260, el.clientWidth),
      height: 220,
      scales: { x: { time: false }, y: { range: [-1.25, 1.25] } },
      axes: [
        { label: "task", stroke: "#8a94a6", grid: { stroke: "#e6e9ef" }, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")) },
        { stroke: "#8a94a6", grid: { stroke: "#e6e9ef" }, splits: () => [-1, 0, 1], values: (_u, ticks) => ticks.map((t) => (t > 0 ? "+1" : t < 0 ? "−1" : "0")) },
      ],
      series: [
        { label: "task", value: (_u, v) => (v == null ? "" : (rewards[v - 1]?.task ?? "")) },
        // The mean first, so the dots are drawn over it.
        { label: `rolling mean (${ROLLING})`, stroke: "#16a34a", width: 2, points: { show: false } },
        { label: "reward", ...dots("#2563eb", "#2563eb", 7) },
        { label: "audit disagreed", ...dots("#dc2626", "#ffffff", 10) },
      ],
      legend: { show: true },
      cursor: { points: { show: false } },
    };
    const plot = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(260, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [JSON.stringify(rewards)]);

  return (
    <div class="chart" role="img" aria-label={label}>
      {!rewards.length && <p class="muted">No rewards yet: the chart fills in as tasks finish.</p>}
      <div ref={box} />
    </div>
  );
}
