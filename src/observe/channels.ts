/**
 * sabre's events on `node:diagnostics_channel`, named as undici names its
 * own (`sabre:<area>:<event>`). Subscribe with
 * `diagnostics_channel.subscribe('sabre:limit:denied', (message) => …)`.
 *
 * A channel is per thread, as every diagnostics channel is: an event is
 * published in the thread where it happened (the breaker's transition in
 * the thread whose compare-and-swap made it, a refusal in the thread that
 * was refused). For counts over every thread, read the primitive's
 * `stats()`, which sums what all threads counted in shared memory; the
 * events are for logs and traces. Publishing costs one `hasSubscribers`
 * check when nobody listens.
 */
import diagnostics from 'node:diagnostics_channel';
import type { RateLimitDecision } from '../limit/decision.js';

/** `sabre:breaker:state`: a CircuitBreaker changed state (published by the thread that made the transition). */
export interface BreakerStateMessage {
  readonly breaker: object;
  readonly from: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
  readonly to: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
}

/** `sabre:limit:denied`: a TokenBucket or SlidingWindow refused a request. */
export interface LimitDeniedMessage {
  readonly limiter: object;
  readonly key: string | Uint8Array;
  /** The cost asked for. */
  readonly n: number;
  /** The refusal, when the call was `check` (`tryAcquire` answers only false). */
  readonly decision: RateLimitDecision | undefined;
}

/** `sabre:lock:owner-died`: a lock was found held by a thread that had died; the finder recovered it. */
export interface OwnerDiedMessage {
  readonly lock: object;
  /** The dead owner's threadId. */
  readonly owner: number;
}

/** `sabre:idempotency:outcome`: what `IdempotencyStore#begin` answered for a key. */
export interface IdempotencyOutcomeMessage {
  readonly store: object;
  readonly key: string;
  /** `begin`'s answer: the key taken, a stored response replayed, the first request still running, another request under the key. */
  readonly outcome: 'new' | 'replay' | 'in-flight' | 'mismatch';
}

/** `sabre:bulkhead:rejected`: a Bulkhead turned a call away (its slots and queue full, or the wait timed out). */
export interface BulkheadRejectedMessage {
  readonly bulkhead: object;
}

/** `sabre:retry:attempt`: `retry` is about to wait and try again after a failure. */
export interface RetryAttemptMessage {
  /** The retry about to happen: 1 for the first (as `onRetry` is told). */
  readonly attempt: number;
  readonly error: unknown;
  readonly delayMs: number;
}

/** `sabre:retry:give-up`: `retry` stopped retrying and the call fails with `reason`. */
export interface RetryGiveUpMessage {
  /** Calls made, the first included. */
  readonly attempts: number;
  readonly reason: string;
  readonly error: unknown;
}

/** `sabre:redis:unavailable`: a Redis-backed primitive could not reach Redis in time; `decidedBy` says what answered instead. */
export interface RedisUnavailableMessage {
  readonly source: object;
  readonly error: unknown;
  /** `'throw'`: the caller got the error; `'fail-open'`, `'fail-closed'`, `'local'` (the local limiter): what decided. */
  readonly decidedBy: 'throw' | 'fail-open' | 'fail-closed' | 'local';
}

export const breakerState = diagnostics.channel('sabre:breaker:state');
export const limitDenied = diagnostics.channel('sabre:limit:denied');
export const ownerDied = diagnostics.channel('sabre:lock:owner-died');
export const idempotencyOutcome = diagnostics.channel('sabre:idempotency:outcome');
export const bulkheadRejected = diagnostics.channel('sabre:bulkhead:rejected');
export const retryAttempt = diagnostics.channel('sabre:retry:attempt');
export const retryGiveUp = diagnostics.channel('sabre:retry:give-up');
export const redisUnavailable = diagnostics.channel('sabre:redis:unavailable');

/** Every channel's name, for a subscriber that wants them all (the metrics example). */
export const CHANNELS = [
  'sabre:breaker:state',
  'sabre:limit:denied',
  'sabre:lock:owner-died',
  'sabre:idempotency:outcome',
  'sabre:bulkhead:rejected',
  'sabre:retry:attempt',
  'sabre:retry:give-up',
  'sabre:redis:unavailable',
] as const;
