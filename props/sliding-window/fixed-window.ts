/**
 * Test-only twin of SlidingWindow's exact mode: a fixed-window counter
 * (the window [k * windowMs, (k + 1) * windowMs) and a count, in one word
 * per key, changed by compare-and-swap). Atomic, but the wrong algorithm:
 * `limit` requests at the end of one window and `limit` more at the start
 * of the next are all allowed, 2 * limit within less than windowMs.
 */
import * as seam from '../../src/memory/atomics.js';
import type { Clock } from '../../src/clock.js';

const { compareExchange64, load64 } = seam;
const COUNT_BITS = 20n;

export class FixedWindow {
  constructor(
    private readonly words: BigInt64Array,
    private readonly clock: Clock,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** `key` is `k<i>`: word i. */
  check(key: string, n: number): { allowed: boolean; at: number } {
    const i = Number(key.slice(1));
    const now = this.clock.now();
    const id = BigInt(Math.floor(now / this.windowMs));
    for (;;) {
      const w = load64(this.words, i);
      const count = w >> COUNT_BITS === id ? Number(w & ((1n << COUNT_BITS) - 1n)) : 0;
      if (count + n > this.limit) return { allowed: false, at: now };
      if (compareExchange64(this.words, i, w, (id << COUNT_BITS) | BigInt(count + n)) === w) return { allowed: true, at: now };
    }
  }
}
