// One task: where it is, what it asked, what the agent answered, how it was scored and
// audited, the commit that recorded it and the tokens it cost (when the provider said).
import { agentPath, api, ApiError, type History, type Overview, type TaskStatus } from "./api.js";
import { ErrorNote, href, RewardValue, Section, Time, useLoad } from "./ui.js";

/** results/<id>.md: `- key: value` lines, then `## Task` and `## Answer`. */
export function parseResult(text: string): { fields: Record<string, string>; task?: string; answer?: string } {
  const fields: Record<string, string> = {};
  const head = text.split(/^## /m)[0] ?? "";
  for (const m of head.matchAll(/^- ([a-z_]+): (.*)$/gm)) fields[m[1]!] = m[2]!;
  const section = (name: string) => new RegExp(`^## ${name}\\n\\n([\\s\\S]*?)(?=^## (?:Task|Answer)\\n|$(?![\\s\\S]))`, "m").exec(text)?.[1]?.trim();
  return { fields, task: section("Task"), answer: section("Answer") };
}

export function TaskPage({ agent, id, overview }: { agent: string; id: string; overview: Overview | undefined }) {
  const row = overview?.agents.find((a) => a.name === agent);
  const version = JSON.stringify(row ?? null);
  const status = useLoad(() => api<TaskStatus>(`${agentPath(agent)}/tasks/${encodeURIComponent(id)}`), [agent, id, version]);
  const history = useLoad(() => api<History>(`${agentPath(agent)}/history?task=${encodeURIComponent(id)}&limit=10`), [agent, id, status.data?.status]);
  const s = status.data;
  const result = s?.result ? parseResult(s.result) : undefined;
  const commit = history.data?.commits.find((c) => c.subject.includes("(task):")) ?? history.data?.commits[0];
  const tin = commit?.trailers["Tokens-In"];
  const tout = commit?.trailers["Tokens-Out"];
  const audit = result?.fields.audit ?? commit?.trailers.Audit;
  const text = result?.task ?? commit?.body;

  return (
    <>
      <p class="crumbs">
        <a href={href.overview()}>Agents</a> / <a href={href.agent(agent)}>{agent}</a> / {id}
      </p>
      <h1>Task {id}</h1>
      {status.error instanceof ApiError && status.error.status === 404 ? <p>{status.error.message}</p> : <ErrorNote error={status.error} />}
      {s && (
        <dl class="facts-list">
          <dt>Status</dt>
          <dd>
            <span class={`status status-${s.status}`}>{s.status}</span>
            {s.state && <span class="muted"> ({s.state.replace("_", " ")})</span>}
          </dd>
          <dt>Attempts</dt>
          <dd>{s.attempts ?? result?.fields.attempt ?? commit?.trailers.Attempt ?? "—"}</dd>
          {s.last_error && (
            <>
              <dt>Last error</dt>
              <dd>{s.last_error}</dd>
            </>
          )}
          {s.source && (
            <>
              <dt>Waiting in</dt>
              <dd>
                <code>{s.source}</code>
              </dd>
            </>
          )}
          <dt>Reward</dt>
          <dd>
            <RewardValue value={s.reward ?? (result?.fields.reward !== undefined ? Number(result.fields.reward) : undefined)} />
            {result?.fields.reason && <span> — {result.fields.reason}</span>}
          </dd>
          <dt>Audit</dt>
          <dd>{audit ?? <span class="muted">—</span>}</dd>
          <dt>Model</dt>
          <dd>{result?.fields.model ?? commit?.trailers.Model ?? "—"}</dd>
          <dt>Tokens</dt>
          <dd>{tin || tout ? `${tin ?? "?"} in, ${tout ?? "?"} out` : (result?.fields.tokens ?? <span class="muted">not reported by the provider</span>)}</dd>
          <dt>Commit</dt>
          <dd>
            {commit ? (
              <>
                <code title={commit.oid}>{commit.oid.slice(0, 10)}</code> {commit.subject} <Time at={commit.at} />
              </>
            ) : (
              <span class="muted">none yet</span>
            )}
          </dd>
          {s.dead_letter && (
            <>
              <dt>Dead letter</dt>
              <dd>
                <a href={href.deadLetters({ agent })}>{s.dead_letter.reason}</a> <Time at={s.dead_letter.at} />
                {s.dead_letter.last_error && <div class="small">{s.dead_letter.last_error}</div>}
              </dd>
            </>
          )}
        </dl>
      )}
      {commit && Object.keys(commit.trailers).length > 0 && (
        <div class="trailers">
          {Object.entries(commit.trailers).map(([k, v]) => (
            <span class="trailer" key={k}>
              {k}: {v}
            </span>
          ))}
        </div>
      )}
      {text && (
        <Section title="Task" id="task-text">
          <pre class="wrap">{text}</pre>
        </Section>
      )}
      {result?.answer && (
        <Section title="Answer" id="answer">
          <pre class="wrap">{result.answer}</pre>
        </Section>
      )}
    </>
  );
}
