// Where the REST API listens, and whether it may: parses `host:port` (HTTP_ADDR, --http)
// and refuses a non-loopback address without AGENTOS_API_TOKEN. Never opens a socket.
import { isIP } from "node:net";
import { UserError } from "../ops/errors.js";
import { checkTokenStrength } from "./boundary.js";

export interface ListenAddress {
  host: string;
  port: number;
  loopback: boolean;
}

/** `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`, `:8080` (every interface), `8080` (loopback). */
export function parseListenAddress(addr: string, token: string | undefined): ListenAddress {
  const text = addr.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*))?:(\d{1,5})$/.exec(text) ?? (/^\d{1,5}$/.test(text) ? [text, undefined, "127.0.0.1", text] : null);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new UserError(`--http / HTTP_ADDR: expected host:port such as 127.0.0.1:8080, [::1]:8080 or 0.0.0.0:8080, got '${addr}'`, "AGENTOS_INVALID_ARGUMENT");
  }
  const host = m[1] ?? (m[2] || "0.0.0.0");
  if (m[1] && isIP(m[1]) !== 6) throw new UserError(`--http / HTTP_ADDR: '${m[1]}' is not an IPv6 address (in '${addr}')`, "AGENTOS_INVALID_ARGUMENT");
  const loopback = host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback && !token) {
    throw new UserError(
      `refusing to serve the REST API on ${host}:${port} without a token: set AGENTOS_API_TOKEN (clients send 'Authorization: Bearer <token>'), or listen on 127.0.0.1`,
      "AGENTOS_INVALID_ARGUMENT",
    );
  }
  checkTokenStrength(loopback, token);
  return { host, port, loopback };
}
