/**
 * Each thread enters a lock-protected section `input.ops` times, by a locker
 * style drawn per entry from ctx.random(): sync `lock()`, async
 * `lockAsync()`, or `runExclusive()`. Inside, it counts itself into a shared
 * occupancy word and counts a violation if it was not alone.
 */
import { add, load, sub } from '../../src/memory/atomics.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenActLock } from './check-then-act-lock.js';

export interface OccupancyShared {
  readonly lock: { readonly kind: 'mutex'; readonly mutex: MutexHandle } | { readonly kind: 'check-then-act'; readonly words: Int32Array };
  /** [OCCUPANCY, VIOLATIONS] */
  readonly words: Int32Array;
}
export const OCCUPANCY = 0,
  VIOLATIONS = 1;
export interface OccupancyInput {
  readonly ops: number;
  /** Chance that an entry uses an async locker rather than sync `lock()`. */
  readonly asyncShare: number;
}

interface Lock {
  lock(): void;
  lockAsync(): Promise<void>;
  unlock(): void;
  runExclusive<T>(fn: () => T | PromiseLike<T>): Promise<T>;
}

export default defineProgram<OccupancyShared, OccupancyInput, void>(async (ctx) => {
  const { words } = ctx.shared;
  const lock: Lock = ctx.shared.lock.kind === 'mutex' ? Mutex.from(ctx.shared.lock.mutex) : new CheckThenActLock(ctx.shared.lock.words);
  const section = (): void => {
    if (add(words, OCCUPANCY, 1) !== 0) add(words, VIOLATIONS, 1);
    load(words, OCCUPANCY); // a step inside, where a yield lets others try to enter
    sub(words, OCCUPANCY, 1);
  };
  for (let i = 0; i < ctx.input.ops; i++) {
    const style = ctx.random() >= ctx.input.asyncShare ? 'lock' : ctx.random() < 0.5 ? 'lockAsync' : 'runExclusive';
    if (style === 'lock') {
      lock.lock();
      try {
        section();
      } finally {
        lock.unlock();
      }
    } else if (style === 'lockAsync') {
      await lock.lockAsync();
      try {
        section();
        await Promise.resolve(); // holds the lock across a turn of the microtask queue
      } finally {
        lock.unlock();
      }
    } else {
      await lock.runExclusive(async () => {
        section();
        await Promise.resolve();
      });
    }
  }
});
