// Every agent at a glance, kept current by the event stream.
import type { Overview, OverviewAgent } from "./api.js";
import { href, RewardValue, StateBadge, Time, tokens } from "./ui.js";

function Trend({ value }: { value: number | undefined }) {
  if (value === undefined) return <span class="muted">—</span>;
  const sign = value > 0 ? "+" : value < 0 ? "−" : "";
  return <span class={`reward reward-${value > 0.3 ? "plus" : value < -0.3 ? "minus" : "zero"}`}>{`${sign}${Math.abs(value).toFixed(2)}`}</span>;
}

export function OverviewPage({ overview }: { overview: Overview | undefined }) {
  if (!overview) return <p class="loading">Loading agents…</p>;
  const agents = overview.agents;
  return (
    <>
      <h1>Agents</h1>
      {!agents.length && <p>agents.yaml lists no agents.</p>}
      <table class="overview">
        <caption class="visually-hidden">Every agent: state, queue, in flight, retrying, dead letters, tasks done, last reward, reward trend and tokens today</caption>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">State</th>
            <th scope="col">Queue</th>
            <th scope="col">In flight</th>
            <th scope="col">Retrying</th>
            <th scope="col">Dead letters</th>
            <th scope="col">Done</th>
            <th scope="col">Last reward</th>
            <th scope="col" title="mean reward of the last 10 tasks">Trend</th>
            <th scope="col">Tokens today</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => (
            <AgentRow key={a.name} a={a} />
          ))}
        </tbody>
      </table>
    </>
  );
}

function AgentRow({ a }: { a: OverviewAgent }) {
  return (
    <tr data-agent={a.name}>
      <th scope="row">
        <a href={href.agent(a.name)}>{a.name}</a>
        {a.problems.length > 0 && (
          <span class="problem" title={a.problems.join("\n")}>
            {" "}
            ⚠ {a.problems.length} problem{a.problems.length > 1 ? "s" : ""}
          </span>
        )}
      </th>
      <td data-label="State">
        <StateBadge state={a.state} title={a.paused ? `paused since ${a.paused.since}: ${a.paused.reason}` : undefined} />
        {a.paused && <div class="why">{a.paused.reason}</div>}
      </td>
      <td data-label="Queue">{a.queue_depth}</td>
      <td data-label="In flight">{a.in_flight}</td>
      <td data-label="Retrying">{a.running_here ? a.retrying : <span class="muted" title="known only to the process that runs it">—</span>}</td>
      <td data-label="Dead letters">{a.dead_letters ? <a href={href.deadLetters({ agent: a.name })}>{a.dead_letters}</a> : 0}</td>
      <td data-label="Done">{a.done}</td>
      <td data-label="Last reward">
        {a.last_reward ? (
          <>
            <RewardValue value={a.last_reward.reward} /> <a href={href.task(a.name, a.last_reward.task)}>{a.last_reward.task}</a>{" "}
            <span class="muted">
              <Time at={a.last_reward.at} />
            </span>
          </>
        ) : (
          <span class="muted">none yet</span>
        )}
      </td>
      <td data-label="Trend (last 10)">
        <Trend value={a.reward_trend} />
      </td>
      <td data-label="Tokens today" title={a.tokens_today === undefined ? "no token counts reported by the provider today" : undefined}>
        {tokens(a.tokens_today)}
      </td>
    </tr>
  );
}
