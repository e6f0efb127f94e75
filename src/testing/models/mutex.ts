import type { Model } from '../model.js';
import { accept, returns, unknownOperation } from './steps.js';

/** No thread holds the mutex. */
const FREE = -1;

/**
 * A mutual-exclusion lock whose owner is the recording thread:
 * `acquire` (takes effect only while the lock is free), `tryAcquire` →
 * boolean, `release` (only by the holder). The state is the holder's
 * thread index, or -1. An operation that threw had no effect.
 */
export function mutexModel(): Model<number> {
  return {
    init: () => FREE,
    hash: (s) => s,
    equal: (a, b) => a === b,
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      switch (op.name) {
        case 'acquire':
          return { ok: state === FREE, state: op.thread };
        case 'tryAcquire':
          return { ok: returns(output, state === FREE), state: state === FREE ? op.thread : state };
        case 'release':
          return { ok: state === op.thread, state: FREE };
        default:
          return unknownOperation('mutexModel', op, 'acquire, tryAcquire, release');
      }
    },
    describeState: (s) => (s === FREE ? 'free' : `held by t${s}`),
  };
}
