// What a provider has told us about a model, remembered per (base URL, model) for the
// life of the process and shared by every agent using that pair: which response_format
// it refuses, which token-limit parameter it wants, whether it refuses a temperature.
// A refusal is recorded against the value the refused request carried, so two refusals
// that race each other move the setting once, and each change is logged once.
import type { Logger } from "../../log.js";

export type Mode = "json_schema" | "json_object" | "none";
export type FormatSetting = "auto" | Mode;
export type TokensParam = "max_tokens" | "max_completion_tokens";
export const MODES: readonly Mode[] = ["json_schema", "json_object", "none"];

interface Learned {
  refusedModes: Set<Mode>;
  refusedTokenParams: Set<TokensParam>;
  refusesTemperature: boolean;
}

const table = new Map<string, Learned>();

/** Forgets everything learned (tests). */
export function forgetNegotiations(): void {
  table.clear();
}

/** The request shape one agent sends, from its settings and what the provider taught us. */
export interface RequestShape {
  mode: Mode;
  /** undefined: send no token limit (the provider refused both names). */
  tokensParam: TokensParam | undefined;
  temperature: number | undefined;
}

export class Negotiation {
  private readonly learned: Learned;

  constructor(
    readonly key: { baseUrl: string; model: string },
    private readonly settings: { format: FormatSetting; tokensParam: TokensParam; temperature: number | undefined },
    private readonly log: Logger,
  ) {
    const k = `${key.baseUrl}\0${key.model}`;
    let l = table.get(k);
    if (!l) table.set(k, (l = { refusedModes: new Set(), refusedTokenParams: new Set(), refusesTemperature: false }));
    this.learned = l;
  }

  get forcedFormat(): Mode | undefined {
    return this.settings.format === "auto" ? undefined : this.settings.format;
  }

  shape(): RequestShape {
    const mode = this.forcedFormat ?? MODES.find((m) => !this.learned.refusedModes.has(m)) ?? "none";
    const wanted = this.settings.tokensParam;
    const other: TokensParam = wanted === "max_tokens" ? "max_completion_tokens" : "max_tokens";
    const tokensParam = !this.learned.refusedTokenParams.has(wanted) ? wanted : !this.learned.refusedTokenParams.has(other) ? other : undefined;
    const temperature = this.learned.refusesTemperature ? undefined : this.settings.temperature;
    return { mode, tokensParam, temperature };
  }

  /** The provider refused `carried`: downgrade (once, whoever reports it first). False when forced. */
  refuseMode(carried: Mode, said: string): boolean {
    if (this.forcedFormat || carried === "none") return false;
    if (!this.learned.refusedModes.has(carried)) {
      this.learned.refusedModes.add(carried);
      this.log.warn(`provider rejected response_format ${carried}; falling back to ${this.shape().mode} for model ${this.key.model} from now on (${said})`);
    }
    return true;
  }

  /** The provider refused a parameter the request carried: adapt (once). False when nothing is left to change. */
  refuseParameter(param: "max_tokens" | "max_completion_tokens" | "temperature", carried: RequestShape, said: string): boolean {
    if (param === "temperature") {
      if (carried.temperature === undefined) return false;
      if (!this.learned.refusesTemperature) {
        this.learned.refusesTemperature = true;
        this.log.warn(`model ${this.key.model} refuses temperature ${carried.temperature} (it said: ${said}); sending none (the model's default) from now on`);
      }
      return true;
    }
    if (carried.tokensParam !== param) return false;
    if (!this.learned.refusedTokenParams.has(param)) {
      this.learned.refusedTokenParams.add(param);
      const next = this.shape().tokensParam;
      this.log.warn(`model ${this.key.model} refuses ${param} (it said: ${said}); ${next ? `sending ${next}` : "sending no token limit"} from now on`);
    }
    return true;
  }

  /** For the start-up line and status: what is sent now and how it was chosen. */
  describe(): string {
    const s = this.shape();
    const how = this.forcedFormat ? "forced by llm.response_format / LLM_RESPONSE_FORMAT" : s.mode === "json_schema" ? "negotiated: falls back to json_object, then none, if the provider refuses it" : "negotiated";
    return `response_format ${s.mode} (${how}), ${s.tokensParam ?? "no token limit"}, temperature ${s.temperature ?? "default"}`;
  }
}
