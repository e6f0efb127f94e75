/**
 * The consecutive-failure trip rule: a CLOSED breaker opens after
 * `threshold` failures in a row of one period.
 */
import * as seam from '../memory/atomics.js';
import { VALUE_MASK, periodTag } from './breaker-state.js';
import type { TripRule } from './trip-rule.js';

const { compareExchange, load } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * One Int32 word, FAILS: bits 0-19 the count, bits 20-30 the period tag
 * (the transition count mod 2^11 of the CLOSED period it counts). A failure
 * loads FAILS, then STATE, then CASes: if the period is still its own after
 * that load, FAILS cannot hold a later period's count, and the CAS fails if
 * a later period writes it since. A success CASes FAILS back to 0 from the
 * value it read with a plain load (circuit-breaker.ts, "Plain loads"): a
 * stale read only makes the CAS fail, harmlessly. The winner of a
 * transition into CLOSED sets FAILS to the new period's 0 (`closed`), so an
 * old count whose 11-bit tag happens to equal the new period's is never
 * continued; a thread dying first leaves an older tag, which the new
 * period's first failure replaces.
 */

export class ConsecutiveFailures implements TripRule {
  constructor(
    /** The breaker's control words: STATE at `stateIndex`, FAILS at `index`. */
    private readonly words: Int32Array,
    private readonly stateIndex: number,
    private readonly index: number,
    /** Failures in a row that open the breaker. */
    readonly threshold: number,
  ) {}

  success(word: number): void {
    const tag = periodTag(word);
    const f = this.words[this.index]!; // a plain load: see the notes
    if ((f & VALUE_MASK) !== 0 && (f & ~VALUE_MASK) === tag) compareExchange(this.words, this.index, f, tag); // the run ends
  }

  failure(word: number): boolean {
    const tag = periodTag(word);
    for (;;) {
      const f = load(this.words, this.index);
      if (load(this.words, this.stateIndex) !== word) return false; // admitted in a period that is over
      const count = (f & ~VALUE_MASK) === tag ? (f & VALUE_MASK) + 1 : 1;
      // Linearization point of a consecutive failure.
      if (compareExchange(this.words, this.index, f, tag | Math.min(count, VALUE_MASK)) === f) return count >= this.threshold;
    }
  }

  closed(word: number): void {
    const tag = periodTag(word);
    const f = load(this.words, this.index);
    if ((f & ~VALUE_MASK) !== tag) compareExchange(this.words, this.index, f, tag);
  }

  /** Failures in a row so far in the CLOSED period `word` (a snapshot). */
  count(word: number): number {
    const f = load(this.words, this.index);
    return (f & ~VALUE_MASK) === periodTag(word) ? f & VALUE_MASK : 0;
  }
}
