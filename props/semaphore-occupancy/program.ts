/**
 * Each thread enters a semaphore-protected section `input.ops` times, taking
 * `n` permits (drawn per entry from 1..permits with ctx.random()) by a style
 * also drawn per entry: sync `acquire(n)`, `acquireAsync(n)`, or
 * `runExclusive(fn, n)`. Inside, it adds n to a shared occupancy word and
 * counts a violation if the occupancy went above `permits`.
 */
import { add, load, sub } from '../../src/memory/atomics.js';
import { Semaphore, type SemaphoreHandle } from '../../src/sync/semaphore.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenActSemaphore } from './check-then-act-semaphore.js';

export interface SemaphoreOccupancyShared {
  readonly permits: number;
  readonly semaphore:
    | { readonly kind: 'semaphore'; readonly handle: SemaphoreHandle }
    /** words[0] starts at `permits`. */
    | { readonly kind: 'check-then-act'; readonly words: Int32Array };
  /** [OCCUPANCY, VIOLATIONS, MAX_SEEN] */
  readonly words: Int32Array;
}
export const OCCUPANCY = 0,
  VIOLATIONS = 1,
  MAX_SEEN = 2;
export interface SemaphoreOccupancyInput {
  readonly ops: number;
  /** Chance that an entry uses an async form rather than sync `acquire`. */
  readonly asyncShare: number;
}

interface Sem {
  acquire(n: number): unknown;
  acquireAsync(n: number): Promise<unknown>;
  release(n: number): void;
  runExclusive<T>(fn: () => T | PromiseLike<T>, n: number): Promise<T>;
}

export default defineProgram<SemaphoreOccupancyShared, SemaphoreOccupancyInput, void>(async (ctx) => {
  const { words, permits } = ctx.shared;
  const s = ctx.shared.semaphore;
  const sem: Sem = s.kind === 'semaphore' ? Semaphore.from(s.handle) : new CheckThenActSemaphore(s.words);
  const section = (n: number): void => {
    const inside = add(words, OCCUPANCY, n) + n;
    if (inside > permits) add(words, VIOLATIONS, 1);
    if (inside > load(words, MAX_SEEN)) words[MAX_SEEN] = inside; // a diagnostic only (racy on purpose: no seam step)
    load(words, OCCUPANCY); // a step inside, where a yield lets others try to enter
    sub(words, OCCUPANCY, n);
  };
  for (let i = 0; i < ctx.input.ops; i++) {
    const n = 1 + Math.floor(ctx.random() * permits);
    const style = ctx.random() >= ctx.input.asyncShare ? 'acquire' : ctx.random() < 0.5 ? 'acquireAsync' : 'runExclusive';
    if (style === 'acquire') {
      sem.acquire(n);
      try {
        section(n);
      } finally {
        sem.release(n);
      }
    } else if (style === 'acquireAsync') {
      await sem.acquireAsync(n);
      try {
        section(n);
        await Promise.resolve(); // holds the permits across a turn of the microtask queue
      } finally {
        sem.release(n);
      }
    } else {
      await sem.runExclusive(async () => {
        section(n);
        await Promise.resolve();
      }, n);
    }
  }
});
