import { InvalidArgumentError } from '../../errors.js';
import type { Operation } from '../history.js';
import type { Model } from '../model.js';
import { accept, returns, unknownOperation } from './steps.js';

const countOf = (op: Operation): number => {
  const n = op.arg ?? 1;
  if (!Number.isSafeInteger(n) || (n as number) < 1) {
    throw new InvalidArgumentError(
      `semaphoreModel: ${op.name} takes a count of permits (a positive integer) or nothing, got ${JSON.stringify(op.arg)}`,
    );
  }
  return n as number;
};

/**
 * A counting semaphore of `permits`: `acquire(n = 1)` (takes effect only
 * while n permits are free), `tryAcquire(n = 1)` → boolean, `release(n = 1)`.
 * The state is the number of free permits; it never goes below zero, and
 * never above `permits` unless `releaseBeyond` (a semaphore whose releases
 * are not tied to acquires).
 */
export function semaphoreModel(permits: number, options: { readonly releaseBeyond?: boolean } = {}): Model<number> {
  if (!Number.isSafeInteger(permits) || permits < 0) {
    throw new InvalidArgumentError(`semaphoreModel: permits must be a non-negative integer, got ${permits}`);
  }
  const most = options.releaseBeyond === true ? Infinity : permits;
  return {
    init: () => permits,
    hash: (s) => s,
    equal: (a, b) => a === b,
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      switch (op.name) {
        case 'acquire': {
          const n = countOf(op);
          return { ok: state >= n, state: state - n };
        }
        case 'tryAcquire': {
          const n = countOf(op);
          const got = state >= n;
          return { ok: returns(output, got), state: got ? state - n : state };
        }
        case 'release': {
          const n = countOf(op);
          return { ok: state + n <= most, state: state + n };
        }
        default:
          return unknownOperation('semaphoreModel', op, 'acquire, tryAcquire, release');
      }
    },
  };
}
