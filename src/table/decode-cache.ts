/**
 * A per-instance cache of decoded values, for tables whose codec
 * returns immutable values (the 'string' codec): a hot key read again
 * returns the string it decoded last time instead of copying and decoding
 * the same bytes.
 *
 * An entry is keyed by the slot (its word index in the region) and the
 * 64-bit number of the write that filled it. A slot's bytes change only when
 * a new write fills it, with a new, never-repeating number, so a match means
 * the bytes are the ones that were decoded: no invalidation is ever needed,
 * and a stale entry simply never matches again. Two-way: a slot may sit in
 * either entry of its pair (i, i ^ 1); a new one goes where its pair has room,
 * else pushes the older of the two out.
 *
 * The caller reads the write number between its two sequence checks, like
 * the bytes, and trusts a hit only when the second check passes.
 */

/** Entries for a table of `capacity`: one per entry, rounded up to a power of two, from 256 to 16384. */
export function decodeCacheSize(capacity: number): number {
  return 2 ** Math.ceil(Math.log2(Math.min(Math.max(capacity, 256), 16_384)));
}

export class DecodeCache {
  private readonly shift: number;
  private readonly slots: Int32Array;
  private readonly lo: Int32Array;
  private readonly hi: Int32Array;
  private readonly values: unknown[];
  private index = 0;
  private slot = -1;
  private wlo = 0;
  private whi = 0;

  /** @param size entries, a power of two (decodeCacheSize) */
  constructor(size: number) {
    this.shift = 32 - Math.log2(size);
    this.slots = new Int32Array(size).fill(-1);
    this.lo = new Int32Array(size);
    this.hi = new Int32Array(size);
    this.values = new Array(size).fill(undefined);
  }

  /** True if an entry holds slot `at`'s write (lo, hi); remembers the slot for `value` or `remember`. */
  lookup(at: number, lo: number, hi: number): boolean {
    let i = Math.imul(at, 0x9e3779b1) >>> this.shift;
    if (this.slots[i] !== at) i ^= 1;
    this.index = i;
    this.slot = at;
    this.wlo = lo;
    this.whi = hi;
    return this.slots[i] === at && this.lo[i] === lo && this.hi[i] === hi;
  }

  /** The value of the entry the last `lookup` matched. */
  get value(): unknown {
    return this.values[this.index];
  }

  /** Stores `value` as the decoding of the write the last `lookup` named. */
  remember(value: unknown): void {
    let i = this.index;
    if (this.slots[i] !== this.slot) {
      // Not this slot's entry: take the pair's first entry, moving its occupant to the second.
      i &= ~1;
      this.move(i, i | 1);
    }
    this.slots[i] = this.slot;
    this.lo[i] = this.wlo;
    this.hi[i] = this.whi;
    this.values[i] = value;
  }

  private move(from: number, to: number): void {
    this.slots[to] = this.slots[from]!;
    this.lo[to] = this.lo[from]!;
    this.hi[to] = this.hi[from]!;
    this.values[to] = this.values[from];
  }
}
