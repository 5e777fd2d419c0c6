// Reads GET /v1/events (server-sent events) with fetch rather than EventSource, which
// cannot send an Authorization header: the token would have to go into the URL.
// Reconnects after a dropped stream, waiting a little longer each time (at most 10 s).
import { ApiError, authHeaders, type Overview } from "./api.js";

export type StreamState = "connecting" | "live" | "retrying";

export function watchOverview(onOverview: (o: Overview) => void, onState: (s: StreamState, error?: ApiError) => void): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  let delay = 500;

  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      onState("connecting");
      try {
        const res = await fetch("/v1/events", { headers: { accept: "text/event-stream", ...authHeaders() }, signal: controller.signal, cache: "no-store" });
        if (!res.ok || !res.body) {
          const err = new ApiError(res.status, `the event stream answered HTTP ${res.status}`);
          onState("retrying", err);
          if (res.status === 401) return; // the page asks for a token, then starts a new stream
        } else {
          onState("live");
          delay = 500;
          await readEvents(res.body, (event, data) => {
            if (event === "overview") onOverview(JSON.parse(data) as Overview);
          });
          if (!stopped) onState("retrying");
        }
      } catch {
        if (stopped) return;
        onState("retrying");
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(10_000, delay * 2);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** The text/event-stream format: `event:` and `data:` lines, an empty line ends an event. */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (data.length) onEvent(event, data.join("\n"));
        event = "message";
        data = [];
      } else if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
  }
}
