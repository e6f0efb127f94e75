/**
 * The payments API's shared state: made once in the main thread, opened from
 * its handles in every server thread, so all of them enforce one rate limit
 * per client, one idempotency record per key, one breaker for the bank, one
 * cache of reports, one ballot per voter and no double booking.
 */
import {
  BookingTable,
  Cache,
  CircuitBreaker,
  IdempotencyStore,
  SharedHashTable,
  TokenBucket,
  VoteRegistry,
  type BookingTableHandle,
  type CacheHandle,
  type CircuitBreakerHandle,
  type IdempotencyStoreHandle,
  type SharedHashTableHandle,
  type TokenBucketHandle,
  type VoteRegistryHandle,
} from '../../src/index.js';

/** A payment as the API records it (`GET /payments/:id`). */
export interface Payment {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  /** The bank's charge. */
  readonly charge: string;
  /** The Idempotency-Key it was made under (the bank's reference for it). */
  readonly reference: string;
  /** A note the client may set and clear (`PUT` / `DELETE /payments/:id/note`: idempotent by themselves). */
  readonly note: string | null;
}

export interface PaymentsShared {
  readonly perClient: TokenBucket;
  readonly keys: IdempotencyStore;
  readonly bank: CircuitBreaker;
  readonly payments: SharedHashTable<Payment>;
  readonly reports: Cache<string>;
  readonly polls: VoteRegistry;
  readonly bookings: BookingTable;
}

export interface PaymentsHandles {
  readonly perClient: TokenBucketHandle;
  readonly keys: IdempotencyStoreHandle;
  readonly bank: CircuitBreakerHandle;
  readonly payments: SharedHashTableHandle;
  readonly reports: CacheHandle;
  readonly polls: VoteRegistryHandle;
  readonly bookings: BookingTableHandle;
}

export interface PaymentsSizes {
  /** Requests a client may burst, and its steady rate per second. */
  readonly burst?: number;
  readonly refillPerSecond?: number;
  /** How long a payment holds its key before a retry may take it over. */
  readonly leaseMs?: number;
  /** Payments (and idempotency keys) it holds. */
  readonly capacity?: number;
}

export function createShared(sizes: PaymentsSizes = {}): PaymentsShared {
  const capacity = sizes.capacity ?? 100_000;
  return {
    perClient: new TokenBucket({
      burst: sizes.burst ?? 100,
      refillPerSecond: sizes.refillPerSecond ?? 50,
      capacity: 10_000,
      whenFull: 'fail-closed',
    }),
    keys: new IdempotencyStore({ capacity, leaseMs: sizes.leaseMs ?? 3_000, retentionMs: 86_400_000, maxBytes: 64 * 2 ** 20 }),
    bank: new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 500, timeoutMs: 2_000 }),
    payments: new SharedHashTable<Payment>({ capacity, maxKeyBytes: 64, maxValueBytes: 512, codec: 'json', maxBytes: 32 * 2 ** 20 }),
    reports: new Cache<string>({ capacity: 1_000, maxKeyBytes: 64, maxValueBytes: 1024, codec: 'string', ttlMs: 5_000 }),
    polls: new VoteRegistry({ capacity: 100_000, choices: ['yes', 'no'], maxPolls: 1_000 }),
    bookings: new BookingTable({ capacity: 1_000 }),
  };
}

export function handlesOf(s: PaymentsShared): PaymentsHandles {
  return {
    perClient: s.perClient.handle,
    keys: s.keys.handle,
    bank: s.bank.handle,
    payments: s.payments.handle,
    reports: s.reports.handle,
    polls: s.polls.handle,
    bookings: s.bookings.handle,
  };
}

/** The same state, in another thread. */
export function openShared(h: PaymentsHandles): PaymentsShared {
  return {
    perClient: TokenBucket.from(h.perClient),
    keys: IdempotencyStore.from(h.keys),
    bank: CircuitBreaker.from(h.bank),
    payments: SharedHashTable.from<Payment>(h.payments),
    reports: Cache.from<string>(h.reports),
    polls: VoteRegistry.from(h.polls),
    bookings: BookingTable.from(h.bookings),
  };
}
