/**
 * Sequential models for `checkLinearizable`: what a register, a counter and a
 * keyed map do when operations run one at a time. Operation names and
 * arguments are those a program records with `ctx.record(name, arg, fn)`.
 *
 * | model            | operations (arg → value)                                                      |
 * |------------------|-------------------------------------------------------------------------------|
 * | `registerModel`  | `read` → v; `write(v)`; `cas({ expected, next })` → boolean                   |
 * | `counterModel`   | `get` → n; `add(d)` → n after; `increment` / `decrement` → n after; `set(n)`   |
 * | `mapModel`       | `get({ key })` → v or undefined; `has({ key })` → boolean; `set({ key, value })`; |
 * |                  | `delete({ key })` → boolean; `setIfAbsent({ key, value })` → boolean;          |
 * |                  | `compareAndSet({ key, expected, next })` → boolean (partitioned by key)        |
 * | `cacheModel`     | `get({ key })` → v or undefined; `has({ key })` → boolean;                     |
 * |                  | `set({ key, value, ttlMs? })`; `delete({ key })` → boolean; `advance({ ms })`  |
 * |                  | (the clock; in every partition). An entry may vanish at any moment (eviction) |
 *
 * An operation that returned an error is taken as having had no effect (it
 * fits any state and changes nothing): sabre's operations refuse before
 * they change anything. What `write` and `set` return is not checked, nor
 * what `add` returns when the program recorded none (`undefined`).
 */
import { InvalidArgumentError } from '../errors.js';
import { sameData, type Model, type ModelOutput, type Operation, type StepResult } from './linearizability.js';

const accept = <S>(state: S): StepResult<S> => ({ ok: true, state });
/** True when `output` is unknown (pending) or its value is `expected`. */
const returns = (output: ModelOutput | undefined, expected: unknown): boolean => output === undefined || sameData(output.value, expected);

function unknownOperation(model: string, op: Operation, known: string): never {
  throw new InvalidArgumentError(
    `${model}: unknown operation ${JSON.stringify(op.name)} (thread ${op.thread} op ${op.op}); it knows ${known}`,
  );
}

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

/** One key's entry of a map model: absent, or present with a value. */
export type MapEntryState = { readonly present: false } | { readonly present: true; readonly value: unknown };

const ABSENT: MapEntryState = Object.freeze({ present: false });
const keyOf = (op: Operation): string => {
  const key = (op.arg as { key?: unknown } | null)?.key;
  if (typeof key !== 'string')
    throw new InvalidArgumentError(
      `mapModel: operations take { key: string, … }, got ${JSON.stringify(op.arg)} (thread ${op.thread} op ${op.op})`,
    );
  return key;
};

/**
 * A keyed map (SharedHashTable's contract), partitioned by key: each key's
 * operations are checked alone, so long histories over many keys stay cheap.
 * The state of a partition is one key's entry.
 */
export function mapModel(): Model<MapEntryState> {
  return {
    init: () => ABSENT,
    partition(ops) {
      const byKey = new Map<string, Operation[]>();
      for (const op of ops) {
        const key = keyOf(op);
        let list = byKey.get(key);
        if (list === undefined) byKey.set(key, (list = []));
        list.push(op);
      }
      return [...byKey.values()];
    },
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

/** One key's entry of a cache model, and the model clock's time. */
export interface CacheEntryState {
  readonly present: boolean;
  readonly value?: unknown;
  /** On the model clock; Infinity: never. */
  readonly expiresAt: number;
  readonly now: number;
}

/**
 * A cache (Cache's contract) partitioned by key: a keyed map whose entries
 * may vanish at any moment (eviction: a `get` may miss, a `delete` may find
 * nothing), and which must never return an entry at or after its expiry.
 * `advance({ ms })` moves the model clock; it belongs to every partition, so
 * record advances from one thread only (their order is then fixed).
 *
 * Sound for TTLs: a `set` takes its expiry from the clock at its
 * linearization point, the latest time the real cache could have read, so
 * the model's expiry is never earlier than the real one; a value returned
 * after it is a real violation, and expiring early is allowed (as eviction).
 */
export function cacheModel(): Model<CacheEntryState> {
  const advances = (op: Operation): boolean => op.name === 'advance';
  return {
    init: () => ({ present: false, expiresAt: Infinity, now: 0 }),
    partition(ops) {
      const clockOps = ops.filter(advances);
      const byKey = new Map<string, Operation[]>();
      for (const op of ops) {
        if (advances(op)) continue;
        const key = keyOf(op);
        let list = byKey.get(key);
        if (list === undefined) byKey.set(key, (list = [...clockOps]));
        list.push(op);
      }
      return byKey.size === 0 ? [clockOps] : [...byKey.values()];
    },
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      const arg = op.arg as { key: string; value?: unknown; ttlMs?: number; ms?: number };
      const live = state.present && state.now < state.expiresAt;
      const gone: CacheEntryState = { present: false, expiresAt: Infinity, now: state.now };
      // A miss is always allowed, and afterwards the entry can never be read
      // again (until a new set): it was evicted, or it expired, perhaps
      // earlier than the model's expiry (a set reads the clock before its
      // linearization point) and then may still be there for a delete.
      const missed = (st: CacheEntryState): CacheEntryState => (st.present ? { ...st, expiresAt: Math.min(st.expiresAt, st.now) } : st);
      switch (op.name) {
        case 'advance':
          return accept({ ...state, now: state.now + (arg.ms ?? 0) });
        case 'get':
          if (output === undefined) return accept(state);
          if (output.value === undefined) return accept(missed(state));
          return { ok: live && sameData(state.value, output.value), state };
        case 'has':
          if (output === undefined) return accept(state);
          if (output.value === false) return accept(missed(state));
          return { ok: live, state };
        case 'set':
          return accept({
            present: true,
            value: arg.value,
            expiresAt: arg.ttlMs === undefined ? Infinity : state.now + arg.ttlMs,
            now: state.now,
          });
        case 'delete':
          // True only if the entry was there (expired or not); false is always allowed (it may have been evicted).
          return { ok: output === undefined || output.value === false || state.present, state: gone };
        default:
          return unknownOperation('cacheModel', op, 'get, has, set, delete, advance');
      }
    },
  };
}
