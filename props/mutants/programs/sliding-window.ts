/**
 * Threads ask one key of an exact SlidingWindow (limit LIMIT per WINDOW_MS
 * on a shared ManualClock) for room, `ops` times each at a fixed `cost`,
 * and move the clock on by half a window after each request, so the ring
 * empties every round or so. Each thread returns its accepted requests as
 * [time on the window's clock, cost].
 */
import { ManualClock, type ManualClockHandle } from '../../../src/clock.js';
import { SlidingWindow, type SlidingWindowHandle } from '../../../src/limit/sliding-window.js';
import { defineProgram } from '../../../src/testing/index.js';

export const LIMIT = 2,
  WINDOW_MS = 10,
  KEY = 'k';

export interface SlidingWindowShared {
  readonly window: SlidingWindowHandle;
  readonly clock: ManualClockHandle;
}

export interface SlidingWindowInput {
  readonly cost: number;
  readonly ops: number;
}

/** An accepted request: [time, cost]. */
export type Accepted = readonly [at: number, cost: number];

export default defineProgram<SlidingWindowShared, SlidingWindowInput, Accepted[]>(({ shared, input }) => {
  const window = SlidingWindow.from(shared.window);
  const clock = ManualClock.from(shared.clock);
  const accepted: Accepted[] = [];
  for (let i = 0; i < input.ops; i++) {
    const d = window.check(KEY, input.cost);
    if (d.allowed) accepted.push([d.at, input.cost]);
    clock.advance(WINDOW_MS / 2);
  }
  return accepted;
});
