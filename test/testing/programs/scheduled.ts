/**
 * A test program for controlled schedules. Each thread does what its input says:
 *   unsafe      n load-then-store increments of `shared.words[0]` (a lost update when interleaved), recorded
 *   locked      the same under the shared Mutex (lock blocks: the turn is handed on)
 *   forever     waits with no timeout on `shared.words[1]`, which nobody notifies
 *   timed       waits 60 s (virtual under a schedule) on `shared.words[1]`
 *   spin        spins on `shared.words[1]` until another thread sets it (no wait: a spin loop)
 *   set         sets `shared.words[1]`
 *   die         takes `n` unsafe increments, then ends its worker (process.exit) while it holds the turn
 */
import { load, store, wait } from '../../../src/memory/atomics.js';
import { Mutex, type MutexHandle } from '../../../src/sync/mutex.js';
import { systemClock } from '../../../src/clock.js';
import { defineProgram } from '../../../src/testing/index.js';

export interface ScheduledInput {
  readonly mode: 'unsafe' | 'locked' | 'forever' | 'timed' | 'spin' | 'set' | 'die';
  readonly n: number;
}
export interface ScheduledShared {
  readonly words: Int32Array;
  readonly mutex: MutexHandle;
}

export default defineProgram<ScheduledShared, ScheduledInput, string | undefined>((ctx) => {
  const { mode, n } = ctx.input;
  const words = ctx.shared.words;
  const increment = (): number =>
    ctx.record('increment', null, () => {
      const v = load(words, 0);
      store(words, 0, v + 1);
      return v + 1;
    });
  if (mode === 'unsafe') for (let i = 0; i < n; i++) increment();
  if (mode === 'die') {
    for (let i = 0; i < n; i++) increment();
    process.exit(3);
  }
  if (mode === 'locked') {
    const mutex = Mutex.from(ctx.shared.mutex);
    for (let i = 0; i < n; i++) {
      mutex.lock();
      try {
        increment();
      } finally {
        mutex.unlock();
      }
    }
  }
  if (mode === 'forever') return wait(words, 1, 0, Infinity);
  if (mode === 'timed') {
    const before = systemClock.now();
    const r = wait(words, 1, 0, 60_000);
    return `${r} after ${Math.round(systemClock.now() - before)} ms`;
  }
  if (mode === 'spin') {
    let spins = 0;
    while (load(words, 1) === 0) spins++;
    return String(spins);
  }
  if (mode === 'set') store(words, 1, 1);
  return undefined;
});
