// The AgentOS dashboard: sign-in when the API wants a token, the live overview stream,
// and hash routes (#/, #/agents/NAME, #/agents/NAME/tasks/ID, #/dead-letters) so the page
// never reloads and nothing secret goes into a URL.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, forgetToken, storedToken, storeToken, whenUnauthorized, type Overview } from "./api.js";
import { AgentPage } from "./agent.js";
import { DeadLettersPage } from "./dead-letters.js";
import { OverviewPage } from "./overview.js";
import { watchOverview, type StreamState } from "./stream.js";
import { TaskPage } from "./task.js";
import { href } from "./ui.js";

interface Route {
  page: "overview" | "agent" | "task" | "dead-letters" | "missing";
  agent?: string;
  task?: string;
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path = "", q = ""] = hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(q);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (!parts.length) return { page: "overview", query };
  if (parts[0] === "dead-letters" && parts.length === 1) return { page: "dead-letters", query };
  if (parts[0] === "agents" && parts.length === 2) return { page: "agent", agent: parts[1], query };
  if (parts[0] === "agents" && parts[2] === "tasks" && parts.length === 4) return { page: "task", agent: parts[1], task: parts[3], query };
  return { page: "missing", query };
}

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return parseRoute(hash);
}

type Access = "checking" | "signed-in" | "needs-token";

function App() {
  const route = useRoute();
  const [access, setAccess] = useState<Access>("checking");
  const [overview, setOverview] = useState<Overview>();
  const [stream, setStream] = useState<StreamState>("connecting");
  const [signInError, setSignInError] = useState<string>();

  useEffect(() => whenUnauthorized(() => setAccess("needs-token")), []);

  // Ask first whether the API wants a token (a public answer), so a first visit shows the
  // sign-in form without provoking a 401; then check the stored token, if any.
  useEffect(() => {
    if (access !== "checking") return;
    void (async () => {
      // Asked without the token (the answer says whether a request without one is let in).
      const needs = await fetch("/dashboard/access.json", { cache: "no-store" })
        .then((r) => r.json() as Promise<{ token_required: boolean }>)
        .then((a) => a.token_required, () => false);
      if (needs && !storedToken()) return setAccess("needs-token");
      try {
        setOverview(await api<Overview>("/v1/overview"));
        setAccess("signed-in");
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          setSignInError("The token was not accepted; check it and sign in again.");
          forgetToken();
          setAccess("needs-token");
        } else setAccess("signed-in"); // a server error shows on the page, not as a sign-in prompt
      }
    })();
  }, [access]);

  useEffect(() => {
    if (access !== "signed-in") return;
    return watchOverview(setOverview, (s, err) => {
      setStream(s);
      if (err?.status === 401) setAccess("needs-token");
    });
  }, [access]);

  useEffect(() => {
    document.title = titleOf(route);
  }, [route.page, route.agent, route.task]);

  if (access === "checking") return <p class="loading">Loading…</p>;
  if (access === "needs-token")
    return (
      <SignIn
        error={signInError}
        onToken={(t) => {
          storeToken(t);
          setSignInError(undefined);
          setAccess("checking");
        }}
      />
    );

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href.overview()}>
          AgentOS
        </a>
        <nav aria-label="Main">
          <a href={href.overview()} aria-current={route.page === "overview" ? "page" : undefined}>
            Agents
          </a>
          <a href={href.deadLetters()} aria-current={route.page === "dead-letters" ? "page" : undefined}>
            Dead letters
          </a>
        </nav>
        <span class={`live live-${stream}`} role="status" aria-live="polite">
          {stream === "live" ? "Live" : stream === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        {storedToken() && (
          <button
            type="button"
            class="quiet"
            onClick={() => {
              forgetToken();
              setOverview(undefined);
              setAccess("checking");
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === "overview" && <OverviewPage overview={overview} />}
        {route.page === "agent" && <AgentPage name={route.agent!} overview={overview} />}
        {route.page === "task" && <TaskPage agent={route.agent!} id={route.task!} overview={overview} />}
        {route.page === "dead-letters" && <DeadLettersPage overview={overview} agent={route.query.get("agent") ?? ""} reason={route.query.get("reason") ?? ""} />}
        {route.page === "missing" && (
          <p>
            No such page. <a href={href.overview()}>Back to the agents</a>
          </p>
        )}
      </main>
    </>
  );
}

function titleOf(r: Route): string {
  const page = r.page === "agent" ? r.agent : r.page === "task" ? `${r.task} · ${r.agent}` : r.page === "dead-letters" ? "Dead letters" : "Agents";
  return `${page} · AgentOS`;
}

function SignIn({ onToken, error }: { onToken: (t: string) => void; error?: string }) {
  const [value, setValue] = useState("");
  return (
    <main id="main" class="signin">
      <h1>AgentOS</h1>
      <p>This API needs its token (AGENTOS_API_TOKEN). It is kept in this tab only (sessionStorage) and sent as a bearer header.</p>
      <form
        method="post"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onToken(value.trim());
        }}
      >
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        <button type="submit">Sign in</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}

render(<App />, document.getElementById("app")!);
