/**
 * TwoLevelLimiter: a Redis token bucket shared by every process, spent
 * through a per-process allowance in shared memory, so most decisions never
 * wait on Redis.
 */
import { local, custom, duration, integer, withDefault } from '../options/field.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import { float64Record, type Codec } from '../memory/codec.js';
import type { SharedArena } from '../memory/arena.js';
import { counterSet, counterSetBytes, sums } from '../atomic/counter-set.js';
import { padToCacheLine } from '../memory/cache-line.js';
import type { StripedCounter } from '../atomic/striped-counter.js';
import { InvalidArgumentError } from '../errors.js';
import { costOf, type RateLimitDecision, type RateLimitPolicy } from '../limit/decision.js';
import { MAX_BUCKET_CAPACITY } from '../limit/token-bucket.js';
import { DEFAULT_LIMIT_KEYS, MAX_LIMIT_KEYS } from '../limit/keyed-slots.js';
import { limitDenied } from '../observe/channels.js';
import { SharedHashTable, TABLE_FULL } from '../table/shared-hash-table.js';
import type { TableKey } from '../table/key.js';
import { describeValue } from '../validate.js';
import type { RedisClientLike } from './connection.js';
import { WHEN_UNAVAILABLE, type WhenUnavailable } from './limiter.js';
import { RedisTokenBucket } from './token-bucket.js';

/*
 * Implementation notes
 *
 * The global level is a RedisTokenBucket (GCRA on the Redis server). The
 * local level is this process's allowance: per key, tokens already taken
 * from the global bucket and not yet spent, in a SharedHashTable every
 * thread of the process shares, as a record { tokens, expiresAt, fetchUntil }.
 *
 * A request of cost n:
 *   1. spends n tokens of the allowance if it holds them (one compute on
 *      the key's record: no Redis at all);
 *   2. else, if no thread of this process is fetching for the key, marks
 *      itself the fetcher (fetchUntil, in the same compute) and takes a
 *      batch from Redis: at least n tokens and up to `batch` (as many as the
 *      bucket has), in one script (RedisTokenBucket#lease). It keeps n and
 *      adds the rest to the allowance, for `leaseMs`;
 *   3. else takes n alone from Redis (as the Redis-only limiter does).
 * A refusal comes from Redis (the global bucket lacked n tokens), and is
 * then kept in the record (deniedUntil: when one token will be there, from
 * the refusal's retry-after), so that the key's later requests are refused
 * locally until then: other processes can only take tokens meanwhile, so
 * Redis would refuse them too. An abusive client's flood costs one round
 * trip per refill, not one per request.
 *
 * The bound. Every admitted request spends tokens that Redis granted, and
 * Redis grants follow GCRA: over any interval of length d, at most
 * burst + d * refillPerSecond tokens are granted. So admissions over the
 * interval exceed that only by tokens granted before it and spent in it:
 * the allowances held at its start. One fetcher per key per process at a
 * time, which adds at most batch - n tokens to an allowance that had fewer
 * than n, keeps each process's allowance below `batch`. Hence, counting
 * each admission at the time Redis granted its token:
 *
 *     admitted in any interval of length d
 *       <= burst + d * refillPerSecond + N * (batch - 1)     (N processes)
 *
 * and never more than the Redis bucket granted in all. Tokens unspent after
 * `leaseMs` are dropped (they err toward refusing); so do the allowances of
 * a process that exits. The price of the batch is that a key's tokens may
 * sit in one process's allowance while another process is refused: at most
 * N * (batch - 1) of them.
 *
 * Death: a thread that dies while fetching leaves fetchUntil set; it lapses
 * after the Redis deadline, and the next request fetches. A decision is one
 * compute (whole or not at all) plus, when it must, one Redis call.
 */

interface Allowance {
  readonly tokens: number;
  readonly expiresAt: number;
  readonly fetchUntil: number;
  readonly deniedUntil: number;
}
const allowanceCodec: Codec<Allowance> = float64Record('tokens', 'expiresAt', 'fetchUntil', 'deniedUntil');
const RECORD_BYTES = 32;
const EMPTY: Allowance = { tokens: 0, expiresAt: 0, fetchUntil: 0, deniedUntil: 0 };

const COUNTS = ['local', 'remote', 'allowed', 'denied'] as const;

export interface TwoLevelLimiterOptions {
  /** A connected ioredis client or Cluster, or a node-redis client (this thread's). */
  readonly client: RedisClientLike;
  /** The global bucket: tokens a full bucket holds. */
  readonly burst: number;
  /** The global bucket: tokens added per second (at most 1e6). */
  readonly refillPerSecond: number;
  /** Tokens a process takes from Redis at once (1 .. burst; default a tenth of burst, at least 1). */
  readonly batch?: number;
  /** How long taken tokens may be spent, in ms (default 1,000); unspent ones are dropped. */
  readonly leaseMs?: number;
  /** Keys with an allowance at once (default 10,000); expired allowances make room. */
  readonly capacity?: number;
  /** The namespace of the global bucket's Redis keys (default `'sabre:bucket:'`). */
  readonly prefix?: string;
  /** Longest key in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
  /** What a decision is when Redis cannot answer in time (default `'throw'`), as the Redis limiters'. */
  readonly whenUnavailable?: WhenUnavailable;
  readonly arena?: SharedArena;
}

/** What `from` takes besides the handle: what cannot travel between threads. */
export interface TwoLevelLimiterLocalOptions {
  readonly client: RedisClientLike;
  readonly whenUnavailable?: WhenUnavailable;
}

/** What a two-level limiter counts (every thread of the process). */
export interface TwoLevelStats {
  /** Requests decided from the allowance, without Redis. */
  readonly local: number;
  /** Requests that waited on Redis (a batch, or their own tokens). */
  readonly remote: number;
  readonly allowed: number;
  readonly denied: number;
  /** Of this object's calls, those Redis could not answer in time. */
  readonly unavailable: number;
}

const tableSizes = (o: { readonly capacity: number; readonly maxKeyBytes: number }) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: RECORD_BYTES,
});
const countsAt = (o: { readonly capacity: number; readonly maxKeyBytes: number }): number =>
  padToCacheLine(SharedHashTable.byteLength(tableSizes(o)));

const DEF = definePrimitive(
  'TwoLevelLimiter',
  1,
  {
    client: local(
      custom<unknown>((v) => v),
      { reopen: true },
    ),
    whenUnavailable: local(WHEN_UNAVAILABLE, { reopen: true }),
    burst: integer({ max: MAX_BUCKET_CAPACITY }),
    refillPerSecond: custom<number>((v, name) => {
      if (typeof v === 'number' && v > 0 && v <= 1e6) return v;
      throw new InvalidArgumentError(`${name} must be a number of tokens per second > 0 and <= 1000000, got ${describeValue(v)}`);
    }),
    batch: withDefault(
      custom<number>((v) => v as number),
      undefined,
    ),
    leaseMs: duration({ positive: true, infinite: false, default: 1_000 }),
    capacity: integer({ max: MAX_LIMIT_KEYS, default: DEFAULT_LIMIT_KEYS }),
    prefix: custom<string>((v, name) => {
      if (typeof v === 'string' && !/[{}]/.test(v)) return v;
      throw new InvalidArgumentError(`${name} must be a string without braces (the key takes the hash tag), got ${describeValue(v)}`);
    }, 'sabre:bucket:'),
    maxKeyBytes: integer({ max: 65_535, default: 256 }),
    commandTimeoutMs: duration({ positive: true, infinite: false, default: 1_000 }),
  },
  {
    check: (o) => {
      if (o.batch !== undefined && (typeof o.batch !== 'number' || !Number.isInteger(o.batch) || o.batch < 1 || o.batch > o.burst)) {
        throw new InvalidArgumentError(`batch must be an integer in [1, burst = ${o.burst}], got ${describeValue(o.batch)}`);
      }
    },
    bodyBytes: (o) => countsAt(o) + counterSetBytes(COUNTS.length),
  },
);
export type TwoLevelLimiterHandle = HandleOf<typeof DEF>;

/**
 * A rate limit per key for every process on one Redis, decided mostly in
 * shared memory: each process takes tokens from the Redis bucket in batches
 * and spends them locally, so a request waits on Redis about once per
 * `batch` requests of a key in a process. The calls and answers of the
 * Redis limiters (`check`, `tryAcquire`, `peek`, `policy`, as promises), so
 * the HTTP gates take it unchanged.
 *
 * The bound (proved in the source): over any interval of length d, a key
 * admits at most burst + d * refillPerSecond + N * (batch - 1) requests
 * across N processes; `batch: 1` is the Redis-only limiter's exactness (one
 * round trip per request). Between processes, up to N * (batch - 1) of a
 * key's tokens may wait in other processes' allowances.
 *
 * A local decision's `remaining` is what this process still holds for the
 * key; a refusal (and a decision that went to Redis) reports the global
 * bucket.
 *
 * Make it once per process and pass `handle` to the process's workers:
 * `TwoLevelLimiter.from(handle, { client })`, each thread with its own client.
 *
 * @throws InvalidArgumentError for bad options, a cost outside [1, burst], a bad key
 * @throws UnavailableError when Redis does not answer in time (with `whenUnavailable: 'throw'`)
 */
export class TwoLevelLimiter {
  static readonly limits = DEF.limits;
  readonly handle: TwoLevelLimiterHandle;
  readonly burst: number;
  readonly refillPerSecond: number;
  readonly batch: number;
  readonly leaseMs: number;
  /** The global bucket (this thread's connection to it). */
  readonly global: RedisTokenBucket;
  private readonly table: SharedHashTable<Allowance>;
  private readonly counters: Record<(typeof COUNTS)[number], StripedCounter>;
  private readonly fetchMs: number;

  constructor(options: TwoLevelLimiterOptions);
  /** @internal */
  constructor(opened: OpenedOf<typeof DEF>);
  constructor(options: unknown) {
    const { region, options: o, created } = DEF.resolve(options);
    const mode = created ? 'create' : 'open';
    this.handle = region.handle;
    this.burst = o.burst;
    this.refillPerSecond = o.refillPerSecond;
    this.batch = o.batch ?? Math.max(1, Math.floor(o.burst / 10));
    this.leaseMs = o.leaseMs;
    this.fetchMs = o.commandTimeoutMs;
    this.global = new RedisTokenBucket({
      client: o.client as RedisClientLike,
      burst: o.burst,
      refillPerSecond: o.refillPerSecond,
      prefix: o.prefix,
      maxKeyBytes: o.maxKeyBytes,
      commandTimeoutMs: o.commandTimeoutMs,
      whenUnavailable: o.whenUnavailable,
    });
    this.table = SharedHashTable.nested(region, 0, tableSizes(o), allowanceCodec, mode);
    this.table.setLapse({ now: () => Date.now(), lapsesAt: (a) => Math.max(a.expiresAt, a.fetchUntil, a.deniedUntil) });
    this.counters = counterSet(region, countsAt(o), COUNTS, mode);
  }

  /** Re-opens the limiter in another thread of the process, with that thread's client. @throws HandleError */
  static from(handle: TwoLevelLimiterHandle, local: TwoLevelLimiterLocalOptions): TwoLevelLimiter {
    return new TwoLevelLimiter(DEF.open(handle, local));
  }

  /** The policy to advertise, as the global bucket's. */
  get policy(): RateLimitPolicy {
    return this.global.policy;
  }

  /** Every thread's decisions, and how many waited on Redis. */
  stats(): TwoLevelStats {
    return { ...sums(this.counters), unavailable: this.global.stats().unavailable };
  }

  async tryAcquire(key: TableKey, n = 1): Promise<boolean> {
    return (await this.check(key, n)).allowed;
  }

  /** What the global bucket would answer now (this process's allowance aside). */
  async peek(key: TableKey, n = 1): Promise<RateLimitDecision> {
    return this.global.peek(key, n);
  }

  /** Takes `n` tokens for `key`: from this process's allowance if it holds them, else from Redis. */
  async check(key: TableKey, n = 1): Promise<RateLimitDecision> {
    const cost = costOf(n, this.burst, "bucket's burst");
    const now = Date.now();
    let spent = undefined as Allowance | undefined;
    let denied = 0;
    let fetcher = false as boolean;
    // Linearization point of a local decision: this compute.
    const r = this.table.computeIfRoom(
      key,
      (a) => {
        spent = undefined;
        denied = 0;
        fetcher = false;
        if (a !== undefined && a.deniedUntil > now) {
          denied = a.deniedUntil - now;
          return a;
        }
        const live = a !== undefined && a.expiresAt > now ? a : undefined;
        if (live !== undefined && live.tokens >= cost) return (spent = { ...live, tokens: live.tokens - cost });
        if (a !== undefined && a.fetchUntil > now) return a; // another thread is fetching: take n alone
        fetcher = true;
        return { ...(live ?? EMPTY), fetchUntil: now + this.fetchMs, deniedUntil: 0 };
      },
      true,
    );
    if (spent !== undefined) {
      this.counters.local.increment();
      this.counters.allowed.increment();
      return { allowed: true, remaining: spent.tokens, retryAfterMs: 0, resetMs: 0, limit: this.burst, at: now };
    }
    if (denied > 0) {
      this.counters.local.increment();
      const retryAfterMs = denied + ((cost - 1) * 1000) / this.refillPerSecond; // until one token, then the rest
      return this.count(key, cost, { allowed: false, remaining: 0, retryAfterMs, resetMs: retryAfterMs, limit: this.burst, at: now });
    }
    if (r === TABLE_FULL) fetcher = false; // no room for an allowance: decide this request alone
    this.counters.remote.increment();
    let got: { took: number; decision: RateLimitDecision };
    try {
      got = await this.global.lease(key, cost, fetcher ? Math.max(this.batch, cost) : cost);
    } catch (e) {
      if (fetcher) this.table.compute(key, (a) => (a === undefined ? a : { ...a, fetchUntil: 0 }));
      throw e;
    }
    const d = got.decision;
    const extra = got.took - (d.allowed ? cost : 0);
    if (fetcher || !d.allowed) {
      const at = Date.now();
      // A refusal: refuse locally until one token is there (its retry-after, less the rest of its cost).
      const deniedUntil = d.allowed ? 0 : at + Math.max(0, d.retryAfterMs - ((cost - 1) * 1000) / this.refillPerSecond);
      this.table.compute(key, (a) => {
        const held = a !== undefined && a.expiresAt > at ? a : EMPTY;
        return {
          tokens: held.tokens + extra,
          expiresAt: extra > 0 ? at + this.leaseMs : held.expiresAt,
          fetchUntil: fetcher ? 0 : (a?.fetchUntil ?? 0),
          deniedUntil: Math.max(deniedUntil, a?.deniedUntil ?? 0),
        };
      });
    }
    return this.count(key, cost, d);
  }

  private count(key: TableKey, n: number, d: RateLimitDecision): RateLimitDecision {
    if (d.allowed) this.counters.allowed.increment();
    else {
      this.counters.denied.increment();
      if (limitDenied.hasSubscribers) limitDenied.publish({ limiter: this, key, n, decision: d });
    }
    return d;
  }
}
