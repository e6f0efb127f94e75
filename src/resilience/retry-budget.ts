/**
 * RetryBudget: retries limited to a fraction of calls, across every thread,
 * so that a failing dependency gets a bounded trickle of retries instead of
 * a retry storm.
 */
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { InvalidArgumentError } from '../errors.js';
import { number } from '../options/field.js';

const { compareExchange64, load64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Finagle's retry budget (RetryBudget(ttl, minRetriesPerSec, percentCanRetry)):
 * every call deposits `ratio` of a retry, every retry withdraws one, and both
 * count only within the last `windowMs`; a reserve of minRetriesPerSecond ×
 * window seconds lets a quiet service retry at all. A retry is allowed when
 *   reserve + ratio × deposits − withdrawals ≥ 1        (over the window)
 * computed exactly in thousandths of a retry (ratio to 0.001).
 *
 * Region body: BASE (Float64, the clock's time at creation, written once
 * before the handle exists) in the first 128-byte block, then a ring of
 * BUCKETS BigInt64 words, bucket i covering [base + i·w, base + (i+1)·w)
 * (w = windowMs / BUCKETS) in slot i mod BUCKETS:
 *   bits  0-18  WITHDRAWALS  (saturates: a full bucket refuses retries)
 *   bits 19-38  DEPOSITS     (saturates: more calls are not counted)
 *   bits 39-62  INDEX        i modulo 2^24
 *   bit  63     SEALED       no longer the current bucket: never changes again
 *                            until its slot is reused
 * At most one slot is unsealed: the current bucket. Opening bucket j seals
 * the current one first (CAS), then replaces slot j mod BUCKETS (CAS) with an
 * empty, unsealed bucket j. Everything else is read-only while a bucket is
 * current, so a withdrawal reads the whole window, checks the balance and
 * CASes the current bucket's word: if the CAS succeeds, no withdrawal,
 * deposit or bucket change happened since the read (each would have changed
 * that word), and the balance it checked was the balance at its CAS. That CAS
 * is the linearization point of `tryWithdraw` (and of `deposit`): the budget
 * is never overdrawn, whatever the interleaving. (The same argument lets an
 * object keep the sums of the sealed buckets of the current bucket's window:
 * they cannot change while that bucket is current, which its CAS checks.)
 *
 * Owner death: every change is one CAS. A thread that dies between sealing
 * the current bucket and opening the next leaves no unsealed bucket; the next
 * thread opens one (or unseals the newest, if its clock has not passed it).
 *
 * Source: Finagle's RetryBudget / TokenRetryBudget; gRPC's retry throttling
 * (a token ratio per call) for the same aim.
 */

const BASE_AT = 0;
const RING_AT = CACHE_LINE_BYTES;
/** Buckets of the window (its resolution: a tenth of windowMs). */
export const BUDGET_BUCKETS = 10;
/** The most withdrawals one bucket counts: beyond, retries are refused until the next bucket. */
export const MAX_BUCKET_WITHDRAWALS = 2 ** 19 - 1;
const MAX_BUCKET_DEPOSITS = 2 ** 20 - 1;
/** The longest window. */
export const MAX_BUDGET_WINDOW_MS = 2 ** 31 - 1;

const WITHDRAWAL_MASK = BigInt(MAX_BUCKET_WITHDRAWALS);
const DEPOSIT_SHIFT = 19n;
const DEPOSIT_MASK = BigInt(MAX_BUCKET_DEPOSITS);
const INDEX_SHIFT = 39n;
const INDEX_BITS = 24;
const INDEX_MASK = (1 << INDEX_BITS) - 1;
const SEALED = -(1n << 63n); // bit 63 of a signed word
const ONE_DEPOSIT = 1n << DEPOSIT_SHIFT;
/** Balances are counted in thousandths of a retry. */
const MILLI = 1000;

const isSealed = (e: bigint): boolean => e < 0n;
const indexOf = (e: bigint): number => Number((e >> INDEX_SHIFT) & BigInt(INDEX_MASK));
const depositsOf = (e: bigint): number => Number((e >> DEPOSIT_SHIFT) & DEPOSIT_MASK);
const withdrawalsOf = (e: bigint): number => Number(e & WITHDRAWAL_MASK);
const fresh = (index: number): bigint => BigInt(index & INDEX_MASK) << INDEX_SHIFT;
/** True if 24-bit bucket number `a` is after `b`. */
const isAfter = (a: number, b: number): boolean => {
  const d = (a - b) & INDEX_MASK;
  return d !== 0 && d < 1 << (INDEX_BITS - 1);
};

export interface RetryBudgetOptions {
  /** Retries allowed per call (0.2: one retry for every five calls), in [0, 1000]. */
  readonly ratio: number;
  /** Retries allowed per second whatever the traffic (default 10), so that a quiet service can retry. */
  readonly minRetriesPerSecond?: number;
  /** How long deposits and withdrawals count (default 10 000 ms), on the budget's clock. */
  readonly windowMs?: number;
  /** Default `systemClock`; a `ManualClock` for tests. */
  readonly clock?: Clock;
  readonly arena?: SharedArena;
}
/** The budget over the current window (separate reads: a snapshot, not atomic). */
export interface RetryBudgetStats {
  readonly deposits: number;
  readonly withdrawals: number;
  /** Retries that would be allowed now (may be fractional). */
  readonly balance: number;
}

const DEF = definePrimitive(
  'RetryBudget',
  1,
  {
    ratio: number({ min: 0, max: 1000 }),
    minRetriesPerSecond: number({ min: 0, max: 1_000_000, default: 10 }),
    windowMs: number({ above: 0, max: MAX_BUDGET_WINDOW_MS, unit: 'milliseconds', default: 10_000 }),
    clock: clock(),
  },
  {
    check: (o) => {
      if (Math.round(o.ratio * MILLI) === 0 && Math.floor(o.minRetriesPerSecond * o.windowMs) < MILLI) {
        throw new InvalidArgumentError(
          `a budget with ratio ${o.ratio} and minRetriesPerSecond ${o.minRetriesPerSecond} over ${o.windowMs} ms never allows a retry`,
        );
      }
    },
    bodyBytes: () => RING_AT + BUDGET_BUCKETS * 8,
  },
);
export type RetryBudgetHandle = HandleOf<typeof DEF>;

/** The window as read by one attempt: the current bucket's slot and word, and the window's sums. */
interface View {
  readonly slot: number;
  readonly word: bigint;
  readonly deposits: number;
  readonly withdrawals: number;
}

/**
 * A retry budget shared by every thread: retries may be at most `ratio` of
 * the calls (plus a small reserve) over the last `windowMs`, across all
 * threads together, so a failing dependency sees a bounded extra load.
 *
 * Each call deposits (`deposit()`; `retry()` does it once per call), each
 * retry withdraws (`tryWithdraw()`, false when the budget is spent). Over
 * any window, retries ≤ reserve + ratio × calls, where reserve =
 * minRetriesPerSecond × windowMs / 1000: exactly, however threads interleave.
 *
 * Memory synchronization: a `deposit` happens-before every `tryWithdraw`
 * that sees it.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a negative, NaN or too
 *   large ratio, rate or window, or a budget that could never allow a retry
 * @throws HandleError (`ERR_HANDLE`) from `from` for a handle that is not a budget's
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ ratio: 0.2 });        // pass budget.handle to workers
 * // in a worker: const budget = RetryBudget.from(workerData.budget);
 * const data = await retry(() => fetchJson(url), { retries: 3, budget, idempotent: true }); // a GET: safe to repeat
 * ```
 * @remarks Since 0.1
 */
export class RetryBudget {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: RetryBudgetHandle;
  readonly clock: Clock;
  readonly ratio: number;
  readonly minRetriesPerSecond: number;
  readonly windowMs: number;
  private readonly ring: BigInt64Array;
  private readonly base: number;
  private readonly widthMs: number;
  /** ratio and reserve in thousandths of a retry. */
  private readonly ratioMilli: number;
  private readonly reserveMilli: number;
  // Per object, per bucket: [low, high) holds the words of bucket j unsealed; depositCap and above, saturated.
  private boundsFor = -1;
  private low = 0n;
  private high = 0n;
  private depositCap = 0n;
  // The sums of the sealed buckets in bucket `sealedFor`'s window.
  private sealedFor = -1;
  private sealedDeposits = 0;
  private sealedWithdrawals = 0;

  constructor(options: RetryBudgetOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    if (created) {
      // Before the handle is published: the start time, and every slot sealed (none is current yet).
      new Float64Array(region.buffer, region.bodyOffset + BASE_AT, 1)[0] = this.clock.now();
      region.i64(RING_AT, BUDGET_BUCKETS).fill(SEALED);
    }
    this.handle = region.handle;
    this.ratio = o.ratio;
    this.minRetriesPerSecond = o.minRetriesPerSecond;
    this.windowMs = o.windowMs;
    this.ring = region.i64(RING_AT, BUDGET_BUCKETS);
    this.base = new Float64Array(region.buffer, region.bodyOffset + BASE_AT, 1)[0]!;
    this.widthMs = this.windowMs / BUDGET_BUCKETS;
    this.ratioMilli = Math.round(this.ratio * MILLI);
    this.reserveMilli = Math.floor(this.minRetriesPerSecond * this.windowMs);
  }

  /** Re-opens a budget from its handle, in any thread. @throws HandleError */
  static from(handle: RetryBudgetHandle): RetryBudget {
    return new RetryBudget(DEF.open(handle));
  }

  /** Bytes a budget takes (the same for any options). */
  static byteLength(options: RetryBudgetOptions): number {
    return DEF.byteLength(options);
  }

  /** Records a call (its share of a retry becomes available). */
  deposit(): void {
    const j = this.bucketNow();
    const slot = j % BUDGET_BUCKETS;
    for (;;) {
      // Fast path: the slot holds bucket j, unsealed (the current bucket): one add.
      const e = load64(this.ring, slot);
      if (e >= this.low && e < this.high) {
        if (e >= this.depositCap) return; // saturated: not counted
        // Linearization point of a deposit.
        if (compareExchange64(this.ring, slot, e, e + ONE_DEPOSIT) === e) return;
        continue;
      }
      const v = this.view();
      if (depositsOf(v.word) === MAX_BUCKET_DEPOSITS) return;
      if (compareExchange64(this.ring, v.slot, v.word, v.word + ONE_DEPOSIT) === v.word) return;
    }
  }

  /** Takes one retry if the budget allows it; false when it is spent. */
  tryWithdraw(): boolean {
    const j = this.bucketNow();
    const slot = j % BUDGET_BUCKETS;
    for (;;) {
      let v: View;
      const e = load64(this.ring, slot);
      if (e >= this.low && e < this.high) {
        // Fast path: bucket j is current; the sealed buckets of its window are
        // read once per bucket (they cannot change while it is current).
        if (this.sealedFor !== j) this.sumSealed(j, slot);
        v = { slot, word: e, deposits: this.sealedDeposits + depositsOf(e), withdrawals: this.sealedWithdrawals + withdrawalsOf(e) };
      } else {
        v = this.view();
      }
      if (this.balanceMilli(v) < MILLI || withdrawalsOf(v.word) === MAX_BUCKET_WITHDRAWALS) return false;
      // Linearization point of a withdrawal: the window is as read (see the notes).
      if (compareExchange64(this.ring, v.slot, v.word, v.word + 1n) === v.word) return true;
    }
  }

  /** The current bucket number, and the bounds that recognise its slot word (cached per bucket). */
  private bucketNow(): number {
    const j = Math.max(0, Math.floor((this.clock.now() - this.base) / this.widthMs));
    if (j !== this.boundsFor) {
      this.boundsFor = j;
      this.low = fresh(j);
      this.high = this.low + (1n << INDEX_SHIFT);
      this.depositCap = this.low + (DEPOSIT_MASK << DEPOSIT_SHIFT);
    }
    return j;
  }

  /** Sums the other slots of bucket j's window (sealed, so fixed while j is current). */
  private sumSealed(j: number, current: number): void {
    let deposits = 0,
      withdrawals = 0;
    for (let s = 0; s < BUDGET_BUCKETS; s++) {
      if (s === current) continue;
      const w = load64(this.ring, s);
      if (((j - indexOf(w)) & INDEX_MASK) >= BUDGET_BUCKETS) continue; // outside the window
      deposits += depositsOf(w);
      withdrawals += withdrawalsOf(w);
    }
    this.sealedFor = j;
    this.sealedDeposits = deposits;
    this.sealedWithdrawals = withdrawals;
  }

  /** Retries that would be allowed now (fractional: 2.4 means two). */
  get balance(): number {
    return this.balanceMilli(this.view()) / MILLI;
  }

  stats(): RetryBudgetStats {
    const v = this.view();
    return { deposits: v.deposits, withdrawals: v.withdrawals, balance: this.balanceMilli(v) / MILLI };
  }

  private balanceMilli(v: View): number {
    return this.reserveMilli + this.ratioMilli * v.deposits - MILLI * v.withdrawals;
  }

  /** Reads the window, opening the current bucket first if needed. */
  private view(): View {
    let j = Math.max(0, Math.floor((this.clock.now() - this.base) / this.widthMs));
    const words: bigint[] = new Array<bigint>(BUDGET_BUCKETS);
    for (;;) {
      let unsealed = -1;
      let newest = -1;
      for (let s = 0; s < BUDGET_BUCKETS; s++) {
        const e = load64(this.ring, s);
        words[s] = e;
        if (!isSealed(e)) unsealed = s;
        if (newest < 0 || isAfter(indexOf(e), indexOf(words[newest]!))) newest = s;
      }
      const newestIndex = indexOf(words[newest]!);
      if (isAfter(newestIndex, j & INDEX_MASK)) j += (newestIndex - j) & INDEX_MASK; // this thread's clock reading is older
      const slot = j % BUDGET_BUCKETS;
      const e = words[slot]!;
      if (!isSealed(e) && indexOf(e) === (j & INDEX_MASK)) {
        let deposits = 0,
          withdrawals = 0;
        for (let s = 0; s < BUDGET_BUCKETS; s++) {
          const w = words[s]!;
          if (((j - indexOf(w)) & INDEX_MASK) >= BUDGET_BUCKETS) continue; // outside the window
          deposits += depositsOf(w);
          withdrawals += withdrawalsOf(w);
        }
        return { slot, word: e, deposits, withdrawals };
      }
      if (unsealed >= 0) {
        // Bucket j is not open yet: seal the current one first.
        const u = words[unsealed]!;
        compareExchange64(this.ring, unsealed, u, u | SEALED);
      } else if (indexOf(e) === (j & INDEX_MASK)) {
        // Bucket j was sealed by a thread that died before opening the next: it is current again.
        compareExchange64(this.ring, slot, e, e & ~SEALED);
      } else {
        compareExchange64(this.ring, slot, e, fresh(j));
      }
    }
  }
}
