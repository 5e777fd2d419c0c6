// Small pieces every page uses: links, rewards, times, states, errors, data loading.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api.js";

export const href = {
  overview: () => "#/",
  agent: (name: string) => `#/agents/${encodeURIComponent(name)}`,
  task: (agent: string, id: string) => `#/agents/${encodeURIComponent(agent)}/tasks/${encodeURIComponent(id)}`,
  deadLetters: (filter: { agent?: string; reason?: string } = {}) => {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v) as [string, string][]).toString();
    return `#/dead-letters${q ? `?${q}` : ""}`;
  },
};

export function RewardValue({ value }: { value: number | undefined }) {
  if (value === undefined) return <span class="muted">—</span>;
  const text = value > 0 ? "+1" : value < 0 ? "−1" : "0";
  return <span class={`reward reward-${value > 0 ? "plus" : value < 0 ? "minus" : "zero"}`}>{text}</span>;
}

export function Time({ at }: { at: string | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return <span>{at}</span>;
  return (
    <time dateTime={at} title={d.toISOString()}>
      {ago(d)}
    </time>
  );
}

export function ago(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return d.toISOString().slice(0, 10);
}

export function StateBadge({ state, title }: { state: string; title?: string }) {
  return (
    <span class={`badge badge-${state}`} title={title}>
      {state}
    </span>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={id ? `${id}-title` : undefined}>
      <h2 id={id ? `${id}-title` : undefined}>{title}</h2>
      {children}
    </section>
  );
}

export const tokens = (n: number | undefined) => (n === undefined ? "—" : n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n));

/** Loads `load()` again whenever one of `deps` changes; keeps the last good value while reloading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data?: T; error?: ApiError | Error; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: ApiError | Error }>({});
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data }),
      (error: Error) => live && setState((s) => ({ data: s.data, error })),
    );
    return () => void (live = false);
  }, [...deps, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}
