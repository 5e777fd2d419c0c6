// Dead letters: filter by agent and reason, read each letter, put it back (Requeue) or
// delete it (Purge, after a confirmation). Both go through the API's dead-letter routes.
import { useRef, useState } from "preact/hooks";
import { api, DEAD_LETTER_REASONS, letterName, type DeadLetter, type Overview } from "./api.js";
import { ErrorNote, href, Time, useLoad } from "./ui.js";

export function DeadLettersPage({ overview, agent, reason }: { overview: Overview | undefined; agent: string; reason: string }) {
  const total = overview?.agents.reduce((n, a) => n + a.dead_letters, 0);
  const q = new URLSearchParams(Object.entries({ agent, reason }).filter(([, v]) => v)).toString();
  const list = useLoad(() => api<{ dead_letters: DeadLetter[] }>(`/v1/dead-letters${q ? `?${q}` : ""}`), [q, total]);
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [purging, setPurging] = useState<DeadLetter>();
  const dialog = useRef<HTMLDialogElement>(null);
  const letters = list.data?.dead_letters.slice().reverse(); // newest first

  const act = async (what: () => Promise<string>) => {
    setError(undefined);
    setMessage(undefined);
    try {
      setMessage(await what());
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const requeue = (d: DeadLetter) =>
    act(async () => {
      const r = await api<{ id: string; agent: string }>(`/v1/dead-letters/${encodeURIComponent(letterName(d))}/requeue`, { method: "POST", body: {} });
      return `Requeued ${r.id} to ${r.agent}.`;
    });
  const purge = (d: DeadLetter) =>
    act(async () => {
      await api(`/v1/dead-letters/${encodeURIComponent(letterName(d))}`, { method: "DELETE" });
      return `Purged ${letterName(d)}.`;
    });

  return (
    <>
      <h1>Dead letters</h1>
      <form class="filters" role="search" aria-label="Filter dead letters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Agent{" "}
          <select value={agent} onChange={(e) => (location.hash = href.deadLetters({ agent: e.currentTarget.value, reason }))}>
            <option value="">all</option>
            {overview?.agents.map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Reason{" "}
          <select value={reason} onChange={(e) => (location.hash = href.deadLetters({ agent, reason: e.currentTarget.value }))}>
            <option value="">all</option>
            {DEAD_LETTER_REASONS.map((r) => (
              <option key={r} value={r}>
                {r.replace("_", " ")}
              </option>
            ))}
          </select>
        </label>
      </form>
      <div role="status" aria-live="polite" class="notice">
        {message}
      </div>
      <ErrorNote error={error ?? list.error} />
      {letters && !letters.length && <p>No dead letters{agent || reason ? " match the filter" : ""}.</p>}
      <ul class="plain letters">
        {letters?.map((d) => (
          <li key={d.file}>
            <article class="card letter" aria-label={`Dead letter ${d.task_id ?? letterName(d)}`}>
              <h2>
                {d.task_id ? <a href={href.task(d.agent, d.task_id)}>{d.task_id}</a> : <span>(no id)</span>} <span class="badge badge-reason">{d.reason.replace("_", " ")}</span>
                {d.requeued?.length ? <span class="badge badge-requeued">requeued</span> : null}
              </h2>
              <dl class="facts-list">
                <dt>Agent</dt>
                <dd>
                  <a href={href.agent(d.agent)}>{d.agent}</a>
                </dd>
                <dt>When</dt>
                <dd>
                  <Time at={d.at} /> (first seen <Time at={d.first_seen} />)
                </dd>
                <dt>Attempts</dt>
                <dd>{d.attempts}</dd>
                <dt>From</dt>
                <dd>
                  <code>{d.source}</code>
                </dd>
                {d.last_error && (
                  <>
                    <dt>Last error</dt>
                    <dd>{d.last_error}</dd>
                  </>
                )}
                {d.requeued?.length ? (
                  <>
                    <dt>Requeued</dt>
                    <dd>
                      {d.requeued.map((r) => (
                        <div key={r} class="small">
                          {r}
                        </div>
                      ))}
                    </dd>
                  </>
                ) : null}
              </dl>
              <details>
                <summary>The letter ({letterName(d)})</summary>
                <pre>{d.original}</pre>
              </details>
              {d.last_reply && (
                <details>
                  <summary>The model's last reply</summary>
                  <pre class="wrap">{d.last_reply}</pre>
                </details>
              )}
              <div class="actions">
                <button type="button" onClick={() => requeue(d)} aria-describedby={undefined}>
                  Requeue
                </button>
                <button
                  type="button"
                  class="danger"
                  onClick={() => {
                    setPurging(d);
                    dialog.current?.showModal();
                  }}
                >
                  Purge
                </button>
              </div>
            </article>
          </li>
        ))}
      </ul>
      <dialog ref={dialog} aria-labelledby="purge-title" onClose={() => setPurging(undefined)}>
        <form method="dialog">
          <h2 id="purge-title">Purge this dead letter?</h2>
          <p>
            {purging ? letterName(purging) : ""} is deleted for good (its task is not run). Requeue it instead to run it again.
          </p>
          <div class="actions">
            <button value="cancel" formNoValidate>
              Cancel
            </button>
            <button
              class="danger"
              value="purge"
              onClick={(e) => {
                e.preventDefault();
                const d = purging;
                dialog.current?.close();
                if (d) void purge(d);
              }}
            >
              Purge for good
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
