/**
 * Waiter counts that dead waiters cannot spoil for good (each primitive's
 * notes on dead waiters say how it uses them):
 * - `uncount` never takes a count below 0, because a repair may have zeroed a
 *   count that still included a live waiter;
 * - a `seen` word holds when a counted waiter last ran (`seenStamp`, ms on the
 *   process's monotonic clock, never 0); live waiters write it before they
 *   count themselves and at least once per slice, so a count whose stamp is
 *   older than a few slices (`seenWithin` false) is dead waiters' only.
 */
import * as seam from '../memory/atomics.js';
import { systemClock } from '../clock.js';

const { compareExchange, load } = seam; // module constants: see memory/atomics.ts

/** Takes one off `words[index]`, never below 0. */
export function uncount(words: Int32Array, index: number): void {
  for (;;) {
    const n = load(words, index);
    if (n <= 0 || compareExchange(words, index, n, n - 1) === n) return;
  }
}

/** Now, as a nonzero Int32 stamp in ms (wraps after 24 days; compared by difference). */
export function seenStamp(): number {
  return Math.floor(systemClock.now()) | 0 || 1;
}

/** True if `stamp` (from `seenStamp`) is less than `windowMs` old. */
export function seenWithin(stamp: number, windowMs: number): boolean {
  return ((seenStamp() - stamp) | 0) <= windowMs;
}
