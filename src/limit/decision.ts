/**
 * What a rate limiter answers (`TokenBucket`, `SlidingWindow`), the policy it
 * advertises (for `rateLimitHeaders`), and the checks they share.
 */
import type { KeyedStats, WhenFull } from '../table/when-full.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

/**
 * One decision of a limiter. A refusal is this value with `allowed: false`,
 * never an exception and never a rejected promise.
 */
export interface RateLimitDecision {
  /** True if the request may proceed (`check` has then taken its cost). */
  readonly allowed: boolean;
  /** Units the key has left after this decision (after taking the cost, when allowed). */
  readonly remaining: number;
  /** 0 when allowed; when refused, ms until the same request would be allowed (if nothing else takes from the key). */
  readonly retryAfterMs: number;
  /** Ms until the key's quota is whole again (bucket full, window empty), after this decision. */
  readonly resetMs: number;
  /** The quota: the bucket's burst, the window's limit. */
  readonly limit: number;
  /** The limiter clock's time of the decision, in ms. */
  readonly at: number;
}

/** A quota policy as the IETF RateLimit fields advertise it (`rateLimitHeaders`). */
export interface RateLimitPolicy {
  /** The policy's name (printable ASCII): `"default"` unless given. */
  readonly name?: string;
  /** The quota `q` (default: the decision's `limit`). */
  readonly quota?: number;
  /** The time window `w`, in ms; advertised in whole seconds, rounded up (none if absent). */
  readonly windowMs?: number;
  /** The quota unit `qu` (the draft's default, 'requests', is left out). */
  readonly quotaUnit?: 'requests' | 'content-bytes' | 'concurrent-requests';
  /** The partition key `pk`, sent as a structured-field byte sequence (strings as UTF-8). */
  readonly partitionKey?: string | Uint8Array;
}

/**
 * A limiter offers every `whenFull` policy (table/when-full.ts): for a new
 * key when every key slot holds a key that is not idle yet (a flood of new
 * client ids), `'fail-open'` allows the request untracked and
 * `'fail-closed'` refuses it, asking to retry after the time a key takes
 * to go idle.
 */
export { WHEN_FULL, type WhenFull } from '../table/when-full.js';
/** What a keyed limiter reports (`stats()`): its key table, and its decisions in every thread since it was made. */
export interface LimiterStats extends KeyedStats {
  /** Requests allowed (`tryAcquire` and `check`; `peek` decides nothing). */
  readonly allowed: number;
  /** Requests refused, a full key table's refusals included. */
  readonly denied: number;
}

/**
 * The decision for a new key that found no room, as `whenFull` says; for
 * `'throw'`, the CapacityError. A refusal asks the caller to come back
 * after `idleMs`, the time a key takes to go idle (and its room with it).
 */
export function fullDecision(whenFull: WhenFull, error: CapacityError, limit: number, at: number, idleMs: number): RateLimitDecision {
  if (whenFull === 'throw') throw error;
  if (whenFull === 'fail-open') return { allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 0, limit, at };
  return { allowed: false, remaining: 0, retryAfterMs: idleMs, resetMs: idleMs, limit, at };
}

/** The cost `n` of a request: an integer in [1, limit]. A larger one could never be allowed, so it is refused as an error, not as a wait. */
export function costOf(n: unknown, limit: number, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`n (the request's cost) must be an integer >= 1, got ${describeValue(n)}`);
  }
  if (n > limit) {
    throw new InvalidArgumentError(
      `n (the request's cost) must be at most the ${what} ${limit}, got ${n}: such a request could never be allowed`,
    );
  }
  return n;
}
