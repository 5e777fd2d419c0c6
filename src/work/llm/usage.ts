// Token counts as the provider reports them in `usage` (prompt, completion, total,
// reasoning when present), summed per step and metered per agent per UTC day, so
// `budget.tokens_per_day` can stop a chatty model or a handoff loop before it runs up a bill.

export interface Usage {
  prompt: number;
  completion: number;
  total: number;
  /** Reasoning tokens inside `completion` (OpenAI's completion_tokens_details, when given). */
  reasoning?: number;
}

export const noUsage = (): Usage => ({ prompt: 0, completion: 0, total: 0 });

/** `usage` of a chat completion, or undefined when the provider sent none. */
export function readUsage(json: { usage?: any }): Usage | undefined {
  const u = json.usage;
  if (!u || typeof u !== "object") return undefined;
  const n = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);
  const prompt = n(u.prompt_tokens) ?? n(u.input_tokens) ?? 0;
  const completion = n(u.completion_tokens) ?? n(u.output_tokens) ?? 0;
  const reasoning = n(u.completion_tokens_details?.reasoning_tokens) ?? n(u.output_tokens_details?.reasoning_tokens);
  return { prompt, completion, total: n(u.total_tokens) ?? prompt + completion, ...(reasoning ? { reasoning } : {}) };
}

export function addUsage(a: Usage, b: Usage | undefined): Usage {
  if (!b) return a;
  const reasoning = (a.reasoning ?? 0) + (b.reasoning ?? 0);
  return { prompt: a.prompt + b.prompt, completion: a.completion + b.completion, total: a.total + b.total, ...(reasoning ? { reasoning } : {}) };
}

/** Tokens one agent spent: today (UTC) and since the process started. */
export class TokenMeter {
  private day = "";
  private todayTotal = 0;
  private sum = noUsage();

  constructor(
    private readonly perDay: number | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  add(u: Usage | undefined): void {
    if (!u) return;
    this.roll();
    this.todayTotal += u.total;
    this.sum = addUsage(this.sum, u);
  }

  /** Why no request may be sent now, or undefined. */
  spent(): string | undefined {
    this.roll();
    if (this.perDay === undefined || this.todayTotal < this.perDay) return undefined;
    return `the token budget is spent: ${this.todayTotal} of budget.tokens_per_day=${this.perDay} tokens used today (UTC); it resumes after 00:00 UTC, or raise the budget`;
  }

  snapshot(): { today: number; perDay?: number } & Usage {
    this.roll();
    return { ...this.sum, today: this.todayTotal, ...(this.perDay !== undefined ? { perDay: this.perDay } : {}) };
  }

  private roll(): void {
    const d = this.now().toISOString().slice(0, 10);
    if (d !== this.day) {
      this.day = d;
      this.todayTotal = 0;
    }
  }
}
