/**
 * Backoff: the one spin-then-park helper (crossbeam's `Backoff`, parking_lot's
 * `SpinWait`). It never parks by itself: the caller spins on a lost CAS with
 * `spin()`, waits for another thread with `snooze()`, and parks (with
 * `Atomics.wait` / `waitAsync` on the word it watches) once `isCompleted()`.
 *
 * JavaScript has no pause instruction and no thread yield, so a "spin" is a
 * short busy loop of atomic loads (which the optimiser cannot remove) and a
 * "snooze" is a longer one.
 *
 * The limits come from the Spin/NoSpin benchmark pair in `bench/` (table 6),
 * run many times on a shared 2-vCPU machine. Its results are bimodal: when the
 * two threads really run in parallel, spinning up to 2^8 loads wins (+26-41%
 * over parking at once, and 2^4 loses ~11%); when the host does not give both
 * vCPUs at once, every spin steals time from the lock holder and the long
 * limit loses up to 1.6x to the short one. YIELD_LIMIT = 4 (at most 31 loads
 * before parking, about Drepper's and glibc's ~100 cycles) was never the worst
 * variant in either regime: the robust choice when JavaScript cannot see
 * whether a core is free.
 */
import * as seam from './atomics.js';

const { load } = seam; // module constants: see memory/atomics.ts

/** Steps of exponential spinning after a lost CAS (2^SPIN_LIMIT iterations at most). */
export const SPIN_LIMIT = 6;
/** Steps of snoozing before `isCompleted()` says "park now". */
export const YIELD_LIMIT = 4;

const scratch = new Int32Array(new SharedArrayBuffer(4));

function busy(iterations: number): void {
  for (let i = 0; i < iterations; i++) load(scratch, 0);
}

export class Backoff {
  private step = 0;

  /** Back off after a lost race on a CAS (short, exponential). */
  spin(): void {
    busy(1 << Math.min(this.step, SPIN_LIMIT));
    if (this.step <= SPIN_LIMIT) this.step++;
  }

  /** Back off while waiting for another thread to make progress. */
  snooze(): void {
    busy(1 << Math.min(this.step, YIELD_LIMIT));
    if (this.step <= YIELD_LIMIT) this.step++;
  }

  /** True once spinning has stopped paying: the caller should park. */
  isCompleted(): boolean {
    return this.step > YIELD_LIMIT;
  }

  reset(): void {
    this.step = 0;
  }
}
