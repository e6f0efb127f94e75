/**
 * The Spin/NoSpin switch (Go's `BenchmarkMutexSpin` / `BenchmarkMutexNoSpin`
 * pair, here for the spin limits of `src/memory/backoff.ts`), implemented in
 * the benchmark only: it swaps the methods of the one `Backoff` class that
 * every sabre lock uses, in the calling thread, and puts the shipped ones back.
 * The Mutex under test is the real one, unchanged.
 *
 * - `'default'`: the shipped `Backoff` (SPIN_LIMIT, YIELD_LIMIT).
 * - `'nospin'`: no spinning at all: `spin()` and `snooze()` return at once and
 *   `isCompleted()` is true, so a lock that finds the mutex held parks at once.
 * - `{ spinLimit, yieldLimit }`: the shipped algorithm with other limits, to
 *   see which side of the optimum the shipped constants sit.
 */
import { Backoff } from '../../src/memory/backoff.js';
import type { BackoffMode } from './control.js';

/* eslint-disable @typescript-eslint/unbound-method -- kept only to be put back on the prototype, never called alone */
const shipped = {
  spin: Backoff.prototype.spin,
  snooze: Backoff.prototype.snooze,
  isCompleted: Backoff.prototype.isCompleted,
};
/* eslint-enable @typescript-eslint/unbound-method */

interface Stepped {
  step: number;
}

const scratch = new Int32Array(new SharedArrayBuffer(4));
function busy(iterations: number): void {
  for (let i = 0; i < iterations; i++) Atomics.load(scratch, 0);
}

/** Installs `mode` for every Backoff of this thread (until the next call). */
export function setBackoffMode(mode: BackoffMode): void {
  const p = Backoff.prototype;
  if (mode === 'default') {
    p.spin = shipped.spin;
    p.snooze = shipped.snooze;
    p.isCompleted = shipped.isCompleted;
  } else if (mode === 'nospin') {
    p.spin = function spin(): void {
      // NoSpin: return at once
    };
    p.snooze = function snooze(): void {
      // NoSpin: return at once
    };
    p.isCompleted = function isCompleted(): boolean {
      return true;
    };
  } else {
    const { spinLimit, yieldLimit } = mode;
    p.spin = function spin(this: Backoff): void {
      const self = this as unknown as Stepped;
      busy(1 << Math.min(self.step, spinLimit));
      if (self.step <= spinLimit) self.step++;
    };
    p.snooze = function snooze(this: Backoff): void {
      const self = this as unknown as Stepped;
      busy(1 << Math.min(self.step, yieldLimit));
      if (self.step <= yieldLimit) self.step++;
    };
    p.isCompleted = function isCompleted(this: Backoff): boolean {
      return (this as unknown as Stepped).step > yieldLimit;
    };
  }
}

export function backoffLabel(mode: BackoffMode): string {
  if (mode === 'default') return 'shipped Backoff';
  if (mode === 'nospin') return 'NoSpin (park at once)';
  return `spin ${mode.spinLimit} / yield ${mode.yieldLimit}`;
}
