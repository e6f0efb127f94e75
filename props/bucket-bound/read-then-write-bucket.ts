/**
 * Test-only twin of TokenBucket for one key: the same GCRA arithmetic on a
 * 64-bit word, but it reads the word, decides, and then stores the new word
 * in a separate step, instead of one compare-and-swap. Two threads that read
 * the same word both take their tokens: the bucket admits more than
 * capacity + rate * t.
 */
import * as seam from '../../src/memory/atomics.js';
import type { Clock } from '../../src/clock.js';

const { load64, store64 } = seam;

export class ReadThenWriteBucket {
  private readonly t: bigint;
  private readonly tau: bigint;

  /** `word[0]` holds the key's TAT in ns (0n at the start: a full bucket for a clock at 0 or later). */
  constructor(
    private readonly word: BigInt64Array,
    private readonly clock: Clock,
    capacity: number,
    refillPerSecond: number,
  ) {
    this.t = BigInt(Math.ceil(1e9 / refillPerSecond));
    this.tau = BigInt(capacity) * this.t;
  }

  check(_key: string, n: number): { allowed: boolean; at: number } {
    const now = BigInt(Math.round(this.clock.now() * 1e6));
    const tat = load64(this.word, 0);
    const next = (tat > now ? tat : now) + BigInt(n) * this.t;
    if (next - now > this.tau) return { allowed: false, at: Number(now) / 1e6 };
    store64(this.word, 0, next); // the bug: not the same step as the load
    return { allowed: true, at: Number(now) / 1e6 };
  }
}
