import { ManualClock } from '../../src/clock.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import type { Mutant } from './mutant.js';
import { KEY, LIMIT, WINDOW_MS, type Accepted, type SlidingWindowInput, type SlidingWindowShared } from './programs/sliding-window.js';

/** True if some half-open window (t - WINDOW_MS, t] holds more than LIMIT accepted units. */
function overLimit(accepted: readonly Accepted[]): boolean {
  return accepted.some(([t]) => accepted.reduce((sum, [at, cost]) => (at > t - WINDOW_MS && at <= t ? sum + cost : sum), 0) > LIMIT);
}

/**
 * The exact window's decision releases the key's lock before its last
 * protected write, HEAD (and takes it again, so that the `finally`'s unlock
 * stays balanced). The invariant: at most LIMIT accepted units per key in any
 * window of WINDOW_MS. In the gap, another decision reads the old HEAD with
 * the ring already written: with limit 2, a request of cost 1 writes ring[h]
 * and unlocks; one of cost 2 still sees HEAD = h, finds ring[h + 1] out of
 * the window, takes both slots and sets HEAD to h; the first then sets HEAD
 * to h + 1. Three units were accepted within one window. (The late write goes
 * through the seam, an atomic store, so that a schedule can switch threads
 * between the unlock and it; a plain write would race only on real threads.)
 */
export const slidingWindowUnlockBeforeHead: Mutant<SlidingWindowShared, SlidingWindowInput, Accepted[]> = {
  id: 'sliding-window-unlock-before-head',
  title: 'SlidingWindow (exact) unlocks the key before writing HEAD',
  file: 'src/limit/sliding-window.ts',
  find: 'head = (head + n) % L;\n        this.i32[base + HEAD] = head;',
  replace:
    'head = (head + n) % L;\n        mutex.unlock();\n        store(this.i32, base + HEAD, head);\n        mutex.lock({ ignorePoison: true });',
  program: 'sliding-window.ts',
  threads: [
    { cost: 1, ops: 8 },
    { cost: 2, ops: 8 },
  ],
  setup: () => {
    const clock = new ManualClock({ startMs: 0 });
    const window = new SlidingWindow({ limit: LIMIT, windowMs: WINDOW_MS, mode: 'exact', capacity: 1, maxKeyBytes: 8, clock });
    // The key exists before the run (so every request is a decision on its ring), and its request leaves the window.
    window.check(KEY, 1);
    clock.advance(WINDOW_MS);
    return { window: window.handle, clock: clock.handle };
  },
  found: (run) => overLimit(run.results.flatMap((r) => r ?? [])),
};
