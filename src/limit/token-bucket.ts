/**
 * TokenBucket: a rate limit per key (a client, a user, an API key), shared by
 * every thread of the process, decided by GCRA in one compare-and-swap.
 */
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import type { TableKey } from '../table/key.js';
import { integer, number, oneOf } from '../options/field.js';
import { deprecated } from '../options/deprecate.js';
import {
  costOf,
  fullDecision,
  WHEN_FULL,
  type LimiterStats,
  type RateLimitDecision,
  type RateLimitPolicy,
  type WhenFull,
} from './decision.js';
import {
  DEFAULT_LIMIT_KEYS,
  DEFAULT_MAX_LIMIT_KEY_BYTES,
  KeyedSlots,
  MAX_LIMIT_KEYS,
  RETIRED,
  WAS_DEAD,
  type SlotData,
  type SlotRef,
} from './keyed-slots.js';
import { nanoClock } from './nanos.js';
import { DECISION_COUNTS_BYTES, DecisionCounts } from './decision-counts.js';

const { compareExchange64, load64, store64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * GCRA (the generic cell rate algorithm of ATM networks, as in Brandur
 * Leach's redis-cell): a key's whole state is its theoretical arrival time
 * TAT, the time at which its bucket would be full again. With emission
 * interval T = 1 / refillPerSecond and burst tolerance tau = burst * T,
 * a request of cost n at time now is allowed iff
 *     max(TAT, now) + n*T - now <= tau,
 * and then TAT := max(TAT, now) + n*T. A fresh key (TAT <= now) allows a
 * burst of `burst` tokens, then one token per T. Over any interval [a, b],
 * accepted cost <= burst + (b - a) / T, in whatever order threads with
 * different `now`s reach the CAS (TAT only grows, by n*T per acceptance, and
 * never ends above now + tau).
 *
 * The word: one BigInt64 per key, W = 2 * TAT (TAT in whole nanoseconds of
 * the clock, the fixed-point unit), the low bit set once the key is retired
 * (DEAD). T is rounded up to a whole nanosecond (so the bucket never admits
 * more than the configured rate; exact for rates that divide 1e9), and
 * tau <= MAX_REFILL_NS keeps 2 * (now + tau) inside 63 bits for any clock
 * within 2^61 ns (73 years) of its zero.
 *
 * Words live in an array of one word per slot of the keys (keyed-slots.ts:
 * key -> slot, START incarnation numbers, reclamation). Consecutive slots are
 * spread over different 128-byte lines (slot s is word (s % lines) * 16 +
 * s / lines), so keys started one after another by different threads do
 * not share a line. After the words: the decision counts `stats()` sums
 * (decision-counts.ts: one striped counter each for allowed and denied).
 *
 * Linearization points: an allowed decision at its CAS from W to the new
 * word; a refused one (and `peek`) at its load of W (then validated: the
 * word was live and START unchanged, so W was this key's state at that
 * load). A decision is one CAS: no lock, nothing for a dying thread to
 * leave half done. A key's retirement (by a sweep, when its bucket is full
 * again: TAT < now) is the CAS from W to W | DEAD; a thread that read W
 * before fails its CAS, then finds the word dead and starts the key again
 * (a full bucket, exactly the state it retired). New incarnations start at
 * max(2 * now, dead word + 1) (a full bucket) less the first request's
 * cost, which is taken as the key's mapping is inserted (that insert is its
 * linearization point). So a slot's words only grow: a stale CAS can never
 * succeed on another key's state (see keyed-slots.ts).
 */

const DEAD = 1n;
/** Below every word: what never-used slots hold (dead), so a new key starts at 2 * now whatever the clock. */
const MIN_WORD = -(1n << 63n) + 1n;
const WORDS_PER_LINE = CACHE_LINE_BYTES / 8;

/** Longest time a full bucket may take to refill (burst / refillPerSecond): 2^56 ns, about 834 days. */
export const MAX_REFILL_NS = 2n ** 56n;
/** Largest burst. */
export const MAX_BUCKET_CAPACITY = 2 ** 30;

export interface TokenBucketOptions {
  /** Tokens a full bucket holds: the largest burst (an integer >= 1). */
  readonly burst: number;
  /** Tokens added per second (> 0; at most 1e9). */
  readonly refillPerSecond: number;
  /** Keys with state at once (default 10,000); idle keys (full buckets) are reclaimed to make room. */
  readonly capacity?: number;
  /** Longest key in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The clock tokens refill on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  /**
   * What a new key gets when every key slot holds a key that is not idle
   * yet: `'throw'` a CapacityError (default), `'fail-open'` (allowed,
   * untracked) or `'fail-closed'` (refused, retry after the time a key takes
   * to go idle). `stats().refusedWhenFull` counts each such decision.
   */
  readonly whenFull?: WhenFull;
  readonly arena?: SharedArena;
  /** @deprecated Use `capacity` (`SABRE_DEP_LIMIT_KEYS`). */
  readonly keys?: number;
}

/**
 * The options before `burst` existed, when `capacity` counted tokens and
 * `keys` the keys: still accepted, with a `SABRE_DEP_BUCKET_CAPACITY` warning.
 * @deprecated Use `{ burst, refillPerSecond, capacity }`.
 */
export interface LegacyTokenBucketOptions extends Omit<TokenBucketOptions, 'burst' | 'capacity'> {
  /** @deprecated Tokens a full bucket holds: now `burst`. */
  readonly capacity: number;
  readonly burst?: undefined;
}

/** The emission interval T in ns (rounded up) for a rate. */
function intervalNs(refillPerSecond: number): bigint {
  return BigInt(Math.ceil(1e9 / refillPerSecond));
}

const DEF = definePrimitive(
  'TokenBucket',
  1,
  {
    burst: integer({ max: MAX_BUCKET_CAPACITY }),
    refillPerSecond: number({ above: 0, max: 1e9, unit: 'tokens per second' }),
    capacity: integer({ max: MAX_LIMIT_KEYS, default: DEFAULT_LIMIT_KEYS }),
    maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_LIMIT_KEY_BYTES }),
    clock: clock(),
    whenFull: oneOf(WHEN_FULL, 'throw'),
  },
  {
    // Before `burst`, `capacity` counted tokens (and `keys` the keys): an options object without `burst` is that shape.
    legacy: (raw, where) => {
      if (raw.burst !== undefined || raw.capacity === undefined) return { ...raw };
      deprecated('SABRE_DEP_BUCKET_CAPACITY', where);
      const { capacity, ...rest } = raw;
      return { ...rest, burst: capacity };
    },
    renamed: { keys: { to: 'capacity', code: 'SABRE_DEP_LIMIT_KEYS' } },
    check: (o) => {
      // Compared as numbers first: 1e9 / 5e-323 is Infinity, which no BigInt can hold.
      if (o.burst / o.refillPerSecond > Number(MAX_REFILL_NS) / 1e9 || BigInt(o.burst) * intervalNs(o.refillPerSecond) > MAX_REFILL_NS) {
        throw new InvalidArgumentError(
          `burst / refillPerSecond (the time a full bucket takes to refill) must be at most 2^56 ns (about 834 days), got ${(o.burst / o.refillPerSecond / 86_400).toFixed(1)} days`,
        );
      }
    },
    bodyBytes: (o) => statsAt(o.capacity, o.maxKeyBytes) + DECISION_COUNTS_BYTES,
  },
);
export type TokenBucketHandle = HandleOf<typeof DEF>;

const linesOf = (keys: number): number => Math.ceil(keys / WORDS_PER_LINE);
const wordsAt = (keys: number, maxKeyBytes: number): number => padToCacheLine(KeyedSlots.byteLength({ keys, maxKeyBytes }));
const statsAt = (keys: number, maxKeyBytes: number): number => wordsAt(keys, maxKeyBytes) + linesOf(keys) * CACHE_LINE_BYTES;

/**
 * A token bucket per key, shared by every thread: all workers enforce one
 * budget per client, so a client spreading requests over N workers gets its
 * limit, not N times it.
 *
 * Each key's bucket holds up to `burst` tokens and refills at
 * `refillPerSecond`; a request takes `n` tokens (default 1). `tryAcquire`
 * answers true or false; `check` answers why (remaining tokens, when to
 * retry, when the bucket is full again); `peek` answers the same without
 * taking anything. A refusal is a returned value, never an exception or a
 * rejected promise, and costs no more than an acceptance. Each decision is
 * one atomic step on one 64-bit word (GCRA): no lock.
 *
 * Keys are strings or `Uint8Array`s of at most `maxKeyBytes` UTF-8 bytes; at
 * most `capacity` of them have state at once. A key whose bucket is full again
 * is idle (it is as if it had never been seen) and its room is reclaimed
 * when a new key needs it, so a stream of new clients never fills the table.
 *
 * Memory synchronization: an allowed decision happens-before every later
 * decision on its key that sees its tokens taken.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a burst or rate
 *   that is zero, negative, NaN or out of range; `n` not an integer in
 *   [1, burst] (a larger request could never pass); a key too long; an
 *   unknown option
 * @throws CapacityError (`ERR_CAPACITY`) when a new key finds all `capacity`
 *   slots held by keys that are not idle
 *
 * @example
 * ```ts
 * const perClient = new TokenBucket({ burst: 20, refillPerSecond: 5, capacity: 100_000 });
 * // in any worker, with TokenBucket.from(handle):
 * const d = perClient.check(`ip:${req.ip}`);
 * if (!d.allowed) return reply(429, rateLimitHeaders(d, perClient.policy));
 * ```
 * @remarks Since 0.1
 */
export class TokenBucket {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: TokenBucketHandle;
  readonly clock: Clock;
  /** Tokens a full bucket holds: the largest burst. */
  readonly burst: number;
  readonly refillPerSecond: number;
  /** Keys with state at once. */
  readonly capacity: number;
  /** What a new key gets when the key table is full of live keys. */
  readonly whenFull: WhenFull;
  private readonly slots: KeyedSlots;
  private readonly decisions: DecisionCounts;
  private readonly words: BigInt64Array;
  private readonly starts: BigInt64Array;
  private readonly lines: number;
  private readonly nowNs: () => bigint;
  /** 2T and 2 * tau: the word's units. */
  private readonly t2: bigint;
  private readonly tau2: bigint;

  constructor(options: TokenBucketOptions);
  /** @deprecated `capacity` counted tokens: give `{ burst, refillPerSecond, capacity }` (`SABRE_DEP_BUCKET_CAPACITY`). */
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the deprecated overload names the deprecated shape
  constructor(options: LegacyTokenBucketOptions);
  /** @internal */
  constructor(opened: OpenedOf<typeof DEF>);
  constructor(options: unknown) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    const mode = created ? 'create' : 'open';
    this.handle = region.handle;
    this.burst = o.burst;
    this.refillPerSecond = o.refillPerSecond;
    this.capacity = o.capacity;
    this.whenFull = o.whenFull;
    this.lines = linesOf(o.capacity);
    this.words = region.i64(wordsAt(o.capacity, o.maxKeyBytes), this.lines * WORDS_PER_LINE);
    if (mode === 'create') this.words.fill(MIN_WORD); // before publication: plain writes
    this.t2 = 2n * intervalNs(o.refillPerSecond);
    this.tau2 = BigInt(o.burst) * this.t2;
    this.nowNs = nanoClock(this.clock);
    this.slots = new KeyedSlots(region, 0, { keys: o.capacity, maxKeyBytes: o.maxKeyBytes }, mode, this.slotData(), this.nowNs);
    this.starts = this.slots.starts;
    this.decisions = new DecisionCounts(region, statsAt(o.capacity, o.maxKeyBytes), mode, this);
  }

  /** Re-opens a bucket from its handle, in any thread. @throws HandleError */
  static from(handle: TokenBucketHandle): TokenBucket {
    return new TokenBucket(DEF.open(handle));
  }

  /** Bytes a bucket of these options takes. */
  static byteLength(options: TokenBucketOptions): number;
  /** @deprecated `capacity` counted tokens: give `{ burst, refillPerSecond, capacity }` (`SABRE_DEP_BUCKET_CAPACITY`). */
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the deprecated overload names the deprecated shape
  static byteLength(options: LegacyTokenBucketOptions): number;
  static byteLength(options: unknown): number {
    return DEF.byteLength(options);
  }

  /** @deprecated Use `capacity` (`SABRE_DEP_LIMIT_KEYS`). */
  get keys(): number {
    deprecated('SABRE_DEP_LIMIT_KEYS', 'TokenBucket#keys');
    return this.capacity;
  }

  /** The policy to advertise (`rateLimitHeaders`): `burst` per the time a full bucket takes to refill. */
  get policy(): RateLimitPolicy {
    return { name: 'default', quota: this.burst, windowMs: (this.burst / this.refillPerSecond) * 1000 };
  }

  /** Keys that have state now (idle ones included until they are reclaimed). */
  get size(): number {
    return this.slots.size;
  }

  /** The key table (keys with state, capacity, new keys that found it full) and the decisions, of every thread. */
  stats(): LimiterStats {
    return { ...this.slots.stats(this.capacity), ...this.decisions.sums() };
  }

  /** Takes `n` tokens (default 1) from `key`'s bucket if it has them. */
  tryAcquire(key: TableKey, n = 1): boolean {
    const cost = n === 1 ? this.t2 : BigInt(costOf(n, this.burst, "bucket's burst")) * this.t2;
    const ref = this.slots.find(key);
    if (ref !== undefined) {
      const words = this.words,
        at = this.wordAt(ref.slot);
      for (;;) {
        const w = load64(words, at);
        // The clock is read after w: a writer of w read its own clock before its CAS, so this
        // reading is never earlier than the one w was computed from (a retry-after never exceeds T).
        const now2 = this.nowNs() * 2n;
        // Validation: live, and still the incarnation the reference names (else: the slow path looks again).
        if ((w & DEAD) !== 0n || load64(this.starts, ref.slot) !== ref.start) break;
        const next = (w > now2 ? w : now2) + cost;
        if (next - now2 > this.tau2) return this.decisions.denied(key, n, undefined); // refused: at the load of w
        // Linearization point of an allowed decision.
        if (compareExchange64(words, at, w, next) === w) return this.decisions.allowed();
      }
    }
    return this.decide(key, cost, true).allowed ? this.decisions.allowed() : this.decisions.denied(key, n, undefined);
  }

  /** Takes `n` tokens if `key` has them, and says why or why not. */
  check(key: TableKey, n = 1): RateLimitDecision {
    return this.decisions.count(key, n, this.decide(key, BigInt(costOf(n, this.burst, "bucket's burst")) * this.t2, true));
  }

  /** What `check(key, n)` would answer now, without taking anything. */
  peek(key: TableKey, n = 1): RateLimitDecision {
    return this.decide(key, BigInt(costOf(n, this.burst, "bucket's burst")) * this.t2, false);
  }

  /** Ms until `key` could take `n` tokens (0: now). */
  retryAfterMs(key: TableKey, n = 1): number {
    return this.peek(key, n).retryAfterMs;
  }

  /**
   * Retires every idle key now (a new key that finds no room does this by
   * itself). Returns how many it retired.
   */
  reclaimIdle(): number {
    return this.slots.reclaim();
  }

  /** One decision; `cost` in word units (2 n T). */
  private decide(key: TableKey, cost: bigint, take: boolean): RateLimitDecision {
    let ref: SlotRef | undefined = this.slots.find(key);
    for (;;) {
      if (ref === undefined) {
        if (!take) return this.decision(true, this.nowNs(), MIN_WORD, cost); // no state: a full bucket
        let got;
        try {
          got = this.slots.acquire(key, Number(cost / this.t2));
        } catch (e) {
          if (!(e instanceof CapacityError)) throw e;
          // A full bucket goes idle after burst × T: that is when room can be made.
          return fullDecision(this.whenFull, e, this.burst, Number(this.nowNs()) / 1e6, (this.burst / this.refillPerSecond) * 1000);
        }
        // A new key starts with this request taken (linearization point: the insert of its mapping).
        if (got.startedAt !== undefined) return this.decision(true, got.startedAt, MIN_WORD, cost);
        ref = got.ref;
      }
      const at = this.wordAt(ref.slot);
      for (;;) {
        const w = load64(this.words, at);
        const now = this.nowNs(); // after w, as in tryAcquire
        const now2 = now * 2n;
        if ((w & DEAD) !== 0n || load64(this.starts, ref.slot) !== ref.start) break;
        const next = (w > now2 ? w : now2) + cost;
        const allowed = next - now2 <= this.tau2;
        if (!allowed || !take) return this.decision(allowed, now, w, cost);
        if (compareExchange64(this.words, at, w, next) === w) return this.decision(true, now, w, cost);
      }
      // The key was retired (or its slot reused) since it was looked up: look again.
      this.slots.forget(key);
      const again = this.slots.find(key);
      ref = again !== undefined && this.slots.isValid(again) ? again : undefined;
    }
  }

  /** The decision at `now` (ns) for a key whose word was `w` before it (MIN_WORD: no state) and a request of `cost`. */
  private decision(allowed: boolean, now: bigint, w: bigint, cost: bigint): RateLimitDecision {
    const now2 = now * 2n;
    const base = w > now2 ? w : now2;
    const after = allowed ? base + cost : base; // the word after the decision
    const ahead = after - now2; // 2 * (ns until the bucket is full)
    return {
      allowed,
      remaining: ahead >= this.tau2 ? 0 : Number((this.tau2 - ahead) / this.t2),
      retryAfterMs: allowed ? 0 : Number((base + cost - this.tau2 - now2) / 2n) / 1e6,
      resetMs: Number(ahead / 2n) / 1e6,
      limit: this.burst,
      at: Number(now) / 1e6,
    };
  }

  private wordAt(slot: number): number {
    return (slot % this.lines) * WORDS_PER_LINE + Math.floor(slot / this.lines);
  }

  /** How KeyedSlots starts, judges and retires a key's word. */
  private slotData(): SlotData {
    return {
      init: (slot, nowNs, n) => {
        const at = this.wordAt(slot);
        const old = load64(this.words, at);
        const above = (old | DEAD) + 1n; // above every word this slot held: words only grow
        const full = nowNs * 2n;
        store64(this.words, at, (full > above ? full : above) + BigInt(n) * this.t2); // a full bucket, less the first request
        return old;
      },
      abandon: (slot, saved) => {
        store64(this.words, this.wordAt(slot), saved);
      },
      kill: (slot) => {
        const at = this.wordAt(slot);
        store64(this.words, at, load64(this.words, at) | DEAD);
      },
      isLive: (slot) => (load64(this.words, this.wordAt(slot)) & DEAD) === 0n,
      retire: (slot, nowNs) => {
        const at = this.wordAt(slot);
        const now2 = nowNs * 2n;
        for (;;) {
          const w = load64(this.words, at);
          if ((w & DEAD) !== 0n) return WAS_DEAD;
          if (w >= now2) return w / 2n + 1n; // full again (idle) once now passes TAT
          // Linearization point of the retirement.
          if (compareExchange64(this.words, at, w, w | DEAD) === w) return RETIRED;
        }
      },
    };
  }
}
