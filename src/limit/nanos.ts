/**
 * A limiter's clock read in whole nanoseconds (a bigint), the fixed-point
 * unit of the token bucket's 64-bit word.
 *
 * `systemClock` is read from `process.hrtime.bigint()` directly (exact, no
 * float). A `ManualClock` keeps whole nanoseconds and hands out
 * `ns / 1e6` ms; rounding `now() * 1e6` recovers them exactly while they are
 * below 2^53 (104 days of manual time).
 */
import { systemClock, type Clock } from '../clock.js';

const hrtime = (): bigint => process.hrtime.bigint();

export function nanoClock(clock: Clock): () => bigint {
  if (clock === systemClock) return hrtime;
  return () => BigInt(Math.round(clock.now() * 1e6));
}
