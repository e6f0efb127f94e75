import type { Model } from '../model.js';
import { sameData } from '../state-hash.js';
import { accept, byKey, returns, unknownOperation } from './steps.js';

/** One key's entry of a map model: absent, or present with a value. */
export type MapEntryState = { readonly present: false } | { readonly present: true; readonly value: unknown };

const ABSENT: MapEntryState = Object.freeze({ present: false });

/**
 * A keyed map (SharedHashTable's contract), partitioned by key: each key's
 * operations are checked alone, so long histories over many keys stay cheap.
 * The state of a partition is one key's entry.
 */
export function mapModel(): Model<MapEntryState> {
  return {
    init: () => ABSENT,
    partition: (ops) => byKey('mapModel', ops),
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      const arg = op.arg as { key: string; value?: unknown; expected?: unknown; next?: unknown };
      switch (op.name) {
        case 'get':
          return { ok: returns(output, state.present ? state.value : undefined), state };
        case 'has':
          return { ok: returns(output, state.present), state };
        case 'set':
          return accept({ present: true, value: arg.value });
        case 'delete':
          return { ok: returns(output, state.present), state: ABSENT };
        case 'setIfAbsent':
          return { ok: returns(output, !state.present), state: state.present ? state : { present: true, value: arg.value } };
        case 'compareAndSet': {
          const swapped = state.present && sameData(state.value, arg.expected);
          return { ok: returns(output, swapped), state: swapped ? { present: true, value: arg.next } : state };
        }
        default:
          return unknownOperation('mapModel', op, 'get, has, set, delete, setIfAbsent, compareAndSet');
      }
    },
  };
}
