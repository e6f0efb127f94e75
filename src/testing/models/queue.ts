import { InvalidArgumentError } from '../../errors.js';
import type { Model } from '../model.js';
import { accept, returns, unknownOperation } from './steps.js';

/**
 * A FIFO queue of plain data: `enqueue(v)` (or `offer(v)` → boolean: false
 * when `capacity` items are queued), `dequeue` (or `poll`) → the oldest item,
 * or undefined when empty, `peek` → the oldest item without removing it,
 * `size` → the number queued. A blocking `take` takes effect only while the
 * queue is not empty. The state is the items, oldest first.
 */
export function queueModel<T = unknown>(options: { readonly capacity?: number } = {}): Model<readonly T[]> {
  const capacity = options.capacity ?? Infinity;
  if (capacity !== Infinity && (!Number.isSafeInteger(capacity) || capacity < 1)) {
    throw new InvalidArgumentError(`queueModel: capacity must be a positive integer, got ${options.capacity}`);
  }
  const EMPTY: readonly T[] = Object.freeze([]);
  return {
    init: () => EMPTY,
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      switch (op.name) {
        case 'enqueue':
          return { ok: state.length < capacity, state: [...state, op.arg as T] };
        case 'offer': {
          const room = state.length < capacity;
          return { ok: returns(output, room), state: room ? [...state, op.arg as T] : state };
        }
        case 'dequeue':
        case 'poll':
          return { ok: returns(output, state[0]), state: state.length === 0 ? state : state.slice(1) };
        case 'take':
          return { ok: state.length > 0 && returns(output, state[0]), state: state.slice(1) };
        case 'peek':
          return { ok: returns(output, state[0]), state };
        case 'size':
          return { ok: returns(output, state.length), state };
        default:
          return unknownOperation('queueModel', op, 'enqueue, offer, dequeue, poll, take, peek, size');
      }
    },
  };
}
