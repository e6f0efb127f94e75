/**
 * Threads make `input.calls` calls through `retry` (the same number in every
 * thread, each call starting at a barrier, so that the threads' first
 * retries, which follow the first failure at once, compete for the budget
 * together), each to a function that
 * fails `failTimes` times before it succeeds (its errors sometimes carrying a
 * Retry-After), with one shared RetryBudget (or its check-then-withdraw twin)
 * on a ManualClock that stands still (the whole run is one window), and the
 * jitter's random source injected (ctx.random). The shared log records, in
 * the order they happened:
 *   DEPOSIT  before each call to retry (which deposits inside): (DEPOSIT, thread, call)
 *   RETRY    in onRetry, after the budget granted the retry: (RETRY, thread,
 *            call, attempt, delayMs, Retry-After hint or NaN)
 */
import { add } from '../../src/memory/atomics.js';
import { RetryBudget, type RetryBudgetHandle } from '../../src/resilience/retry-budget.js';
import { retry, type Jitter, type RetryBudgetLike } from '../../src/resilience/retry.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenWithdrawBudget } from './check-then-withdraw-budget.js';

export const DEPOSIT = 0,
  RETRY = 1;
export const LOG_FIELDS = 6,
  MAX_LOG = 2048;
/** `words`: the twin's DEPOSITS and WITHDRAWALS, then LOG_COUNT and ARRIVED (the barrier). */
export const LOG_COUNT = 2,
  ARRIVED = 3,
  RETRY_WORDS = 4;

export interface RetryShared {
  readonly kind: 'budget' | 'check-then-withdraw';
  readonly budget: RetryBudgetHandle;
  /** The budget's ratio and reserve, in thousandths of a retry (for the twin). */
  readonly ratioMilli: number;
  readonly reserveMilli: number;
  readonly words: Int32Array;
  readonly log: Float64Array;
}

export interface RetryInput {
  readonly calls: number;
  readonly jitter: Jitter;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly retries: number;
  readonly failTimes: number;
  /** Chance that an error carries a Retry-After (never with 'decorrelated', whose bound depends on the previous backoff). */
  readonly hintShare: number;
}

/** Waits until ARRIVED reaches `target`: spins briefly (so the threads leave together), then lets the event loop run. */
async function barrier(words: Int32Array, target: number): Promise<void> {
  add(words, ARRIVED, 1);
  while (Atomics.load(words, ARRIVED) < target) {
    for (let spin = 0; spin < 20_000 && Atomics.load(words, ARRIVED) < target; spin++);
    if (Atomics.load(words, ARRIVED) < target) await new Promise((resolve) => setImmediate(resolve));
  }
}

export default defineProgram<RetryShared, RetryInput, void>(async ({ shared, input, random, thread, threads }) => {
  const { words, log } = shared;
  const budget: RetryBudgetLike =
    shared.kind === 'budget' ? RetryBudget.from(shared.budget) : new CheckThenWithdrawBudget(words, shared.ratioMilli, shared.reserveMilli);
  const append = (entry: number[]): void => {
    const n = add(words, LOG_COUNT, 1);
    if (n < MAX_LOG) log.set(entry, n * LOG_FIELDS);
  };
  for (let call = 0; call < input.calls; call++) {
    await barrier(words, threads * (call + 1));
    append([DEPOSIT, thread, call, 0, 0, NaN]);
    await retry(
      async ({ attempt }) => {
        if (attempt >= input.failTimes) return attempt;
        const hint = input.jitter !== 'decorrelated' && random() < input.hintShare ? random() * input.maxMs : undefined;
        throw Object.assign(new Error('unavailable'), hint === undefined ? {} : { retryAfterMs: hint });
      },
      {
        retries: input.retries,
        baseMs: input.baseMs,
        maxMs: input.maxMs,
        jitter: input.jitter,
        idempotent: true, // the property is about delays and the budget: every failure is retryable
        budget,
        random,
        onRetry: (info) => append([RETRY, thread, call, info.attempt, info.delayMs, info.retryAfterMs ?? NaN]),
      },
    ).catch(() => {}); // giving up is expected
  }
});
