// One agent: how it is learning (reward trend, skills, goals, reflections), what it did
// (git timeline), what it last saw (the prompt, section by section), and a form to give
// it work. Reloads whenever the agent's overview row changes.
import { useState } from "preact/hooks";
import { agentPath, api, ApiError, type AgentDetail, type History, type Learning, type PromptAnswer, type Overview, type TaskStatus } from "./api.js";
import { RewardChart } from "./chart.js";
import { ErrorNote, href, RewardValue, Section, StateBadge, Time, useLoad } from "./ui.js";

export function AgentPage({ name, overview }: { name: string; overview: Overview | undefined }) {
  const row = overview?.agents.find((a) => a.name === name);
  const version = JSON.stringify(row ?? null);
  const detail = useLoad(() => api<AgentDetail>(agentPath(name)), [name, version]);
  const learning = useLoad(() => api<Learning>(`${agentPath(name)}/learning`), [name, version]);
  const history = useLoad(() => api<History>(`${agentPath(name)}/history?limit=30`), [name, version]);
  const prompt = useLoad(() => api<PromptAnswer>(`${agentPath(name)}/prompt`), [name, row?.done, row?.last_reward?.task]);

  if (overview && !row) return <ErrorNote error={new Error(`No agent '${name}' in agents.yaml.`)} />;
  return (
    <>
      <p class="crumbs">
        <a href={href.overview()}>Agents</a> / {name}
      </p>
      <h1>
        {name} {row && <StateBadge state={row.state} />}
      </h1>
      {row?.paused && <p class="why">Paused since {row.paused.since}: {row.paused.reason}</p>}
      {row && (
        <p class="facts">
          <span>queue {row.queue_depth}</span>
          <span>in flight {row.in_flight}</span>
          <span>done {row.done}</span>
          <span>
            dead letters <a href={href.deadLetters({ agent: name })}>{row.dead_letters}</a>
          </span>
          {detail.data && (
            <span>
              rewards +1 ×{detail.data.totals.plus}, 0 ×{detail.data.totals.zero}, −1 ×{detail.data.totals.minus}
            </span>
          )}
          {detail.data?.throughput_class && (
            <span>
              {detail.data.throughput_class} (max queue {detail.data.max_queue_depth})
            </span>
          )}
        </p>
      )}
      <div class="grid">
        <EnqueueForm agent={name} version={version} />
        <Section title="Reward trend" id="rewards">
          <ErrorNote error={history.error} />
          {history.data && <RewardChart rewards={history.data.rewards} />}
        </Section>
        <Skills learning={learning.data} error={learning.error} />
        <Goals learning={learning.data} />
        <Section title="Reflections" id="reflections">
          {learning.data && !learning.data.reflections.length && <p class="muted">None yet.</p>}
          <ul class="plain">
            {learning.data?.reflections.map((r) => (
              <li key={`${r.at}${r.task}`}>
                <a href={href.task(name, r.task)}>{r.task}</a>{" "}
                <span class="muted">
                  <Time at={r.at} />
                </span>
                <div>{r.text}</div>
              </li>
            ))}
          </ul>
        </Section>
        <Timeline agent={name} history={history.data} />
        <PromptView agent={name} answer={prompt.data} error={prompt.error} />
      </div>
    </>
  );
}

function EnqueueForm({ agent, version }: { agent: string; version: string }) {
  const [text, setText] = useState("");
  const [priority, setPriority] = useState("normal");
  const [id, setId] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [sent, setSent] = useState<string[]>([]);
  return (
    <Section title="Give it a task" id="enqueue">
      <form
        class="enqueue"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            const res = await api<{ id: string }>(`${agentPath(agent)}/tasks`, { method: "POST", body: { task: text, priority, ...(id.trim() ? { id: id.trim() } : {}) } });
            setSent((s) => [res.id, ...s].slice(0, 10));
            setText("");
            setId("");
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="task-text">Task</label>
        <textarea id="task-text" rows={4} required value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <div class="row">
          <label>
            Priority{" "}
            <select value={priority} onChange={(e) => setPriority(e.currentTarget.value)}>
              <option value="high">high</option>
              <option value="normal">normal</option>
              <option value="low">low</option>
            </select>
          </label>
          <label>
            Id (optional) <input value={id} onInput={(e) => setId(e.currentTarget.value)} pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,127}" size={16} />
          </label>
          <button type="submit" disabled={busy}>
            Enqueue
          </button>
        </div>
      </form>
      <ErrorNote error={error} />
      {sent.length > 0 && (
        <ul class="plain sent" aria-label="Tasks sent from this page">
          {sent.map((t) => (
            <SentTask key={t} agent={agent} id={t} version={version} />
          ))}
        </ul>
      )}
    </Section>
  );
}

/** A task sent from this page, followed until it is done or dead (each overview change). */
function SentTask({ agent, id, version }: { agent: string; id: string; version: string }) {
  const [final, setFinal] = useState<TaskStatus>();
  const status = useLoad(async () => {
    if (final) return final;
    const s = await api<TaskStatus>(`${agentPath(agent)}/tasks/${encodeURIComponent(id)}`);
    if (s.status === "done" || s.status === "dead") setFinal(s);
    return s;
  }, [version]);
  const s = final ?? status.data;
  return (
    <li data-task={id}>
      <a href={href.task(agent, id)}>{id}</a>: <span class={`status status-${s?.status ?? "queued"}`}>{s ? s.status : "queued"}</span>
      {s?.status === "done" && (
        <>
          {" "}
          reward <RewardValue value={s.reward} />
        </>
      )}
      {s?.status === "dead" && s.dead_letter && <span class="muted"> ({s.dead_letter.reason})</span>}
      {status.error instanceof ApiError && status.error.status !== 404 && <span class="error"> {status.error.message}</span>}
    </li>
  );
}

function Skills({ learning, error }: { learning?: Learning; error?: Error }) {
  return (
    <Section title="Skills" id="skills">
      <ErrorNote error={error} />
      {learning && !learning.skills.length && <p class="muted">No skills yet: a skill is earned on a +1 outcome.</p>}
      {learning && learning.skills.length > 0 && (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Skill</th>
                <th scope="col">Evidence</th>
                <th scope="col" title={`evidence × 0.5^(days since last success / ${learning.decay_halflife_days})`}>
                  Decayed
                </th>
                <th scope="col">Last success</th>
              </tr>
            </thead>
            <tbody>
              {learning.skills.map((s) => (
                <tr key={s.slug}>
                  <th scope="row">
                    {s.slug}
                    <div class="muted small">{s.summary}</div>
                  </th>
                  <td>{s.evidence}</td>
                  <td>{s.effective_evidence.toFixed(2)}</td>
                  <td>
                    <Time at={s.last_success} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {learning && learning.archived_skills.length > 0 && (
        <details>
          <summary>Archived skills ({learning.archived_skills.length})</summary>
          <ul class="plain">
            {learning.archived_skills.map((a) => (
              <li key={a.file}>
                <strong>{a.slug}</strong> <span class="muted">{a.archived ?? ""}</span>
                {a.reason && <div class="small">{a.reason}</div>}
              </li>
            ))}
          </ul>
        </details>
      )}
    </Section>
  );
}

function Goals({ learning }: { learning?: Learning }) {
  const g = learning?.goals;
  const list = (title: string, goals: { text: string; date: string }[]) => (
    <>
      <h3>
        {title} ({goals.length})
      </h3>
      {goals.length ? (
        <ul class="plain">
          {goals.map((x) => (
            <li key={x.text + x.date}>
              {x.text} <span class="muted small">{x.date}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">none</p>
      )}
    </>
  );
  return <Section title="Goals" id="goals">{g && [list("Active", g.active), list("Completed", g.completed), list("Displaced", g.displaced)]}</Section>;
}

function Timeline({ agent, history }: { agent: string; history?: History }) {
  return (
    <Section title="Git timeline" id="timeline">
      {history && !history.commits.length && <p class="muted">No commits yet.</p>}
      <ol class="timeline">
        {history?.commits.map((c) => (
          <li key={c.oid}>
            <code title={c.oid}>{c.oid.slice(0, 7)}</code> <Time at={c.at} />{" "}
            {c.trailers["Task-Id"] ? <a href={href.task(agent, c.trailers["Task-Id"])}>{c.subject}</a> : <span>{c.subject}</span>}
            {Object.keys(c.trailers).length > 0 && (
              <div class="trailers">
                {Object.entries(c.trailers).map(([k, v]) => (
                  <span class="trailer" key={k}>
                    {k}: {v}
                  </span>
                ))}
              </div>
            )}
          </li>
        ))}
      </ol>
    </Section>
  );
}

function PromptView({ agent, answer, error }: { agent: string; answer?: PromptAnswer; error?: Error }) {
  const prompt = answer?.prompt;
  return (
    <Section title="What the agent sees" id="prompt">
      <ErrorNote error={error} />
      {answer && !prompt && <p class="muted">{answer.why}.</p>}
      {prompt && (
        <>
          <p>
            The prompt for task <a href={href.task(agent, prompt.task)}>{prompt.task}</a> (<Time at={prompt.at} />): about {prompt.tokens} of {prompt.max_tokens} tokens.
            {prompt.dropped.length > 0 && <> Left out to fit: {prompt.dropped.map((d) => `${d.count} ${d.part}`).join(", ")}.</>}
          </p>
          {prompt.sections.map((s, i) => (
            <details key={i}>
              <summary>
                {s.name} <span class="muted">{s.tokens} tokens</span>
              </summary>
              <pre>{s.text}</pre>
            </details>
          ))}
        </>
      )}
    </Section>
  );
}
