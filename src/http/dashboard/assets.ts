// The dashboard's files (built by dashboard/build.mjs into dist/dashboard/), served at `/`
// and `/dashboard/*` without a token — they hold code, never data: every piece of data
// comes from the token-checked API. Strict Content-Security-Policy: scripts, styles and
// requests from this origin only, no inline script or style, no frames.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Both src/http/dashboard/ and dist/http/dashboard/ are three folders below the package root. */
const ASSET_DIR = fileURLToPath(new URL("../../../dist/dashboard/", import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "app.js.LEGAL.txt": "text/plain; charset=utf-8",
};

/** The built files by URL path; empty when the dashboard was not built (`tsc` alone). */
export function loadAssets(dir = ASSET_DIR): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [name, type] of Object.entries(TYPES)) {
    let body: Buffer;
    try {
      body = readFileSync(dir + name);
    } catch {
      continue;
    }
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    out.set(name === "index.html" ? "/" : `/dashboard/${name}`, { body, type, etag });
  }
  return out;
}

/** Paths served without a token: the page and its code. */
export const isDashboardAsset = (path: string): boolean => path === "/" || path.startsWith("/dashboard/");
