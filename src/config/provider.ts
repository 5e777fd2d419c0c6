// Which provider an agent talks to and which key goes with it. The global LLM_API_KEY
// goes only to the global LLM_BASE_URL: a per-agent base_url gets the key its
// api_key_env names, the global one only with send_global_key, else none. Every key
// chosen is handed to the redactor. Pure apart from that: the environment is passed in.
import { addSecret } from "../redact.js";
import type { AgentConfig, Env } from "./schema.js";

export interface ProviderChoice {
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Where the key came from, for messages: `LLM_API_KEY`, the api_key_env name, or none. */
  keyFrom?: string;
  /** Things an operator should hear about at start-up and from `validate`. */
  warnings: string[];
}

const normalize = (url: string) => url.replace(/\/+$/, "");

/** The provider settings of `agent` under `env`; `vars` is where api_key_env is looked up. */
export function providerFor(agent: AgentConfig, env: Env, vars: NodeJS.ProcessEnv = process.env): ProviderChoice {
  const llm = agent.llm;
  const baseUrl = llm?.base_url ?? env.LLM_BASE_URL;
  const model = llm?.model ?? env.LLM_MODEL;
  const warnings: string[] = [];
  const own = llm?.base_url !== undefined && normalize(llm.base_url) !== normalize(env.LLM_BASE_URL);
  let apiKey: string | undefined;
  let keyFrom: string | undefined;
  if (llm?.api_key_env) {
    apiKey = vars[llm.api_key_env] || undefined;
    keyFrom = llm.api_key_env;
    if (!apiKey) warnings.push(`agent '${agent.name}': llm.api_key_env names ${llm.api_key_env}, which is not set; requests go without a key`);
  } else if (!own || llm?.send_global_key) {
    apiKey = env.LLM_API_KEY;
    keyFrom = apiKey ? "LLM_API_KEY" : undefined;
  } else if (env.LLM_API_KEY) {
    warnings.push(
      `agent '${agent.name}': its own llm.base_url ${origin(baseUrl)} gets no key (LLM_API_KEY goes only to LLM_BASE_URL); set llm.api_key_env, or llm.send_global_key: true to send LLM_API_KEY there`,
    );
  }
  if (apiKey && isPlainHttpOffLoopback(baseUrl)) {
    warnings.push(`agent '${agent.name}': ${keyFrom} is sent over plain http to ${origin(baseUrl)}, readable by anyone on the way; use https`);
  }
  addSecret(apiKey);
  return { baseUrl, model, apiKey, keyFrom, warnings };
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** http:// to a host that is not this machine. */
export function isPlainHttpOffLoopback(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== "http:") return false;
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return !(host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\./.test(host));
}
