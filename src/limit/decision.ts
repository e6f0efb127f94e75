/**
 * What a rate limiter answers (`TokenBucket`, `SlidingWindow`), the policy it
 * advertises (for `rateLimitHeaders`), and the checks they share.
 */
import { InvalidArgumentError } from '../errors.js';
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
