/**
 * Threads take one token at a time from one key of a TokenBucket, `input`
 * times each, and now and then move the shared ManualClock on by a random
 * number of quarters of the refill interval. Each returns its decisions as
 * [time in ns on the bucket's clock, allowed]. The setup starts the key and
 * lets its bucket fill up again, so every request takes the CAS path.
 *
 * The bound (GCRA's guarantee, as props/bucket-bound checks it): over every
 * interval [a, b] between accepted decisions, at most
 * BURST + (b - a) / INTERVAL_NS of them.
 */
import { ManualClock, type ManualClockHandle } from '../../../src/clock.js';
import { TokenBucket, type TokenBucketHandle } from '../../../src/limit/token-bucket.js';
import { defineProgram } from '../../../src/testing/index.js';

export const BURST = 1;
export const REFILL_PER_SECOND = 10;
/** The refill interval T: one token per 100 ms. */
export const INTERVAL_NS = 1e9 / REFILL_PER_SECOND;
export const KEY = 'client:1';

export interface TokenBucketShared {
  readonly bucket: TokenBucketHandle;
  readonly clock: ManualClockHandle;
}
/** A decision: when (ns on the bucket's clock) and whether it was allowed. */
export type Decision = readonly [ns: number, allowed: boolean];

/** The shared value: a bucket whose key has state (the first request starts it), full again. */
export function bucketSetup(): TokenBucketShared {
  const clock = new ManualClock({ startMs: 0 });
  const bucket = new TokenBucket({ burst: BURST, refillPerSecond: REFILL_PER_SECOND, capacity: 4, maxKeyBytes: 16, clock });
  bucket.check(KEY);
  clock.advance((BURST * INTERVAL_NS) / 1e6);
  return { bucket: bucket.handle, clock: clock.handle };
}

/** True if some interval between accepted decisions holds more than BURST + its length / INTERVAL_NS of them. */
export function exceedsBound(decisions: readonly Decision[]): boolean {
  const accepted = decisions
    .filter(([, allowed]) => allowed)
    .map(([ns]) => ns)
    .sort((x, y) => x - y);
  for (let i = 0; i < accepted.length; i++) {
    for (let j = i; j < accepted.length; j++) {
      if ((j - i + 1 - BURST) * INTERVAL_NS > accepted[j]! - accepted[i]!) return true;
    }
  }
  return false;
}

export default defineProgram<TokenBucketShared, number, Decision[]>((ctx) => {
  const bucket = TokenBucket.from(ctx.shared.bucket);
  const clock = ManualClock.from(ctx.shared.clock);
  const decisions: Decision[] = [];
  for (let i = 0; i < ctx.input; i++) {
    const d = bucket.check(KEY);
    decisions.push([Math.round(d.at * 1e6), d.allowed]);
    if (ctx.random() < 0.5) clock.advance((Math.floor(ctx.random() * 4) * INTERVAL_NS) / 4 / 1e6);
  }
  return decisions;
});
