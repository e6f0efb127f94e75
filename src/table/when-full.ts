/**
 * What a keyed structure does with a new key when it is full, and what it
 * reports about its room: one vocabulary for the limiters (TokenBucket,
 * SlidingWindow) and the stores (IdempotencyStore, LeaseLock, OnceRegistry,
 * VoteRegistry, BookingTable, SharedHashTable).
 */

/**
 * `'throw'` a CapacityError (every structure's default); `'fail-open'` let
 * the request through untracked (availability first: a limiter allows, a
 * registry grants a claim it does not record); `'fail-closed'` refuse it
 * with an answer rather than an error (protection first: a limiter
 * refuses, a lease lock answers "held", an idempotency store "full").
 * Each structure says which of these it offers and why; either way its
 * `stats().refusedWhenFull` counts the new key.
 */
export type WhenFull = 'throw' | 'fail-open' | 'fail-closed';
export const WHEN_FULL: readonly WhenFull[] = Object.freeze(['throw', 'fail-open', 'fail-closed'] as const);
/** The policies of a structure that cannot let a request through untracked (a lock, a charge, a booking). */
export const WHEN_FULL_CLOSED: readonly WhenFull[] = Object.freeze(['throw', 'fail-closed'] as const);

/** What a keyed structure reports about its key table (`stats()`). */
export interface KeyedStats {
  /** Keys with state now (lapsed or idle ones included until they are reclaimed). */
  readonly keys: number;
  /** Keys it can hold at once. */
  readonly capacity: number;
  /** New keys that found no room, in every thread, since it was made: thrown, let through or refused as `whenFull` says. */
  readonly refusedWhenFull: number;
  /** Bytes of its heap that keys and values take now (whole 4 KiB pages; see SharedHashTable's `maxBytes`). */
  readonly bytesInUse: number;
  /** Its heap's budget: `maxBytes`, rounded up to 4 KiB. */
  readonly maxBytes: number;
}
