/**
 * TwoLevelLimiter: a Redis token bucket shared by every process, spent
 * through a per-process allowance in shared memory, so most decisions never
 * wait on Redis.
 */
import { local, custom, duration, integer, withDefault } from '../options/field.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { counterSet, counterSetBytes, sums } from '../atomic/counter-set.js';
import { padToCacheLine } from '../memory/cache-line.js';
import type { StripedCounter } from '../atomic/striped-counter.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import * as seam from '../memory/atomics.js';
import { costOf, type RateLimitDecision, type RateLimitPolicy } from '../limit/decision.js';
import { DEFAULT_LIMIT_KEYS, KeyedSlots, MAX_LIMIT_KEYS, RETIRED, WAS_DEAD, type SlotData, type SlotRef } from '../limit/keyed-slots.js';
import { limitDenied } from '../observe/channels.js';
import type { TableKey } from '../table/key.js';
import { describeValue } from '../validate.js';
import type { RedisClientLike } from './connection.js';
import { WHEN_UNAVAILABLE, type WhenUnavailable } from './limiter.js';
import { BUCKET_FIELDS, RedisTokenBucket } from './token-bucket.js';
import { prefixField, REDIS_FIELDS } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * The global level is a RedisTokenBucket (GCRA on the Redis server). The
 * local level is this process's allowance: per key, tokens already taken
 * from the global bucket and not yet spent, in shared memory that every
 * thread of the process sees. Keys map to slots as in the shared-memory
 * limiters (keyed-slots.ts: key -> slot, START incarnation numbers, idle
 * keys reclaimed). A slot is four BigInt64 words, one 32-byte group:
 *   WORD     [generation (24 bits) | tokens (21 bits) | DEAD (1 bit)]
 *   GRANTED  when the tokens were last added (ns, process.hrtime)
 *   FETCH    until when a thread of this process is fetching for the key (ns)
 *   DENIED   until when the key is refused locally (ns): a Redis refusal,
 *            kept until one token will be there again
 *
 * A request of cost n:
 *   1. spends n tokens of the allowance if it holds them and they were
 *      granted less than `leaseMs` ago: one CAS of WORD from the value it
 *      loaded (after it read START: the reference's validation, as the
 *      token bucket's). No Redis at all; the linearization point of a
 *      local admission is that CAS;
 *   2. else is refused locally while DENIED is ahead (a Redis refusal
 *      remembered: other processes can only take tokens meanwhile, so Redis
 *      would refuse it too);
 *   3. else, if it wins the CAS of FETCH (no fetch in flight), it is this
 *      process's fetcher for the key: it takes a batch from Redis, at least
 *      n tokens and up to `batch` (as many as the bucket has), in one script
 *      (RedisTokenBucket#lease), keeps n, stores GRANTED, then adds the rest
 *      to WORD (a CAS loop; expired tokens are replaced, not added to) and
 *      clears FETCH. A new key's first request is its fetcher (the key's
 *      incarnation starts with FETCH set, so it is not idle before then);
 *   4. else takes n alone from Redis, as the Redis-only limiter does.
 * A Redis refusal sets DENIED to when one token is due (its retry-after,
 * less the rest of its cost).
 *
 * The bound. Every admitted request spends tokens that Redis granted, and
 * Redis grants follow GCRA: over any interval of length d, at most
 * burst + d * refillPerSecond tokens are granted. So admissions over the
 * interval exceed that only by tokens granted before it and spent in it:
 * the allowances held at its start. One fetcher per key per process at a
 * time (the CAS of FETCH), which adds at most batch - n tokens to an
 * allowance that had fewer than n (else it would have spent them), keeps
 * each process's allowance below `batch`. Hence, counting each admission at
 * the time Redis granted its token:
 *
 *     admitted in any interval of length d
 *       <= burst + d * refillPerSecond + N * (batch - 1)     (N processes)
 *
 * and never more than the Redis bucket granted in all. Tokens unspent after
 * `leaseMs` are dropped (they err toward refusing); so do the allowances of
 * a process that exits. The price of the batch: a key's tokens may sit in
 * one process's allowance while another process is refused, at most
 * N * (batch - 1) of them.
 *
 * ABA: WORD's generation grows with each incarnation of a slot (init
 * starts above the word the slot held), so a stale CAS cannot land on a
 * later key's state (2^24 incarnations of one slot while a thread sleeps
 * between its load and its CAS would be needed). Within an incarnation,
 * WORD holding the same value means the same state, so a CAS from it is
 * right whatever happened in between. GRANTED is stored before the CAS
 * that adds the tokens it dates: whoever sees the new tokens sees their
 * date (seq-cst); one who sees new dates with old tokens may spend a few
 * tokens past their lease, which stays inside the bound (it counts every
 * held token, expired or not).
 *
 * Death: a thread that dies while fetching leaves FETCH ahead: it lapses
 * after the Redis deadline, and the next request fetches. The tokens it
 * had from Redis are lost (fewer admissions, never more). Every other step
 * is one CAS or one store.
 */

const { compareExchange64, load64, store64 } = seam; // module constants: see memory/atomics.ts

const DEAD = 1n;
const TOKEN_SHIFT = 1n;
const TOKEN_BITS = 21n;
const TOKEN_MASK = (1n << TOKEN_BITS) - 1n;
const GEN_SHIFT = TOKEN_SHIFT + TOKEN_BITS;
const GEN_MASK = (1n << 24n) - 1n;
/** Largest batch: the tokens field holds what an allowance can reach (below 2 * batch). */
export const MAX_BATCH = 2 ** 20;
const WORD = 0,
  GRANTED = 1,
  FETCH = 2,
  DENIED = 3,
  WORDS_PER_SLOT = 4;

const tokensOf = (w: bigint): number => Number((w >> TOKEN_SHIFT) & TOKEN_MASK);
const withTokens = (w: bigint, tokens: number): bigint => (w & ~(TOKEN_MASK << TOKEN_SHIFT)) | (BigInt(tokens) << TOKEN_SHIFT);
const nowNs = (): bigint => process.hrtime.bigint();

/** One count per decision: where it was made, and what it said. */
const COUNTS = ['localAllowed', 'localDenied', 'remoteAllowed', 'remoteDenied'] as const;

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

const slotSizes = (o: { readonly capacity: number; readonly maxKeyBytes: number }) => ({ keys: o.capacity, maxKeyBytes: o.maxKeyBytes });
const wordsAt = (o: { readonly capacity: number; readonly maxKeyBytes: number }): number =>
  padToCacheLine(KeyedSlots.byteLength(slotSizes(o)));
const countsAt = (o: { readonly capacity: number; readonly maxKeyBytes: number }): number =>
  wordsAt(o) + padToCacheLine(8 * WORDS_PER_SLOT * o.capacity);

const DEF = definePrimitive(
  'TwoLevelLimiter',
  1,
  {
    client: local(REDIS_FIELDS.client, { reopen: true }),
    whenUnavailable: local(WHEN_UNAVAILABLE, { reopen: true }),
    ...BUCKET_FIELDS,
    batch: withDefault(
      custom<number>((v) => v as number),
      undefined,
    ),
    leaseMs: duration({ positive: true, infinite: false, default: 1_000 }),
    capacity: integer({ max: MAX_LIMIT_KEYS, default: DEFAULT_LIMIT_KEYS }),
    prefix: prefixField('sabre:bucket:'),
    maxKeyBytes: REDIS_FIELDS.maxKeyBytes,
    commandTimeoutMs: REDIS_FIELDS.commandTimeoutMs,
  },
  {
    check: (o) => {
      const most = Math.min(o.burst, MAX_BATCH);
      if (o.batch !== undefined && (typeof o.batch !== 'number' || !Number.isInteger(o.batch) || o.batch < 1 || o.batch > most)) {
        throw new InvalidArgumentError(`batch must be an integer in [1, ${most}] (at most burst and 2^20), got ${describeValue(o.batch)}`);
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
  private readonly slots: KeyedSlots;
  private readonly words: BigInt64Array;
  private readonly starts: BigInt64Array;
  private readonly counters: Record<(typeof COUNTS)[number], StripedCounter>;
  private readonly leaseNs: bigint;
  private readonly fetchNs: bigint;
  /** Date.now() - process.hrtime in ms, read once: a local decision's `at` without a second clock read. */
  private readonly wallOffsetMs = Date.now() - Number(nowNs()) / 1e6;

  constructor(options: TwoLevelLimiterOptions);
  /** @internal */
  constructor(opened: OpenedOf<typeof DEF>);
  constructor(options: unknown) {
    const { region, options: o, created } = DEF.resolve(options);
    const mode = created ? 'create' : 'open';
    this.handle = region.handle;
    this.burst = o.burst;
    this.refillPerSecond = o.refillPerSecond;
    this.batch = o.batch ?? Math.max(1, Math.min(MAX_BATCH, Math.floor(o.burst / 10)));
    this.leaseMs = o.leaseMs;
    this.leaseNs = BigInt(Math.round(o.leaseMs * 1e6));
    this.fetchNs = BigInt(Math.round(o.commandTimeoutMs * 1e6));
    this.global = new RedisTokenBucket({
      client: o.client as RedisClientLike,
      burst: o.burst,
      refillPerSecond: o.refillPerSecond,
      prefix: o.prefix,
      maxKeyBytes: o.maxKeyBytes,
      commandTimeoutMs: o.commandTimeoutMs,
      whenUnavailable: o.whenUnavailable,
    });
    this.words = region.i64(wordsAt(o), WORDS_PER_SLOT * o.capacity);
    if (mode === 'create') for (let s = 0; s < o.capacity; s++) this.words[s * WORDS_PER_SLOT + WORD] = DEAD; // before publication
    this.slots = new KeyedSlots(region, 0, slotSizes(o), mode, this.slotData(), nowNs);
    this.starts = this.slots.starts;
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
    const c = sums(this.counters);
    return {
      local: c.localAllowed + c.localDenied,
      remote: c.remoteAllowed + c.remoteDenied,
      allowed: c.localAllowed + c.remoteAllowed,
      denied: c.localDenied + c.remoteDenied,
      unavailable: this.global.stats().unavailable,
    };
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
    const cost = n === 1 ? 1 : costOf(n, this.burst, "bucket's burst");
    // The fast path: a remembered reference, enough live tokens, one CAS.
    const ref = this.slots.find(key);
    if (ref !== undefined) {
      const now = nowNs();
      const spent = this.spend(ref, cost, now);
      if (spent >= 0) return this.local(spent, now);
      if (this.slots.isValid(ref)) return this.slow(key, cost, ref); // live, too few tokens: no need to look it up again
    }
    return this.slow(key, cost, undefined);
  }

  /** Spends `n` tokens of `ref`'s allowance: the tokens left, or -1 (too few, expired, or `ref` stale). */
  private spend(ref: SlotRef, n: number, now: bigint): number {
    const at = ref.slot * WORDS_PER_SLOT;
    const words = this.words;
    for (;;) {
      const w = load64(words, at + WORD);
      // Validation: live, and still the incarnation the reference names.
      if ((w & DEAD) !== 0n || load64(this.starts, ref.slot) !== ref.start) return -1;
      const tokens = tokensOf(w);
      if (tokens < n || load64(words, at + GRANTED) + this.leaseNs <= now) return -1;
      // Linearization point of a local admission (tokens sit just above the DEAD bit: spending n subtracts 2n).
      if (compareExchange64(words, at + WORD, w, w - BigInt(2 * n)) === w) return tokens - n;
    }
  }

  /** A local admission's decision; `at` from `now` (process.hrtime ns) on the wall clock, as Redis decisions give it. */
  private local(remaining: number, now: bigint): RateLimitDecision {
    this.counters.localAllowed.increment();
    return { allowed: true, remaining, retryAfterMs: 0, resetMs: 0, limit: this.burst, at: Number(now) / 1e6 + this.wallOffsetMs };
  }

  /** A decision that needs more than the allowance: `known` is the key's live reference, when the caller has one. */
  private async slow(key: TableKey, cost: number, known: SlotRef | undefined): Promise<RateLimitDecision> {
    let ref: SlotRef;
    let fetcher = false;
    try {
      if (known !== undefined) ref = known;
      else {
        const got = this.slots.acquire(key, cost);
        ref = got.ref;
        fetcher = got.startedAt !== undefined; // a new key's first request is its fetcher (init set FETCH)
      }
    } catch (e) {
      if (!(e instanceof CapacityError)) throw e;
      // No room for an allowance: decide this request alone, at Redis.
      return this.count(key, cost, (await this.global.lease(key, cost, cost)).decision, 'remote');
    }
    const at = ref.slot * WORDS_PER_SLOT;
    const now = nowNs();
    if (!fetcher) {
      const spent = this.spend(ref, cost, now);
      if (spent >= 0) return this.local(spent, now);
      const denied = load64(this.words, at + DENIED);
      if (denied > now) {
        const retryAfterMs = Number(denied - now) / 1e6 + ((cost - 1) * 1000) / this.refillPerSecond; // one token, then the rest
        return this.count(
          key,
          cost,
          {
            allowed: false,
            remaining: 0,
            retryAfterMs,
            resetMs: retryAfterMs,
            limit: this.burst,
            at: Date.now(),
          },
          'local',
        );
      }
      const f = load64(this.words, at + FETCH);
      fetcher = f <= now && compareExchange64(this.words, at + FETCH, f, now + this.fetchNs) === f;
    }
    let got: { took: number; decision: RateLimitDecision };
    try {
      got = await this.global.lease(key, cost, fetcher ? Math.max(this.batch, cost) : cost);
    } finally {
      if (fetcher) store64(this.words, at + FETCH, 0n);
    }
    const d = got.decision;
    const extra = got.took - (d.allowed ? cost : 0);
    if (extra > 0) this.add(ref, extra);
    if (!d.allowed) {
      // Refused by Redis: refuse locally until one token is due (its retry-after, less the rest of its cost).
      const waitNs = BigInt(Math.max(0, Math.round((d.retryAfterMs - ((cost - 1) * 1000) / this.refillPerSecond) * 1e6)));
      store64(this.words, at + DENIED, nowNs() + waitNs);
    }
    return this.count(key, cost, d, 'remote');
  }

  /** Adds `extra` fetched tokens to `ref`'s allowance (replacing expired ones); dropped if the key was retired meanwhile. */
  private add(ref: SlotRef, extra: number): void {
    const at = ref.slot * WORDS_PER_SLOT;
    const now = nowNs();
    const expired = load64(this.words, at + GRANTED) + this.leaseNs <= now;
    store64(this.words, at + GRANTED, now); // before the tokens it dates (see the notes)
    for (;;) {
      const w = load64(this.words, at + WORD);
      if ((w & DEAD) !== 0n || load64(this.starts, ref.slot) !== ref.start) return;
      const tokens = Math.min(Number(TOKEN_MASK), (expired ? 0 : tokensOf(w)) + extra);
      if (compareExchange64(this.words, at + WORD, w, withTokens(w, tokens)) === w) return;
    }
  }

  private count(key: TableKey, n: number, d: RateLimitDecision, where: 'local' | 'remote'): RateLimitDecision {
    if (d.allowed) this.counters[`${where}Allowed`].increment();
    else {
      this.counters[`${where}Denied`].increment();
      if (limitDenied.hasSubscribers) limitDenied.publish({ limiter: this, key, n, decision: d });
    }
    return d;
  }

  /** How KeyedSlots starts, judges and retires a key's allowance. */
  private slotData(): SlotData {
    const words = this.words;
    return {
      init: (slot, now) => {
        const at = slot * WORDS_PER_SLOT;
        const old = load64(words, at + WORD);
        const gen = (((old >> GEN_SHIFT) & GEN_MASK) + 1n) & GEN_MASK; // above the slot's last incarnation
        store64(words, at + GRANTED, 0n);
        store64(words, at + DENIED, 0n);
        store64(words, at + FETCH, now + this.fetchNs); // its first request fetches: not idle before then
        store64(words, at + WORD, gen << GEN_SHIFT);
        return old;
      },
      abandon: (slot, saved) => {
        store64(words, slot * WORDS_PER_SLOT + WORD, saved);
      },
      kill: (slot) => {
        const at = slot * WORDS_PER_SLOT + WORD;
        store64(words, at, load64(words, at) | DEAD);
      },
      isLive: (slot) => (load64(words, slot * WORDS_PER_SLOT + WORD) & DEAD) === 0n,
      retire: (slot, now) => {
        const at = slot * WORDS_PER_SLOT;
        for (;;) {
          const w = load64(words, at + WORD);
          if ((w & DEAD) !== 0n) return WAS_DEAD;
          const expires = tokensOf(w) > 0 ? load64(words, at + GRANTED) + this.leaseNs : 0n;
          const busy = [expires, load64(words, at + FETCH), load64(words, at + DENIED)].reduce((a, b) => (a > b ? a : b));
          if (busy > now) return busy; // idle once its tokens lapse, its fetch ends and its refusal passes
          // Linearization point of the retirement.
          if (compareExchange64(words, at + WORD, w, w | DEAD) === w) return RETIRED;
        }
      },
    };
  }
}
