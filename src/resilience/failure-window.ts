/**
 * The circuit breaker's rolling window for failure-rate mode: calls and
 * failures counted in time buckets on the breaker's clock, shared by every
 * thread.
 */
import * as seam from '../memory/atomics.js';
import { seqOf } from './breaker-state.js';

const { compareExchange64, load, load64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * A ring of `buckets` BigInt64 words; bucket i covers [base + i·width,
 * base + (i+1)·width) on the breaker's clock (width = windowMs / buckets) and
 * lives in slot i mod buckets, packed as
 *   bits  0-17  CALLS     calls that completed in it (saturates at 2^18 - 1)
 *   bits 18-35  FAILURES  of which failed
 *   bits 36-55  INDEX     i modulo 2^20 (which bucket the slot holds)
 *   bits 56-63  PERIOD    the breaker's transition count modulo 256 when the
 *                         calls were admitted (which CLOSED period)
 * The window is the current bucket and the buckets - 1 before it (as
 * Hystrix's rolling counters): between (buckets - 1)/buckets of windowMs and
 * all of it.
 *
 * Recording is one CAS on the slot: add to it if it holds this bucket of
 * this period, else replace it (an older bucket, or a previous period) with
 * a fresh count. So a new period starts with an empty window without anyone
 * clearing it, and no thread's count is lost to another's reset. A result
 * is dropped, not recorded, if the breaker has left the period that admitted
 * the call (checked before each CAS), or if the slot already holds a newer
 * bucket (a thread suspended for most of a window).
 *
 * A recorder reads the slot, then checks that the breaker is still in the
 * period that admitted the call, then CASes: a slot read while its period is
 * current cannot hold a later period's counts, and if a later period writes
 * the slot after that read the CAS fails and the recorder, checking again,
 * drops its result. So a new period's counts are never touched by an old
 * period's results. PERIOD only has to tell the current period from earlier
 * ones whose entries may still sit in the window's slots: an entry is
 * counted only if both its INDEX (one of the window's buckets) and its
 * PERIOD match, so an old period's entry could pass only if 256 transitions
 * fit in one bucket's width, or a slot sat untouched for 2^20 bucket widths
 * to the bucket.
 *
 * Reading (after a failure, to decide whether to open) sums the slots whose
 * INDEX and PERIOD match the window's buckets: separate loads, not a
 * snapshot; the decision linearizes at the transition's CAS, like any trip.
 */

/** The most buckets a window may have. */
export const MAX_BUCKETS = 60;
/** Default number of buckets. */
export const DEFAULT_BUCKETS = 10;
/** The most calls one bucket counts (more completions in the same bucket are not counted). */
export const MAX_BUCKET_CALLS = 2 ** 18 - 1;

const COUNT_BITS = 18n;
const COUNT_MASK = (1n << COUNT_BITS) - 1n;
const FAILURES_SHIFT = COUNT_BITS;
const INDEX_SHIFT = 2n * COUNT_BITS;
const INDEX_BITS = 20;
const INDEX_MASK = (1 << INDEX_BITS) - 1;
const PERIOD_MASK = 0xff;
const PERIOD_BITS = PERIOD_MASK << INDEX_BITS; // the PERIOD field within a tag

const slotTag = (e: bigint): number => Number(BigInt.asUintN(64, e) >> INDEX_SHIFT);
/** The INDEX and PERIOD bits of a slot word, as a non-negative BigInt (`e & TAG_FIELD`). */
const TAG_FIELD = ((1n << BigInt(INDEX_BITS + 8)) - 1n) << INDEX_SHIFT;
const ONE_FAILED_CALL = (1n << FAILURES_SHIFT) + 1n;
const tagOf = (period: number, index: number): number => ((period & PERIOD_MASK) << INDEX_BITS) | (index & INDEX_MASK);
const pack = (tag: number, failures: number, calls: number): bigint =>
  BigInt.asIntN(64, (BigInt(tag) << INDEX_SHIFT) | (BigInt(failures) << FAILURES_SHIFT) | BigInt(calls));

/** Calls and failures in the window. */
export interface WindowCounts {
  readonly calls: number;
  readonly failures: number;
}

/** @internal */
export class FailureWindow {
  readonly widthMs: number;
  /** The tag of the last bucket recorded in by this object, and its field bits. */
  private lastTag = -1;
  private lastTagField = 0n;

  constructor(
    private readonly ring: BigInt64Array,
    readonly buckets: number,
    windowMs: number,
    /** The breaker's creation time on its clock: bucket 0 starts there. */
    private readonly base: number,
    private readonly state: Int32Array,
    private readonly stateIndex: number,
  ) {
    this.widthMs = windowMs / buckets;
  }

  private indexOf(now: number): number {
    return Math.max(0, Math.floor((now - this.base) / this.widthMs));
  }

  /** Counts one completed call admitted in the period of state word `word`. */
  record(word: number, now: number, failed: boolean): void {
    const index = this.indexOf(now);
    const slot = index % this.buckets;
    const tag = tagOf(seqOf(word), index);
    if (tag !== this.lastTag) {
      this.lastTag = tag;
      this.lastTagField = BigInt(tag) << INDEX_SHIFT;
    }
    for (;;) {
      // The slot first, then STATE: if the period is still this one, the slot
      // cannot hold a later period's counts, and the CAS fails if one writes them since.
      const e = load64(this.ring, slot);
      if (load(this.state, this.stateIndex) !== word) return; // the period that admitted it is over
      if ((e & TAG_FIELD) === this.lastTagField) {
        // Fast path: the slot holds this bucket of this period; one add.
        if ((e & COUNT_MASK) === COUNT_MASK) return;
        // Linearization point of a record.
        if (compareExchange64(this.ring, slot, e, e + (failed ? ONE_FAILED_CALL : 1n)) === e) return;
        continue;
      }
      let calls = 0,
        failures = 0;
      const held = slotTag(e);
      if (held === tag) {
        calls = Number(e & COUNT_MASK);
        failures = Number((e >> FAILURES_SHIFT) & COUNT_MASK);
        if (calls === MAX_BUCKET_CALLS) return;
      } else if (e !== 0n && (held & PERIOD_BITS) === (tag & PERIOD_BITS)) {
        // Same period: drop the result if the slot already holds a later bucket.
        const ahead = ((held & INDEX_MASK) - (index & INDEX_MASK)) & INDEX_MASK;
        if (ahead !== 0 && ahead < 1 << (INDEX_BITS - 1)) return;
      }
      // Linearization point of a record.
      if (compareExchange64(this.ring, slot, e, pack(tag, failures + (failed ? 1 : 0), calls + 1)) === e) return;
    }
  }

  /** Calls and failures in the window ending at `now`, for the period of `word`. */
  counts(word: number, now: number): WindowCounts {
    const index = this.indexOf(now);
    const period = seqOf(word);
    let calls = 0,
      failures = 0;
    for (let d = 0; d < this.buckets && d <= index; d++) {
      const i = index - d;
      const e = load64(this.ring, i % this.buckets);
      if (slotTag(e) !== tagOf(period, i)) continue;
      calls += Number(e & COUNT_MASK);
      failures += Number((e >> FAILURES_SHIFT) & COUNT_MASK);
    }
    return { calls, failures };
  }
}
