/**
 * StripedCounter: a sum that many threads add to without contending, as
 * java.util.concurrent's `LongAdder` (over `Striped64`).
 */
import { availableParallelism } from 'node:os';
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { Region } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { custom } from '../options/field.js';
import { InvalidArgumentError } from '../errors.js';
import { finiteInteger, integerIn } from '../validate.js';

const { add, add64, exchange, exchange64, load, load64, sub } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Layout (region body, one 128-byte block each, CACHE_LINE_BYTES):
 *   block 0      BASE     BigInt64 at byte 0: carries from the stripes and large deltas
 *   block 1 + i  STRIPE i Int32 at the block's first word, i in [0, stripes)
 * A thread uses stripe `threadId & (stripes - 1)` (fixed for its life; Node's
 * threadIds are sequential, so the first `stripes` threads get one each).
 * Stripes are padded to whole blocks so two threads' stripes never share a
 * cache line (or an adjacent-line prefetch pair); BASE is written once per
 * 2^30 of a stripe's movement, so it shares no hot line either.
 *
 * The value is BASE + Σ stripes, exactly, whenever no add is in flight.
 *
 * add(d), |d| < 2^30 (the fast path): one `Atomics.add` on the stripe, which
 * returns the previous value p; the adder computes m = p + d exactly (a double).
 * If |m| < CARRY_AT (2^30) it is done. Otherwise it carries (`carrySlow`):
 *   - if m left the Int32 range, the stripe now holds m - 2^32·k (k = ±1) and
 *     the adder owes BASE 2^32·k (a wrap is only possible when |p| > 2^30,
 *     i.e. other adders of the same stripe have not carried yet);
 *   - it moves c = ±2^30 (the sign of what the stripe holds) from the stripe to
 *     BASE: `Atomics.sub` on the stripe (with the same wrap accounting), then
 *     one `add64` on BASE of c plus everything owed.
 * Every stripe step is modular and every wrap is accounted by the adder that
 * caused it, so carries of several threads sharing a stripe compose without
 * loss; carries only move value, never create it. |d| ≥ 2^30 goes straight to
 * BASE with one `add64`.
 *
 * Linearization: an add with no carry takes effect at its stripe add; a carry
 * is invisible to the value except between its stripe sub and its BASE add,
 * where `sum()` reads c too little: that is the "in flight" LongAdder allows.
 * `sum()` reads BASE and then each stripe with separate loads: it is not an
 * atomic snapshot (no linearization point), only exact when quiescent.
 * `sumThenReset()` takes each word with an exchange, so every completed add is
 * either in its result or still in the counter.
 *
 * Owner death: a thread dying between the two steps of a carry (a window of
 * two atomic instructions, entered once per 2^30 of one stripe's movement)
 * loses those 2^30 (plus any wrap it owed); anywhere else it leaves an exact
 * counter. No thread ever waits on another, so nothing blocks.
 *
 * Sources: Doug Lea, java.util.concurrent.atomic.LongAdder and Striped64
 * (cells padded with @Contended, sum() "NOT an atomic snapshot").
 */

const BASE = 0; // BigInt64 word index
const STRIPE_STRIDE_WORDS = CACHE_LINE_BYTES / 4; // Int32 words from one stripe to the next
const FIRST_STRIPE = STRIPE_STRIDE_WORDS; // Int32 word index of stripe 0 (block 1)

/** A stripe carries into BASE once its magnitude reaches this. */
const CARRY_AT = 2 ** 30;
/** Deltas at least this large (in magnitude) bypass the stripes. */
const STRIPE_DELTA_LIMIT = 2 ** 30;

/** The most stripes a counter may have. */
export const MAX_STRIPES = 4096;

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** The default stripe count: a power of two ≥ 2 × cores, between 8 and 64. */
export const DEFAULT_STRIPES = Math.min(64, Math.max(8, nextPowerOfTwo(2 * availableParallelism())));

export interface StripedCounterOptions {
  /** Number of stripes, a power of two in [1, 4096] (default `DEFAULT_STRIPES`). */
  readonly stripes?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
function checkStripes(v: unknown, name: string): number {
  const n = integerIn(name, v, 1, MAX_STRIPES);
  if ((n & (n - 1)) !== 0) throw new InvalidArgumentError(`${name} must be a power of two in [1, ${MAX_STRIPES}], got ${n}`);
  return n;
}

const DEF = definePrimitive(
  'StripedCounter',
  1,
  {
    stripes: custom(checkStripes, DEFAULT_STRIPES),
  },
  { bodyBytes: (o) => CACHE_LINE_BYTES * (1 + o.stripes) },
);
export type StripedCounterHandle = HandleOf<typeof DEF>;

/**
 * A shared sum for many writers and few readers (LongAdder semantics).
 *
 * `add(d)` touches only the calling thread's stripe, a 128-byte block of its
 * own, so threads adding at once do not contend on one cache line as they do
 * on an `AtomicCounter`. `sum()` adds up the stripes.
 *
 * sum() is exact when no add is in flight; it is not an atomic snapshot.
 * Adds that complete while `sum()` runs may or may not be counted, and a sum
 * taken during concurrent adds may be a total that never existed at any one
 * instant. Use it for statistics; use an `AtomicCounter` where a decision
 * depends on the exact current value (`compareAndSet`).
 *
 * Values are exact integers up to 2^53 in magnitude (`sum()` returns a
 * number; `sumBigInt()` is exact up to 2^63). Each stripe is an Int32 for the
 * fast path and carries into a shared 64-bit base word when its magnitude
 * reaches 2^30.
 *
 * Memory synchronization: an `add` that completed before `sum()` started is
 * counted; `sum()` reads with sequentially consistent loads.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a delta that is not a
 * safe integer (NaN, Infinity, 1.5), or a bad `stripes` option
 * @throws HandleError (`ERR_HANDLE`) from `from` for a handle that is not a StripedCounter's
 *
 * @example
 * ```ts
 * const requests = new StripedCounter();
 * // in every worker: StripedCounter.from(workerData.requests).increment();
 * setInterval(() => console.log('requests so far', requests.sum()), 1000);
 * ```
 * @remarks Since 0.1
 */
export class StripedCounter {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: StripedCounterHandle;
  /** Number of stripes. */
  readonly stripes: number;
  private readonly words: Int32Array;
  private readonly base: BigInt64Array;
  /** Int32 word index of this thread's stripe. */
  private readonly mine: number;

  constructor(options?: StripedCounterOptions | OpenedOf<typeof DEF>) {
    const { region, options: o } = DEF.resolve(options);
    this.handle = region.handle;
    this.stripes = o.stripes;
    this.words = region.i32(0, (CACHE_LINE_BYTES * (1 + this.stripes)) >> 2);
    this.base = region.i64(0, 1);
    this.mine = FIRST_STRIPE + (threadId & (this.stripes - 1)) * STRIPE_STRIDE_WORDS;
  }

  /** Re-opens a counter from its handle, in any thread. @throws HandleError */
  /**
   * A counter placed at `byteOffset` of `parent`'s body (a breaker's
   * statistics), laid out with the parent or re-opened from it.
   * @internal
   */
  static part(parent: Region, byteOffset: number, room: number, options: StripedCounterOptions, mode: 'create' | 'open'): StripedCounter {
    return new StripedCounter(DEF.part(parent, byteOffset, room, options, mode));
  }

  static from(handle: StripedCounterHandle): StripedCounter {
    return new StripedCounter(DEF.open(handle));
  }

  /** Bytes a counter takes (in an arena, rounded up to 128); the same options as the constructor. */
  static byteLength(options?: StripedCounterOptions): number {
    return DEF.byteLength(options);
  }

  /** Adds `delta` (a safe integer, negative to subtract). */
  add(delta: number): void {
    // Fast path: a small integer delta, one atomic add on this thread's stripe.
    // (NaN fails the range test; `| 0` is exact in this range, so it tests integrality.)
    if (typeof delta === 'number' && delta > -STRIPE_DELTA_LIMIT && delta < STRIPE_DELTA_LIMIT && (delta | 0) === delta) {
      const m = add(this.words, this.mine, delta) + delta;
      if (m > -CARRY_AT && m < CARRY_AT) return;
      this.carrySlow(m);
      return;
    }
    this.addSlow(delta);
  }

  /** Adds one. */
  increment(): void {
    const m = add(this.words, this.mine, 1) + 1;
    if (m >= CARRY_AT) this.carrySlow(m);
  }

  /** Subtracts one. */
  decrement(): void {
    const m = add(this.words, this.mine, -1) - 1;
    if (m <= -CARRY_AT) this.carrySlow(m);
  }

  /**
   * The total as a number: exact when no add is in flight and the total is
   * within ±2^53; it is not an atomic snapshot.
   */
  sum(): number {
    return Number(this.sumBigInt());
  }

  /** The total as a bigint (exact up to ±2^63, with the same snapshot caveat as `sum()`). */
  sumBigInt(): bigint {
    let stripes = 0; // at most 4096 · 2^31 = 2^43 in magnitude: exact in a double
    for (let i = 0, w = FIRST_STRIPE; i < this.stripes; i++, w += STRIPE_STRIDE_WORDS) stripes += load(this.words, w);
    return load64(this.base, BASE) + BigInt(stripes);
  }

  /**
   * Sets the total to zero. Adds concurrent with `reset()` may survive it
   * (as `LongAdder.reset`): reset when no thread is adding, or use
   * `sumThenReset()` to lose nothing.
   */
  reset(): void {
    this.sumThenReset();
  }

  /**
   * Takes the total and leaves zero, word by word with atomic exchanges: every
   * completed add is either in the returned total or still in the counter.
   */
  sumThenReset(): number {
    let stripes = 0;
    for (let i = 0, w = FIRST_STRIPE; i < this.stripes; i++, w += STRIPE_STRIDE_WORDS) stripes += exchange(this.words, w, 0);
    return Number(exchange64(this.base, BASE, 0n) + BigInt(stripes));
  }

  toString(): string {
    return String(this.sum());
  }

  // ---- slow paths ------------------------------------------------------

  /** A large delta (straight into BASE), or a bad one. */
  private addSlow(delta: number): void {
    const d = finiteInteger('delta', delta);
    add64(this.base, BASE, BigInt(d));
  }

  /**
   * This thread's stripe add produced the exact value `m`, with |m| ≥ 2^30:
   * settle any wrap and move 2^30 into BASE (see the notes).
   */
  private carrySlow(m: number): void {
    const held = m | 0; // what the stripe holds after the add (m reduced modulo 2^32)
    let owed = m - held; // 0, or ±2^32 if the add wrapped the stripe
    const c = held >= 0 ? CARRY_AT : -CARRY_AT;
    const m2 = sub(this.words, this.mine, c) - c;
    owed += m2 - (m2 | 0);
    // The stripe now holds c less; BASE gets it back, with any wraps.
    add64(this.base, BASE, BigInt(owed + c));
  }
}

/** @internal For tests: where thread `tid`'s stripe lives, in Int32 words from the region body. */
export function stripeWordIndex(stripes: number, tid: number): number {
  return FIRST_STRIPE + (tid & (stripes - 1)) * STRIPE_STRIDE_WORDS;
}
