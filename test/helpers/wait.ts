/**
 * Waiting in tests: on a condition, never on the clock. The machine that runs
 * the tests is shared and its speed swings, so a test that sleeps "long enough
 * for the other side to get there" fails when the other side is slow. These
 * helpers wait for the state itself: a waiter count, a word another thread
 * sets, an event.
 */
import { vi } from 'vitest';

export interface UntilOptions {
  /** Give up after this long (default 10 s: far beyond any healthy wait, well inside the test's timeout). */
  readonly timeoutMs?: number;
  /** What is awaited, for the failure message. */
  readonly what?: string;
}

/**
 * Resolves once `predicate` returns (or resolves to) true, polled every
 * millisecond on timers (the event loop keeps running, so promises and other
 * threads' messages get through); rejects naming `what` when `timeoutMs`
 * passes first. An async predicate (a question to a worker) is asked again
 * once its answer is in.
 */
export async function until(predicate: () => boolean | Promise<boolean>, options: UntilOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, what = 'the condition held' } = options;
  const fail = (): never => {
    throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
  };
  await vi.waitFor(
    () => {
      const held = predicate();
      if (typeof held === 'boolean') return held || fail();
      return held.then((h) => h || fail());
    },
    { timeout: timeoutMs, interval: 1 },
  );
}

/** Resolves once `word[index]` of a shared Int32Array is at least `value` (another thread counting up). */
export function untilWord(word: Int32Array, index: number, value: number, options: UntilOptions = {}): Promise<void> {
  return until(() => Atomics.load(word, index) >= value, { what: `word ${index} reached ${value}`, ...options });
}

/** Lets the current macrotask end, so that every queued microtask and promise chain runs (one event-loop turn). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Lets `ms` of real time pass. Only for a test of time itself: a timeout or a
 * threshold that must elapse, or a window in which something must NOT happen.
 * A slow machine only makes such a wait longer, so it cannot fail the test;
 * the call site says why in a comment. Never use it to wait for another side
 * to reach a state: use `until`.
 */
export function elapse(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
