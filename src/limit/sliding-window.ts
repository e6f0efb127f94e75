/**
 * SlidingWindow: at most `limit` requests per key in any window of
 * `windowMs`, shared by every thread of the process; exact (a ring of
 * timestamps per key) or approximate (two weighted fixed windows).
 */
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { regionBytes, type Region } from '../memory/region.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import { deprecated } from '../options/deprecate.js';
import { custom, duration, integer, oneOf } from '../options/field.js';
import { Mutex, MUTEX_WORDS } from '../sync/mutex.js';
import type { TableKey } from '../table/key.js';
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

const { compareExchange64, load, load64, store, store64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Keys map to slots as in the token bucket (keyed-slots.ts: key -> slot,
 * START incarnation numbers, idle keys retired by sweeps). The slot's state
 * depends on the mode.
 *
 * Exact mode: per slot, Int32 words LOCK (an embedded Mutex, MUTEX_WORDS),
 * HEAD (index of the oldest timestamp), DEAD (1 once retired), then a ring
 * of `limit` Float64 timestamps (ms on the window's clock; -Infinity = never),
 * oldest at HEAD, in the order they were taken. A request of cost n at time
 * now is allowed iff the n-th oldest timestamp is <= now - windowMs (at most
 * limit - n of the ring lies in (now - windowMs, now]); it then overwrites
 * the n oldest with `now` and moves HEAD. So any half-open window of length
 * windowMs holds at most `limit` accepted requests: no burst at the edges.
 * Atomicity: a per-key lock. The ring is `limit` words and a decision reads
 * one and writes n of them plus HEAD; no single CAS covers that, and the
 * lock is per key (threads on different keys never meet). The clock is read
 * inside the lock, so the ring stays in time order. The ring and HEAD are
 * plain reads and writes under the lock (its acquire and release order
 * them). Linearization point: the lock's acquisition (the decision is
 * made on the state as of then, and no one else changes it until the
 * release). A holder that dies poisons the lock; the next holder repairs
 * the ring by sorting it (a half-written request counts as taken, so the
 * window only errs towards refusing) and clears the poison. Retirement
 * (by a sweep) takes the lock with `tryLock` (a held key is not idle) and
 * sets DEAD when the newest timestamp has left the window.
 *
 * Approximate mode (Cloudflare's sliding window counter): per slot one
 * BigInt64 word packing [window number | prev | curr | DEAD bit], where curr
 * counts this fixed window's requests and prev the previous window's. The
 * estimate at elapsed time e into the current window is
 *     prev * (windowMs - e) / windowMs + curr,
 * and a request is allowed iff estimate + n <= limit. One CAS per allowed
 * decision (its linearization point; a refusal's is its load of the word),
 * like the bucket. Counts take c = bits(limit) bits each; the window number
 * keeps min(52, 62 - 2c) bits and wraps: a key untouched for exactly a
 * multiple of 2^that windows would read its old counts as current (more
 * refusals for one window, never more admissions); words grow within a
 * window and across windows until such a wrap. Retired: both windows over.
 */

const LOCK = 0,
  HEAD = MUTEX_WORDS,
  DEAD_FLAG = MUTEX_WORDS + 1; // exact slot Int32 words
const RING_AT = 24; // bytes into an exact slot: the ring of Float64 timestamps
const DEAD = 1n;
const WORDS_PER_LINE = CACHE_LINE_BYTES / 8;

/** Largest `limit` in exact mode (a ring of that many timestamps per key). */
export const MAX_EXACT_LIMIT = 65_536;
/** Largest `limit` in approximate mode (counts packed into the key's word). */
export const MAX_APPROXIMATE_LIMIT = 2 ** 20 - 1;
/** Largest region a window may take (typed views must span it). */
const MAX_REGION_BYTES = 2 ** 31 - 1;

export type SlidingWindowMode = 'exact' | 'approximate';

export interface SlidingWindowOptions {
  /** Requests (units of cost) allowed per key in any window of `windowMs`. */
  readonly limit: number;
  /** The window, in ms of the clock (> 0). */
  readonly windowMs: number;
  /** 'exact' (default: a ring of timestamps, no burst at window edges) or 'approximate' (two weighted fixed windows, one word per key). */
  readonly mode?: SlidingWindowMode;
  /** Keys with state at once (default 10,000); idle keys (nothing in the window) are reclaimed to make room. */
  readonly capacity?: number;
  /** Longest key in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The clock the window slides on (default `systemClock`; a `ManualClock` for tests). */
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

/** The sizes the layout depends on (a handle's options). */
interface Sizes {
  readonly limit: number;
  readonly mode: SlidingWindowMode;
  readonly capacity: number;
  readonly maxKeyBytes: number;
}
/** What a mode's state needs. */
interface StateOptions extends Sizes {
  readonly windowMs: number;
}

const slotSizes = (o: Sizes) => ({ keys: o.capacity, maxKeyBytes: o.maxKeyBytes });
const dataAt = (o: Sizes): number => padToCacheLine(KeyedSlots.byteLength(slotSizes(o)));
const exactStride = (limit: number): number => RING_AT + 8 * limit;
const linesOf = (keys: number): number => Math.ceil(keys / WORDS_PER_LINE);
const dataBytes = (o: Sizes): number => (o.mode === 'exact' ? o.capacity * exactStride(o.limit) : linesOf(o.capacity) * CACHE_LINE_BYTES);

const MODES: readonly SlidingWindowMode[] = ['exact', 'approximate'];
const EXACT_LIMIT = integer({ max: MAX_EXACT_LIMIT });
const APPROXIMATE_LIMIT = integer({ max: MAX_APPROXIMATE_LIMIT });

const DEF = definePrimitive(
  'SlidingWindow',
  1,
  {
    // Its range depends on the mode: a ring of `limit` timestamps per key, or counts packed into one word.
    limit: custom((v, name, all) => (all.mode === 'approximate' ? APPROXIMATE_LIMIT : EXACT_LIMIT).parse(v, name, all)),
    windowMs: duration({ positive: true, infinite: false }),
    mode: oneOf(MODES, 'exact'),
    capacity: integer({ max: MAX_LIMIT_KEYS, default: DEFAULT_LIMIT_KEYS }),
    maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_LIMIT_KEY_BYTES }),
    clock: clock(),
    whenFull: oneOf(WHEN_FULL, 'throw'),
  },
  {
    renamed: { keys: { to: 'capacity', code: 'SABRE_DEP_LIMIT_KEYS' } },
    check: (o) => {
      const bytes = regionBytes(DEF.spec, {
        limit: o.limit,
        windowMs: o.windowMs,
        mode: o.mode,
        capacity: o.capacity,
        maxKeyBytes: o.maxKeyBytes,
        clock: 'system',
        whenFull: o.whenFull,
      });
      if (bytes > MAX_REGION_BYTES) {
        throw new InvalidArgumentError(
          `a ${o.mode} window of limit ${o.limit} for a capacity of ${o.capacity} keys needs ${bytes} bytes; the limit is ${MAX_REGION_BYTES} (a smaller capacity, or mode 'approximate')`,
        );
      }
    },
    bodyBytes: (o) => dataAt(o) + dataBytes(o) + DECISION_COUNTS_BYTES,
  },
);
export type SlidingWindowHandle = HandleOf<typeof DEF>;

/** One mode's per-key state: KeyedSlots' callbacks, and a decision on a validated reference (STALE: not valid). */
interface WindowState extends SlotData {
  decide(ref: SlotRef, n: number, take: boolean): RateLimitDecision | typeof STALE;
  /** The decision for a key with no state (nothing in its window), at `nowMs` (default: the clock's now). */
  fresh(n: number, nowMs?: number): RateLimitDecision;
}
const STALE = 'stale';

/**
 * A sliding-window limit per key, shared by every thread: at most `limit`
 * requests (units of cost) per key in any window of `windowMs`, whichever
 * worker serves them.
 *
 * `mode: 'exact'` (the default) keeps the times of the last `limit` accepted
 * requests of each key, so no window of `windowMs` ever holds more than
 * `limit` of them: unlike a fixed window, a burst at the end of one window
 * and another at the start of the next cannot both pass. `mode:
 * 'approximate'` keeps two counters per key in one word (constant memory per
 * key, one CAS per decision) and estimates the sliding count from the
 * current and previous fixed windows (as Cloudflare does): it can be off
 * when traffic is uneven within a window.
 *
 * The methods are the token bucket's: `tryAcquire`, `check`, `peek`,
 * `retryAfterMs`. A refusal is a returned value, never an exception.
 *
 * Memory synchronization: an allowed decision happens-before every later
 * decision on its key that counts it.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a limit or window that
 *   is zero, negative, NaN or out of range; `n` not an integer in [1, limit];
 *   a key too long; an unknown option (named, with the one likely meant)
 * @throws CapacityError (`ERR_CAPACITY`) when a new key finds all `capacity`
 *   slots held by keys with requests still in their window
 *
 * @example
 * ```ts
 * const logins = new SlidingWindow({ limit: 5, windowMs: 60_000, mode: 'exact' });
 * const d = logins.check(`login:${username}`);
 * if (!d.allowed) return reply(429, rateLimitHeaders(d, logins.policy));
 * ```
 * @remarks Since 0.1
 */
export class SlidingWindow {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: SlidingWindowHandle;
  readonly clock: Clock;
  readonly limit: number;
  readonly windowMs: number;
  readonly mode: SlidingWindowMode;
  /** Keys with state at once. */
  readonly capacity: number;
  /** What a new key gets when the key table is full of live keys. */
  readonly whenFull: WhenFull;
  private readonly slots: KeyedSlots;
  private readonly state: WindowState;
  private readonly decisions: DecisionCounts;

  constructor(options: SlidingWindowOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    const mode = created ? 'create' : 'open';
    this.handle = region.handle;
    this.limit = o.limit;
    this.windowMs = o.windowMs;
    this.mode = o.mode;
    this.capacity = o.capacity;
    this.whenFull = o.whenFull;
    const nowNs = nanoClock(this.clock);
    const getStarts = () => this.slots.starts;
    this.state =
      o.mode === 'exact'
        ? new ExactRings(region, dataAt(o), o, this.clock, getStarts)
        : new ApproximateCounts(region, dataAt(o), o, this.clock, getStarts, mode);
    this.slots = new KeyedSlots(region, 0, slotSizes(o), mode, this.state, nowNs);
    this.decisions = new DecisionCounts(region, dataAt(o) + dataBytes(o), mode, this);
  }

  /** Re-opens a window from its handle, in any thread. @throws HandleError */
  static from(handle: SlidingWindowHandle): SlidingWindow {
    return new SlidingWindow(DEF.open(handle));
  }

  /** Bytes a window of these options takes. */
  static byteLength(options: SlidingWindowOptions): number {
    return DEF.byteLength(options);
  }

  /** @deprecated Use `capacity` (`SABRE_DEP_LIMIT_KEYS`). */
  get keys(): number {
    deprecated('SABRE_DEP_LIMIT_KEYS', 'SlidingWindow#keys');
    return this.capacity;
  }

  /** The policy to advertise (`rateLimitHeaders`): `limit` per `windowMs`. */
  get policy(): RateLimitPolicy {
    return { name: 'default', quota: this.limit, windowMs: this.windowMs };
  }

  /** Keys that have state now (idle ones included until they are reclaimed). */
  get size(): number {
    return this.slots.size;
  }

  /** The key table: keys with state, capacity, and new keys that found it full (every thread's). */
  stats(): LimiterStats {
    return { ...this.slots.stats(this.capacity), ...this.decisions.sums() };
  }

  /** Counts `n` requests (default 1) for `key` if its window has room for them. */
  tryAcquire(key: TableKey, n = 1): boolean {
    return this.decide(key, costOf(n, this.limit, "window's limit"), true).allowed
      ? this.decisions.allowed()
      : this.decisions.denied(key, n, undefined);
  }

  /** Counts `n` requests if the window has room, and says why or why not. */
  check(key: TableKey, n = 1): RateLimitDecision {
    return this.decisions.count(key, n, this.decide(key, costOf(n, this.limit, "window's limit"), true));
  }

  /** What `check(key, n)` would answer now, without counting anything. */
  peek(key: TableKey, n = 1): RateLimitDecision {
    return this.decide(key, costOf(n, this.limit, "window's limit"), false);
  }

  /** Ms until `key`'s window has room for `n` more (0: now). */
  retryAfterMs(key: TableKey, n = 1): number {
    return this.peek(key, n).retryAfterMs;
  }

  /** Retires every idle key now (a new key that finds no room does this by itself). Returns how many. */
  reclaimIdle(): number {
    return this.slots.reclaim();
  }

  private decide(key: TableKey, n: number, take: boolean): RateLimitDecision {
    let ref = this.slots.find(key);
    for (;;) {
      if (ref === undefined) {
        if (!take) return this.state.fresh(n);
        let got;
        try {
          got = this.slots.acquire(key, n);
        } catch (e) {
          if (!(e instanceof CapacityError)) throw e;
          // A key goes idle once its window holds nothing: that is when room can be made.
          return fullDecision(this.whenFull, e, this.limit, this.clock.now(), this.windowMs);
        }
        // A new key starts with this request counted (linearization point: the insert of its mapping).
        if (got.startedAt !== undefined) return this.state.fresh(n, Number(got.startedAt) / 1e6);
        ref = got.ref;
      }
      const d = this.state.decide(ref, n, take);
      if (d !== STALE) return d;
      // The key was retired (or its slot reused) since it was looked up: look again.
      this.slots.forget(key);
      const again = this.slots.find(key);
      ref = again !== undefined && this.slots.isValid(again) ? again : undefined;
    }
  }
}

// ---- exact: a ring of timestamps per key, under the key's lock ---------------

class ExactRings implements WindowState {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** Int32 words and Float64 elements per slot. */
  private readonly stride32: number;
  private readonly stride64: number;
  private readonly ringAt64: number;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly mutexes: (Mutex | undefined)[] = [];

  constructor(
    region: Region,
    at: number,
    o: StateOptions,
    private readonly clock: Clock,
    private readonly starts: () => BigInt64Array,
  ) {
    const bytes = o.capacity * exactStride(o.limit);
    this.i32 = region.i32(at, bytes / 4);
    this.f64 = new Float64Array(region.buffer, region.bodyOffset + at, bytes / 8);
    this.stride32 = exactStride(o.limit) / 4;
    this.stride64 = exactStride(o.limit) / 8;
    this.ringAt64 = RING_AT / 8;
    this.limit = o.limit;
    this.windowMs = o.windowMs;
  }

  decide(ref: SlotRef, n: number, take: boolean): RateLimitDecision | typeof STALE {
    const mutex = this.lock(ref.slot);
    try {
      // Linearization point: the lock's acquisition (above). Validation under the lock.
      const base = ref.slot * this.stride32;
      if (load(this.i32, base + DEAD_FLAG) !== 0 || load64(this.starts(), ref.slot) !== ref.start) return STALE;
      const now = this.clock.now();
      const L = this.limit,
        ring = ref.slot * this.stride64 + this.ringAt64;
      const f64 = this.f64;
      let head = this.i32[base + HEAD]!;
      const horizon = now - this.windowMs;
      const nth = f64[ring + ((head + n - 1) % L)]!;
      const allowed = nth <= horizon;
      if (allowed && take) {
        for (let i = 0; i < n; i++) f64[ring + ((head + i) % L)] = now;
        head = (head + n) % L;
        this.i32[base + HEAD] = head;
      }
      const inWindow = this.countAfter(ring, head, horizon) + (allowed && !take ? n : 0);
      const newest = allowed && !take ? now : f64[ring + ((head + L - 1) % L)]!;
      return {
        allowed,
        remaining: L - inWindow,
        retryAfterMs: allowed ? 0 : nth + this.windowMs - now,
        resetMs: newest > horizon ? newest + this.windowMs - now : 0,
        limit: L,
        at: now,
      };
    } finally {
      mutex.unlock();
    }
  }

  fresh(n: number, nowMs = this.clock.now()): RateLimitDecision {
    return { allowed: true, remaining: this.limit - n, retryAfterMs: 0, resetMs: this.windowMs, limit: this.limit, at: nowMs };
  }

  /** Timestamps of the ring (oldest at `head`) later than `horizon`: a binary search, the ring being in time order. */
  private countAfter(ring: number, head: number, horizon: number): number {
    const L = this.limit;
    let lo = 0,
      hi = L; // the first position (from head) whose time is > horizon
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.f64[ring + ((head + mid) % L)]! > horizon) hi = mid;
      else lo = mid + 1;
    }
    return L - lo;
  }

  /** Takes slot `slot`'s lock, repairing the ring if a holder died mid-decision. */
  private lock(slot: number): Mutex {
    const mutex = (this.mutexes[slot] ??= Mutex.embedded(
      this.i32.subarray(slot * this.stride32 + LOCK, slot * this.stride32 + LOCK + MUTEX_WORDS),
    ));
    mutex.lock({ ignorePoison: true });
    if (mutex.isPoisoned) {
      this.repair(slot);
      mutex.clearPoison();
    }
    return mutex;
  }

  /** A holder died while writing the ring: put it back in time order, oldest first (what it wrote counts as taken). */
  private repair(slot: number): void {
    const ring = slot * this.stride64 + this.ringAt64;
    const times = Array.from(this.f64.subarray(ring, ring + this.limit)).sort((a, b) => a - b);
    this.f64.set(times, ring);
    this.i32[slot * this.stride32 + HEAD] = 0;
  }

  init(slot: number, nowNs: bigint, n: number): bigint {
    const mutex = this.lock(slot);
    try {
      // Oldest first from HEAD = n: the never-used (-Infinity), then the first request's n timestamps.
      const ring = slot * this.stride64 + this.ringAt64;
      this.f64.fill(Number(nowNs) / 1e6, ring, ring + n);
      this.f64.fill(-Infinity, ring + n, ring + this.limit);
      this.i32[slot * this.stride32 + HEAD] = n % this.limit;
      store(this.i32, slot * this.stride32 + DEAD_FLAG, 0);
    } finally {
      mutex.unlock();
    }
    return 0n;
  }

  abandon(slot: number): void {
    this.kill(slot);
  }

  kill(slot: number): void {
    const mutex = this.lock(slot);
    store(this.i32, slot * this.stride32 + DEAD_FLAG, 1);
    mutex.unlock();
  }

  isLive(slot: number): boolean {
    return load(this.i32, slot * this.stride32 + DEAD_FLAG) === 0;
  }

  retire(slot: number, nowNs: bigint): bigint | typeof RETIRED | typeof WAS_DEAD {
    const mutex = (this.mutexes[slot] ??= Mutex.embedded(
      this.i32.subarray(slot * this.stride32 + LOCK, slot * this.stride32 + LOCK + MUTEX_WORDS),
    ));
    if (!mutex.tryLock({ ignorePoison: true })) return nowNs; // in use now: maybe idle soon
    try {
      if (mutex.isPoisoned) {
        this.repair(slot);
        mutex.clearPoison();
      }
      const base = slot * this.stride32;
      if (load(this.i32, base + DEAD_FLAG) !== 0) return WAS_DEAD;
      const ring = slot * this.stride64 + this.ringAt64;
      const newest = this.f64[ring + ((this.i32[base + HEAD]! + this.limit - 1) % this.limit)]!;
      const nowMs = Number(nowNs) / 1e6;
      if (newest > nowMs - this.windowMs) return BigInt(Math.ceil((newest + this.windowMs) * 1e6));
      // Linearization point of the retirement (under the lock).
      store(this.i32, base + DEAD_FLAG, 1);
      return RETIRED;
    } finally {
      mutex.unlock();
    }
  }
}

// ---- approximate: two weighted fixed windows in one word per key -------------

class ApproximateCounts implements WindowState {
  private readonly words: BigInt64Array;
  private readonly lines: number;
  private readonly limit: number;
  private readonly windowMs: number;
  /** Bits per count, and the window number's modulus. */
  private readonly countScale: number;
  private readonly windowShift: bigint;
  private readonly lowMask: bigint;
  private readonly modulus: number;

  constructor(
    region: Region,
    at: number,
    o: StateOptions,
    private readonly clock: Clock,
    private readonly starts: () => BigInt64Array,
    mode: 'create' | 'open',
  ) {
    this.lines = linesOf(o.capacity);
    this.words = region.i64(at, this.lines * WORDS_PER_LINE);
    this.limit = o.limit;
    this.windowMs = o.windowMs;
    const c = Math.ceil(Math.log2(o.limit + 1));
    this.countScale = 2 ** c;
    this.windowShift = BigInt(2 * c + 1);
    this.lowMask = (1n << this.windowShift) - 1n;
    this.modulus = 2 ** Math.min(52, 62 - 2 * c);
    if (mode === 'create') this.words.fill(DEAD); // before publication: never-used slots are dead
  }

  decide(ref: SlotRef, n: number, take: boolean): RateLimitDecision | typeof STALE {
    const now = this.clock.now();
    const W = this.windowMs;
    const id = Math.floor(now / W);
    const elapsed = now - id * W;
    const wid = this.mod(id);
    const at = this.wordAt(ref.slot);
    for (;;) {
      const w = load64(this.words, at);
      if ((w & DEAD) !== 0n || load64(this.starts(), ref.slot) !== ref.start) return STALE;
      const { prev, curr } = this.counts(w, wid);
      const estimate = (prev * (W - elapsed)) / W + curr;
      const allowed = estimate + n <= this.limit;
      if (allowed && take) {
        // Linearization point of an allowed decision.
        if (compareExchange64(this.words, at, w, this.encode(wid, prev, curr + n)) !== w) continue;
      }
      // A refusal (or a peek): at the load of w.
      return this.decision(allowed, n, prev, curr, elapsed, now);
    }
  }

  fresh(n: number, now = this.clock.now()): RateLimitDecision {
    return this.decision(true, n, 0, 0, now - Math.floor(now / this.windowMs) * this.windowMs, now);
  }

  private decision(allowed: boolean, n: number, prev: number, curr: number, elapsed: number, now: number): RateLimitDecision {
    return approximateDecision(this.windowMs, this.limit, allowed, n, prev, curr, elapsed, now);
  }

  /** The counts of word `w` as seen from window `wid`: the previous and current window's. */
  private counts(w: bigint, wid: number): { prev: number; curr: number } {
    const d = this.mod(wid - Number(w >> this.windowShift));
    if (d >= 2) return { prev: 0, curr: 0 };
    const low = Number(w & this.lowMask) / 2;
    const curr = low % this.countScale;
    return d === 0 ? { prev: Math.floor(low / this.countScale), curr } : { prev: curr, curr: 0 };
  }

  private encode(wid: number, prev: number, curr: number): bigint {
    return (BigInt(wid) << this.windowShift) | BigInt(2 * (prev * this.countScale + curr));
  }

  private mod(x: number): number {
    return ((x % this.modulus) + this.modulus) % this.modulus;
  }

  private wordAt(slot: number): number {
    return (slot % this.lines) * WORDS_PER_LINE + Math.floor(slot / this.lines);
  }

  init(slot: number, nowNs: bigint, n: number): bigint {
    const at = this.wordAt(slot);
    const old = load64(this.words, at);
    store64(this.words, at, this.encode(this.mod(Math.floor(Number(nowNs) / 1e6 / this.windowMs)), 0, n));
    return old;
  }

  abandon(slot: number, saved: bigint): void {
    store64(this.words, this.wordAt(slot), saved);
  }

  kill(slot: number): void {
    const at = this.wordAt(slot);
    store64(this.words, at, load64(this.words, at) | DEAD);
  }

  isLive(slot: number): boolean {
    return (load64(this.words, this.wordAt(slot)) & DEAD) === 0n;
  }

  retire(slot: number, nowNs: bigint): bigint | typeof RETIRED | typeof WAS_DEAD {
    const at = this.wordAt(slot);
    const id = Math.floor(Number(nowNs) / 1e6 / this.windowMs);
    for (;;) {
      const w = load64(this.words, at);
      if ((w & DEAD) !== 0n) return WAS_DEAD;
      const { prev, curr } = this.counts(w, this.mod(id));
      if (prev > 0 || curr > 0) {
        // Idle once both windows with counts have passed.
        const windows = curr > 0 ? 2 : 1;
        return BigInt(Math.ceil((id + windows) * this.windowMs * 1e6));
      }
      // Linearization point of the retirement.
      if (compareExchange64(this.words, at, w, w | DEAD) === w) return RETIRED;
    }
  }
}

/**
 * The approximate window's decision on counts (prev, curr) as of `elapsed`
 * ms into the current window of `W` (before taking n): shared by the
 * shared-memory and the Redis window.
 */
export function approximateDecision(
  W: number,
  L: number,
  allowed: boolean,
  n: number,
  prev: number,
  curr: number,
  elapsed: number,
  now: number,
): RateLimitDecision {
  const c = allowed ? curr + n : curr;
  const estimate = (prev * (W - elapsed)) / W + c;
  let retryAfterMs = 0;
  if (!allowed) {
    // Within this window the previous window's weight fades; if this window alone is too full, wait for the next.
    retryAfterMs = curr + n <= L ? W - elapsed - ((L - curr - n) * W) / prev : W - elapsed + Math.max(0, W - ((L - n) * W) / curr);
  }
  return {
    allowed,
    remaining: Math.max(0, Math.floor(L - estimate)),
    retryAfterMs: Math.max(0, retryAfterMs),
    resetMs: c > 0 ? 2 * W - elapsed : prev > 0 ? W - elapsed : 0,
    limit: L,
    at: now,
  };
}
