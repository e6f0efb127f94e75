/**
 * The payments API's shared state: made once in the main thread, opened from
 * its handles in every server thread, so all of them enforce one rate limit
 * per client, one idempotency record per key, one breaker for the bank, one
 * cache of reports, one ballot per voter and no double booking.
 *
 * With `redis`, the rate limit, the idempotency records and the bank's
 * breaker live in Redis instead (sabre/redis, each thread with its own
 * client), so that several processes serving the API share them; the
 * payments table, the report cache, the polls and the bookings stay in each
 * process's shared memory.
 */
import { Redis } from 'ioredis';
import { RedisCircuitBreaker, RedisIdempotencyStore, RedisTokenBucket } from '../../src/redis/index.js';
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
  readonly perClient: TokenBucket | RedisTokenBucket;
  readonly keys: IdempotencyStore | RedisIdempotencyStore;
  readonly bank: CircuitBreaker | RedisCircuitBreaker;
  readonly payments: SharedHashTable<Payment>;
  readonly reports: Cache<string>;
  readonly polls: VoteRegistry;
  readonly bookings: BookingTable;
  /** Where the Redis-backed state is, when it is. */
  readonly redis?: RedisPlace;
}

export interface PaymentsHandles {
  /** Absent with `redis`: each thread makes its own, with its own client. */
  readonly perClient?: TokenBucketHandle;
  readonly keys?: IdempotencyStoreHandle;
  readonly bank?: CircuitBreakerHandle;
  readonly redis?: RedisPlace;
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

/** Where the Redis-backed state is: the server, and the key prefix every process of one API uses. */
export interface RedisPlace {
  readonly url: string;
  readonly prefix: string;
  /** The sizes, so that every thread makes the same limiter and store. */
  readonly sizes: PaymentsSizes;
}

const BREAKER = { failureThreshold: 5, resetTimeoutMs: 500, timeoutMs: 2_000 } as const;
const RETENTION_MS = 86_400_000;

/** The rate limit, the idempotency records and the breaker on Redis, with this thread's own client. */
function onRedis(place: RedisPlace): Pick<PaymentsShared, 'perClient' | 'keys' | 'bank'> {
  const client = new Redis(place.url);
  const { sizes, prefix } = place;
  return {
    perClient: new RedisTokenBucket({
      client,
      prefix: `${prefix}limit:`,
      burst: sizes.burst ?? 100,
      refillPerSecond: sizes.refillPerSecond ?? 50,
    }),
    keys: new RedisIdempotencyStore({ client, prefix: `${prefix}keys:`, leaseMs: sizes.leaseMs ?? 3_000, retentionMs: RETENTION_MS }),
    bank: new RedisCircuitBreaker({ client, prefix: `${prefix}breaker:`, name: 'bank', ...BREAKER }),
  };
}

export function createShared(sizes: PaymentsSizes = {}, redis?: { readonly url: string; readonly prefix: string }): PaymentsShared {
  const capacity = sizes.capacity ?? 100_000;
  return {
    ...(redis !== undefined
      ? { ...onRedis({ ...redis, sizes }), redis: { ...redis, sizes } }
      : {
          perClient: new TokenBucket({
            burst: sizes.burst ?? 100,
            refillPerSecond: sizes.refillPerSecond ?? 50,
            capacity: 10_000,
            whenFull: 'fail-closed',
          }),
          keys: new IdempotencyStore({ capacity, leaseMs: sizes.leaseMs ?? 3_000, retentionMs: RETENTION_MS, maxBytes: 64 * 2 ** 20 }),
          bank: new CircuitBreaker(BREAKER),
        }),
    payments: new SharedHashTable<Payment>({ capacity, maxKeyBytes: 64, maxValueBytes: 512, codec: 'json', maxBytes: 32 * 2 ** 20 }),
    reports: new Cache<string>({ capacity: 1_000, maxKeyBytes: 64, maxValueBytes: 1024, codec: 'string', ttlMs: 5_000 }),
    polls: new VoteRegistry({ capacity: 100_000, choices: ['yes', 'no'], maxPolls: 1_000 }),
    bookings: new BookingTable({ capacity: 1_000 }),
  };
}

export function handlesOf(s: PaymentsShared): PaymentsHandles {
  return {
    ...(s.redis !== undefined
      ? { redis: s.redis }
      : {
          perClient: (s.perClient as TokenBucket).handle,
          keys: (s.keys as IdempotencyStore).handle,
          bank: (s.bank as CircuitBreaker).handle,
        }),
    payments: s.payments.handle,
    reports: s.reports.handle,
    polls: s.polls.handle,
    bookings: s.bookings.handle,
  };
}

/** The same state, in another thread. */
export function openShared(h: PaymentsHandles): PaymentsShared {
  return {
    ...(h.redis !== undefined
      ? { ...onRedis(h.redis), redis: h.redis }
      : { perClient: TokenBucket.from(h.perClient!), keys: IdempotencyStore.from(h.keys!), bank: CircuitBreaker.from(h.bank!) }),
    payments: SharedHashTable.from<Payment>(h.payments),
    reports: Cache.from<string>(h.reports),
    polls: VoteRegistry.from(h.polls),
    bookings: BookingTable.from(h.bookings),
  };
}
