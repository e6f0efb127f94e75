/**
 * The sequential specification a history is checked against: porcupine's
 * `Model {Init, Step, Equal, Partition}` with generics, plus `hash` for the
 * checker's memo. A nondeterministic specification (a step with several
 * possible outcomes) is written with `nondeterministicModel` and becomes an
 * ordinary model over sets of states, as porcupine does.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ModelOutput, Operation } from './history.js';
import { hashData, sameData } from './state-hash.js';

/** What a model's step says: whether the operation may take effect here, and the state after it. */
export interface StepResult<S> {
  readonly ok: boolean;
  readonly state: S;
}

/**
 * A sequential specification. `S` is the model state; `A` and `V` the
 * operations' arguments and values.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- by default a model reads its operations' arguments and values as it likes (porcupine's interface{})
export interface Model<S, A = any, V = any> {
  /** The initial state (called once per partition). */
  init(): S;
  /**
   * Applies `op` (its `name`, `arg`) to `state`; `ok` is false when `output`
   * is not what the sequential object would return. `output` is undefined
   * for an indeterminate operation: any output is acceptable, only the
   * effect matters. Must not mutate `state` (return a new one).
   */
  step(state: S, op: Operation<A, V>, output: ModelOutput<V> | undefined): StepResult<S>;
  /**
   * A hash of a state for the checker's memo (a 32-bit integer, or a string
   * it hashes); equal states must hash alike. Default: a structural hash of
   * plain data (`hashData`).
   */
  hash?(state: S): number | string;
  /** State equality for the memo. Default: structural equality of plain data (`sameData`). */
  equal?(a: S, b: S): boolean;
  /** Splits the operations into independent sub-histories (e.g. by key), each checked alone from `init()`. */
  partition?(ops: readonly Operation<A, V>[]): Operation<A, V>[][];
  /** Text of an operation for reports (default: `name(arg) → value`). */
  describe?(op: Operation<A, V>): string;
  /** Text of a state for reports (default: JSON). */
  describeState?(state: S): string;
}

/** A nondeterministic specification: a step returns every state the operation may lead to (none: it cannot happen here). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as Model
export interface NondeterministicModel<S, A = any, V = any> extends Omit<Model<S, A, V>, 'init' | 'step' | 'describeState'> {
  /** The possible initial states (one, or several). */
  init(): S | readonly S[];
  /** Every state `op` may leave behind from `state` with this `output`; empty when it cannot take effect. */
  step(state: S, op: Operation<A, V>, output: ModelOutput<V> | undefined): readonly S[];
  /** Text of one state for reports. */
  describeState?(state: S): string;
}

/** A model's hash of a state as a 32-bit integer. */
export function stateHasher<S>(model: { hash?(state: S): number | string }): (state: S) => number {
  const own = model.hash?.bind(model);
  if (own === undefined) return hashData;
  return (s) => {
    const h = own(s);
    return typeof h === 'number' && Number.isInteger(h) ? h | 0 : hashData(h);
  };
}

/**
 * Wraps a nondeterministic specification as a model whose state is the set
 * of states the object may be in (porcupine's powerset construction): a
 * step maps every member, keeps the distinct results, and fails when none
 * is left. The set's hash is order-free, so the memo knows a set reached
 * in another order.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as Model
export function nondeterministicModel<S, A = any, V = any>(spec: NondeterministicModel<S, A, V>): Model<readonly S[], A, V> {
  if (typeof spec !== 'object' || spec === null || typeof spec.init !== 'function' || typeof spec.step !== 'function') {
    throw new InvalidArgumentError('nondeterministicModel takes an object with init() and step(state, op, output)');
  }
  const hash = stateHasher(spec);
  const equal = spec.equal ? spec.equal.bind(spec) : sameData;
  /** The distinct members of `states`, by hash then equality. */
  const distinct = (states: Iterable<S>): S[] => {
    const out: S[] = [];
    const byHash = new Map<number, S[]>();
    for (const s of states) {
      const h = hash(s);
      const same = byHash.get(h);
      if (same === undefined) byHash.set(h, [s]);
      else if (same.some((t) => equal(s, t))) continue;
      else same.push(s);
      out.push(s);
    }
    return out;
  };
  const model: Model<readonly S[], A, V> = {
    init() {
      const first = spec.init();
      return distinct(Array.isArray(first) ? (first as readonly S[]) : [first as S]);
    },
    step(states, op, output) {
      const next: S[] = [];
      for (const s of states) for (const t of spec.step(s, op, output)) next.push(t);
      const set = next.length <= 1 ? next : distinct(next);
      return { ok: set.length > 0, state: set };
    },
    hash(states) {
      let sum = states.length;
      for (const s of states) sum = (sum + Math.imul(hash(s), 0x9e3779b1)) | 0;
      return sum;
    },
    equal(a, b) {
      if (a.length !== b.length) return false;
      return a.every((s) => b.some((t) => equal(s, t)));
    },
    describeState(states) {
      const one = spec.describeState ? spec.describeState.bind(spec) : (s: S) => JSON.stringify(s) ?? String(s);
      return states.length === 1 ? one(states[0]!) : `one of {${states.map(one).join(', ')}}`;
    },
  };
  if (spec.partition) model.partition = spec.partition.bind(spec);
  if (spec.describe) model.describe = spec.describe.bind(spec);
  return model;
}
