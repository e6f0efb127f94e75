import { FNV_OFFSET, fnv1a } from '../../memory/fnv.js';
import type { Model } from '../model.js';
import { accept, byKey, returns, unknownOperation } from './steps.js';

/** One key's value in the key-value model, with its hash (kept as the value grows, so a long value is never hashed again). */
export interface KvState {
  readonly value: string;
  readonly hash: number;
}

const EMPTY: KvState = Object.freeze({ value: '', hash: FNV_OFFSET });

const text = (v: unknown): string => (typeof v === 'string' ? v : String(v));

/**
 * A key-value store of strings (the model of porcupine's key-value tests),
 * partitioned by key: `get({ key })` → the value (`''` when absent),
 * `put({ key, value })`, `append({ key, value })` (concatenates).
 */
export function kvModel(): Model<KvState> {
  return {
    init: () => EMPTY,
    partition: (ops) => byKey('kvModel', ops),
    hash: (s) => s.hash,
    equal: (a, b) => a.hash === b.hash && a.value === b.value,
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      const arg = op.arg as { key: string; value?: unknown };
      switch (op.name) {
        case 'get':
          return { ok: returns(output, state.value), state };
        case 'put': {
          const value = text(arg.value);
          return accept({ value, hash: fnv1a(value) });
        }
        case 'append': {
          const more = text(arg.value);
          return accept({ value: state.value + more, hash: fnv1a(more, state.hash) }); // the hash of a + b: a's, continued over b
        }
        default:
          return unknownOperation('kvModel', op, 'get, put, append');
      }
    },
    describeState: (s) => JSON.stringify(s.value),
  };
}
