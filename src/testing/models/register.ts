import type { Model } from '../model.js';
import { sameData } from '../state-hash.js';
import { accept, returns, unknownOperation } from './steps.js';

/** A read/write/compare-and-set register holding plain data. */
export function registerModel<T = unknown>(initial?: T): Model<T | undefined> {
  return {
    init: () => initial,
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      switch (op.name) {
        case 'read':
          return { ok: returns(output, state), state };
        case 'write':
          return accept(op.arg as T);
        case 'cas': {
          const { expected, next } = op.arg as { expected: T; next: T };
          const swapped = sameData(state, expected);
          return { ok: returns(output, swapped), state: swapped ? next : state };
        }
        default:
          return unknownOperation('registerModel', op, 'read, write, cas');
      }
    },
  };
}
