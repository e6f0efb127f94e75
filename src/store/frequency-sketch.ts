/**
 * A count-min sketch of access frequencies in shared memory, with aging: the
 * "TinyLFU" half of a W-TinyLFU cache (Einziger, Friedman and Manes,
 * "TinyLFU: A Highly Efficient Cache Admission Policy", 2017; Caffeine's
 * FrequencySketch).
 *
 * Four rows of saturating counters (0..15), one byte each, `width` (four
 * times the cache's capacity, rounded up to a power of two: Caffeine's
 * density, 16 counters per entry) per row; a key's frequency is the least of
 * its four counters. Every `sampleSize` (10 x capacity) recorded accesses
 * all counters are halved, so the sketch forgets old popularity.
 *
 * Implementation notes
 *   Counters are bytes written with plain (non-atomic) stores: two threads
 *   incrementing one counter at once may lose an increment, and a halving
 *   may race an increment. The sketch is an estimate by construction
 *   (count-min over-counts through collisions already); a lost increment
 *   only makes it a little less precise and never breaks the cache, which
 *   reads it only to choose victims. The access count that triggers aging
 *   is one shared Int32 word; each thread adds its accesses to it in batches
 *   of BATCH (one atomic add per batch), and the thread whose add crosses
 *   `sampleSize` halves the counters and takes the count down by sampleSize.
 */
import * as seam from '../memory/atomics.js';

const { add, sub } = seam; // module constants: see memory/atomics.ts

const MAX_COUNT = 15;
/** Accesses a thread records before adding them to the shared count (one atomic add per batch). */
const BATCH = 64;
/** Per-row multipliers (odd, from Caffeine's seeds) that spread one 32-bit hash over four rows. */
const SEEDS = [0x97cb3127, 0xb8d2f2b1, 0x5bd1e995, 0x9e3779b1] as const;

/** Bytes of the counters of a sketch for `capacity` entries. */
export function sketchBytes(capacity: number): number {
  return 4 * sketchWidth(capacity);
}

function sketchWidth(capacity: number): number {
  return Math.max(256, 4 * 2 ** Math.ceil(Math.log2(capacity)));
}

export class FrequencySketch {
  private readonly shift: number;
  private readonly width: number;
  private readonly sampleSize: number;
  private pending = 0;

  /**
   * @param counters `sketchBytes(capacity)` bytes of shared memory
   * @param count an Int32Array holding, at `countIndex`, the shared access count
   */
  constructor(
    private readonly counters: Uint8Array,
    private readonly count: Int32Array,
    private readonly countIndex: number,
    capacity: number,
  ) {
    this.width = sketchWidth(capacity);
    this.shift = 32 - Math.log2(this.width);
    this.sampleSize = 10 * capacity;
  }

  /** Records one access of the key whose keyed hash is `h`. */
  increment(h: number): void {
    const c = this.counters;
    const w = this.width;
    for (let row = 0; row < 4; row++) {
      const i = row * w + (Math.imul(h, SEEDS[row]!) >>> this.shift);
      const v = c[i]!;
      if (v < MAX_COUNT) c[i] = v + 1;
    }
    if (++this.pending === BATCH) this.flush();
  }

  /** The estimated recent access count of the key whose hash is `h` (0..15). */
  frequency(h: number): number {
    const c = this.counters;
    const w = this.width;
    let min = MAX_COUNT;
    for (let row = 0; row < 4; row++) {
      const v = c[row * w + (Math.imul(h, SEEDS[row]!) >>> this.shift)]!;
      if (v < min) min = v;
    }
    return min;
  }

  private flush(): void {
    const before = add(this.count, this.countIndex, this.pending);
    this.pending = 0;
    if (before < this.sampleSize && before + BATCH >= this.sampleSize) {
      // This add crossed the sample size: this thread ages the sketch.
      sub(this.count, this.countIndex, this.sampleSize);
      const c = this.counters;
      for (let i = 0; i < c.length; i++) c[i] = c[i]! >>> 1;
    }
  }
}
