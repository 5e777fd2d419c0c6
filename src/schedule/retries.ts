// How long a task waits after a failed attempt: the base delay doubled per attempt
// (tasks.retry_delay_ms × 2^(attempt-1)), so a task that keeps failing backs off.
// Whether it is retried at all is the delivery limit's business (tasks.max_attempts).

export function retryDelayMs(baseMs: number, attempt: number): number {
  return baseMs * 2 ** Math.max(0, attempt - 1);
}
