/**
 * Threads ask one key of a TokenBucket (or a twin) for tokens, `ops` times
 * each, with a random cost in [1, maxCost], and now and then move the shared
 * ManualClock on by a random multiple of a quarter of the refill interval.
 * With `fresh`, each request is for a new key instead (`t<thread>:<i>`), so
 * that the threads start and reclaim keys all the time (a new key that
 * finds every key busy is refused with CapacityError: logged as refused).
 * Every decision is logged (its time on the bucket's clock, its cost,
 * allowed or not) in `log`, LOG_COUNT entries, in the order they were made
 * per thread (one thread: in the order they were made).
 *
 * Kinds: 'bucket' (sabre's), 'read-then-write' (props/bucket-bound/
 * read-then-write-bucket.ts: unsafe under concurrency), 'slow' (sabre's
 * bucket built with a rate 10% below the one the checker is told: it
 * refuses requests the bound allows), 'no-recovery' (props/bucket-bound/
 * no-recovery-slots.ts: a dead thread's claimed slot is never recovered).
 */
import { add } from '../../src/memory/atomics.js';
import { isSabreError } from '../../src/errors.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { TokenBucket, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { defineProgram } from '../../src/testing/index.js';
import { ReadThenWriteBucket } from './read-then-write-bucket.js';
import { openNoRecoveryBucket } from './no-recovery-slots.js';

/** Decisions the log holds; words of one entry (at, cost, allowed). */
export const LOG_ENTRIES = 4096,
  ENTRY = 3;
export const KEY = 'client:1';

export interface BucketShared {
  readonly kind: 'bucket' | 'read-then-write' | 'slow' | 'no-recovery';
  readonly capacity: number;
  /** The rate the checker holds the bucket to (the 'slow' twin is built with 0.9 of it). */
  readonly refillPerSecond: number;
  readonly bucket: TokenBucketHandle;
  readonly twinWord: BigInt64Array;
  readonly clock: ManualClockHandle;
  readonly log: Float64Array;
  /** [LOG_COUNT] */
  readonly count: Int32Array;
}

export interface BucketInput {
  readonly ops: number;
  readonly maxCost: number;
  /** Probability that a thread moves the clock after a decision. */
  readonly advance: number;
  /** Each request for a new key (the bucket only). */
  readonly fresh?: boolean;
}

export default defineProgram<BucketShared, BucketInput, void>(({ shared, input, random, thread }) => {
  const clock = ManualClock.from(shared.clock);
  const limiter =
    shared.kind === 'read-then-write'
      ? new ReadThenWriteBucket(shared.twinWord, clock, shared.capacity, shared.refillPerSecond)
      : shared.kind === 'no-recovery'
        ? openNoRecoveryBucket(shared.bucket)
        : TokenBucket.from(shared.bucket);
  const quarterNs = 1e9 / shared.refillPerSecond / 4;
  for (let i = 0; i < input.ops; i++) {
    const n = 1 + Math.floor(random() * input.maxCost);
    let d: { allowed: boolean; at: number };
    try {
      d = limiter.check(input.fresh === true ? `t${thread}:${i}` : KEY, n);
    } catch (e) {
      if (!(input.fresh === true && isSabreError(e, 'ERR_CAPACITY'))) throw e;
      d = { allowed: false, at: clock.now() };
    }
    const at = add(shared.count, 0, 1);
    if (at < LOG_ENTRIES) {
      shared.log[ENTRY * at] = d.at;
      shared.log[ENTRY * at + 1] = n;
      shared.log[ENTRY * at + 2] = d.allowed ? 1 : 0;
    }
    if (random() < input.advance) clock.advance((Math.floor(random() * 8) * quarterNs) / 1e6);
  }
});
