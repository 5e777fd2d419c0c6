// Real providers' answers, as their documentation and their users' bug reports show
// them, for the scripted server (llm-server.ts `script`). Each shape names its public
// source. Only what a shape needs is emulated: its body, status and headers.
import { answerFor, type RecordedRequest, type Reply } from "./llm-server.js";

export interface Message {
  content?: unknown;
  reasoning_content?: string;
  reasoning?: string;
}

/** A chat.completion body: OpenAI's shape, which every provider here copies. */
export function completion(message: Message, opts: { finish?: string; usage?: Record<string, unknown>; model?: string; extra?: Record<string, unknown> } = {}): string {
  return JSON.stringify({
    id: "chatcmpl-shape",
    object: "chat.completion",
    created: 1_764_000_000,
    model: opts.model ?? "m",
    choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: opts.finish ?? "stop" }],
    ...(opts.usage ? { usage: opts.usage } : {}),
    ...opts.extra,
  });
}

/** The step a well-behaved model gives for this request's task (the server's directives apply). */
export const stepFor = (req: RecordedRequest): Record<string, unknown> => answerFor(req.taskId ?? "task", req.taskText ?? "");
export const stepJson = (req: RecordedRequest): string => JSON.stringify(stepFor(req));

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({ status, body: JSON.stringify(body), headers });
export const ok = (body: string): Reply => ({ status: 200, body });

export const SOURCES = {
  openaiMaxTokens: "https://github.com/griptape-ai/ComfyUI-Griptape/issues/312 (gpt-5: unsupported_parameter max_tokens)",
  openaiTemperature: "https://github.com/holoviz/lumen/pull/1087 (o-series: unsupported_value temperature 0.2)",
  azureV1: "https://learn.microsoft.com/azure/ai-services/openai/api-version-lifecycle (v1 API and deployment URLs with api-version)",
  azureContentFilter: "https://github.com/openai/openai-python/issues/331 (400 code content_filter)",
  anthropicCompat: "https://platform.claude.com/docs/en/api/openai-sdk (response_format: Ignored; temperature 0..1)",
  anthropicOverloaded: "https://github.com/apify/tester-mcp-client/issues/16 (529 overloaded_error)",
  ollamaNotFound: "https://github.com/netease-youdao/QAnything/issues/555 (404 model not found, try pulling it first)",
  ollamaCompat: "https://docs.ollama.com/api/openai-compatibility (response_format, usage)",
  vllmXgrammar: "https://github.com/vllm-project/vllm/issues/16880 (400: JSON schema features not supported by xgrammar)",
  vllmErrorShape: "https://github.com/QwenLM/Qwen3/issues/241 (vLLM's top-level {object: error, message, code})",
  vllmReasoning: "https://docs.vllm.ai/en/v0.8.3/features/reasoning_outputs.html (reasoning_content beside content)",
  llamacppLoading: "https://github.com/mostlygeek/llama-swap/issues/146 (503 Loading model, unavailable_error)",
  llamacppThink: "https://github.com/ggml-org/llama.cpp/issues/11988 (DeepSeek-R1 distill on llama-server: <think> in the content)",
  llamacppPython: "https://github.com/ggml-org/llama.cpp/issues/23463 and https://github.com/ggml-org/llama.cpp/issues/9522 (500: response_format type must be text or json_object)",
  litellm: "https://github.com/BerriAI/litellm/pull/33738 (litellm.UnsupportedParamsError: temperature)",
  groq: "https://github.com/build-with-groq/g1/pull/23 (400 json_validate_failed with failed_generation)",
  deepseekSchema: "https://github.com/BerriAI/litellm/issues/7580 (422 response_format.type json_schema is unavailable now)",
  deepseekBalance: "https://api-docs.deepseek.com/quick_start/error_codes (402 Insufficient Balance)",
  deepseekReasoner: "https://api-docs.deepseek.com/guides/reasoning_model (reasoning_content beside content)",
  openrouterErrors: "https://openrouter.ai/docs/api/reference/errors-and-debugging (errors in a 200 body; 402 credits)",
  mistralThinking: "https://github.com/vercel/ai/pull/8072 (magistral: content parts of type thinking and text)",
} as const;

/** A reasoning trace that quotes a wrong step: salvage must not take it. */
export const DECOY = 'Let me think. A first draft would be {"answer": "DECOY", "reward": -1, "reward_reason": "draft"} but I can do better.';
