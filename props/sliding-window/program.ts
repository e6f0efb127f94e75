/**
 * Threads ask a few keys (`k0`..) of an exact SlidingWindow (or the
 * fixed-window twin) for room, `ops` times each, with a random cost in
 * [1, maxCost], and now and then move the shared ManualClock on by up to
 * half a window (whole ms). Each allowed decision is logged (key, time on
 * the window's clock, cost) in `log`, LOG_COUNT entries.
 */
import { add } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { SlidingWindow, type SlidingWindowHandle } from '../../src/limit/sliding-window.js';
import { defineProgram } from '../../src/testing/index.js';
import { FixedWindow } from './fixed-window.js';

export const LOG_ENTRIES = 4096,
  ENTRY = 3;
export const WINDOW_MS = 100;
export const MAX_KEYS = 4;

export interface WindowShared {
  readonly kind: 'window' | 'fixed-window';
  readonly limit: number;
  readonly window: SlidingWindowHandle;
  /** MAX_KEYS words for the twin. */
  readonly twinWords: BigInt64Array;
  readonly clock: ManualClockHandle;
  readonly log: Float64Array;
  readonly count: Int32Array;
}

export interface WindowInput {
  readonly ops: number;
  readonly keys: number;
  readonly maxCost: number;
  readonly advance: number;
}

export default defineProgram<WindowShared, WindowInput, void>(({ shared, input, random }) => {
  const clock = ManualClock.from(shared.clock);
  const limiter =
    shared.kind === 'fixed-window' ? new FixedWindow(shared.twinWords, clock, shared.limit, WINDOW_MS) : SlidingWindow.from(shared.window);
  for (let i = 0; i < input.ops; i++) {
    const k = Math.floor(random() * input.keys);
    const n = 1 + Math.floor(random() * input.maxCost);
    const d = limiter.check(`k${k}`, n);
    if (d.allowed) {
      const at = add(shared.count, 0, 1);
      if (at < LOG_ENTRIES) {
        shared.log[ENTRY * at] = k;
        shared.log[ENTRY * at + 1] = d.at;
        shared.log[ENTRY * at + 2] = n;
      }
    }
    if (random() < input.advance) clock.advance(Math.floor(random() * (WINDOW_MS / 2 + 1)));
  }
});
