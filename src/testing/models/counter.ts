import type { ModelOutput } from '../history.js';
import type { Model, StepResult } from '../model.js';
import { accept, unknownOperation } from './steps.js';

/** A counter (AtomicCounter's contract: `add` returns the value after it). */
export function counterModel(initial = 0): Model<number> {
  const after = (state: number, next: number, output: ModelOutput | undefined): StepResult<number> => ({
    ok: output?.value === undefined || output.value === next || (typeof output.value === 'bigint' && Number(output.value) === next),
    state: next,
  });
  return {
    init: () => initial,
    equal: (a, b) => a === b,
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      switch (op.name) {
        case 'get': {
          const v: unknown = output?.value;
          return { ok: output === undefined || v === state || (typeof v === 'bigint' && Number(v) === state), state };
        }
        case 'add':
          return after(state, state + Number(op.arg), output);
        case 'increment':
          return after(state, state + 1, output);
        case 'decrement':
          return after(state, state - 1, output);
        case 'set':
          return accept(Number(op.arg));
        default:
          return unknownOperation('counterModel', op, 'get, add, increment, decrement, set');
      }
    },
  };
}
