/**
 * checkLinearizable: is a concurrent history explainable by some sequential
 * order of its operations, each taking effect at one instant between its
 * invoke and its return? (Herlihy and Wing's linearizability.)
 *
 * The search is Wing and Gong's with Lowe's memo, as in porcupine
 * (linear-search.ts). A model that partitions its operations (by key, for a
 * map) has each part checked alone (P-compositionality): the parts are
 * searched in turns, a slice of steps each, so one hard part cannot use up
 * the budget before an illegal one is reached, and the first illegal part
 * ends the check.
 *
 * Answers are values, never throws for a non-linearizable history: `'ok'`
 * with a linearization, `'illegal'` with the longest partial linearization
 * found, the model state after it and the operations that could not be
 * placed after it, or `'unknown'` when the time budget ran out, naming the
 * partitions left undecided. Never `'ok'` on a timeout.
 *
 * @example
 * ```ts
 * const { history } = await runThreads({ threads: [20, 20], program, setup, seed });
 * const verdict = checkLinearizable(history, counterModel(0), { timeoutMs: 10_000 });
 * expect(verdict.result).toBe('ok');   // else verdict.partial shows where it broke
 * ```
 */
import { InvalidArgumentError } from '../errors.js';
import { defineOptions } from '../options/schema.js';
import { timeout } from '../options/field.js';
import type { HistoryEvent } from './program.js';
import { describeOperation, operationsOf, type Operation } from './history.js';
import type { Model } from './model.js';
import { modelThrew, PartSearch } from './linear-search.js';

export { operationsOf, describeOperation, type Operation, type ModelOutput } from './history.js';
export { nondeterministicModel, type Model, type NondeterministicModel, type StepResult } from './model.js';
export { sameData, hashData } from './state-hash.js';

export interface CheckOptions {
  /** Time budget in ms for the whole check, shared by its partitions (default: Infinity). Exceeded: `'unknown'`. */
  readonly timeoutMs?: number;
}

const CHECK = defineOptions('checkLinearizable(history, model, options)', { timeoutMs: timeout() });

/** Search steps a partition takes before the next one has its turn; the clock is read once per turn. */
const SLICE_STEPS = 4096;

/** Where an illegal history broke. */
export interface PartialLinearization<A = unknown, V = unknown> {
  /** The longest order found in which every operation's effect and output fit the model. */
  readonly linearization: Operation<A, V>[];
  /** The model state after it. */
  readonly state: unknown;
  /** The operations that could come next after it and could not be placed there. */
  readonly unplaced: Operation<A, V>[];
  /** The partition (index) in which it broke (0 without partitioning). */
  readonly partition: number;
}

export interface CheckResult<A = unknown, V = unknown> {
  readonly result: 'ok' | 'illegal' | 'unknown';
  /** On 'ok': every partition's linearization, one after the other (indeterminate operations that never took effect are absent). */
  readonly linearization?: Operation<A, V>[];
  /** On 'ok': each partition's linearization, by partition. */
  readonly linearizations?: Operation<A, V>[][];
  /** On 'illegal': where it broke. */
  readonly partial?: PartialLinearization<A, V>;
  /** On 'unknown': the partitions (indexes) the budget did not decide; every other one was linearizable. */
  readonly undecided?: readonly number[];
  /** The operations checked (parsed from the history). */
  readonly operations: Operation<A, V>[];
  /** The partitions as the model made them (one, without `partition`). */
  readonly partitions: readonly (readonly Operation<A, V>[])[];
  /** Search steps taken, over every partition. */
  readonly steps: number;
  /** A one-paragraph account, for test failure messages. */
  readonly summary: string;
}

/**
 * Checks `history` (from `runThreads`) against `model`.
 * @returns `'ok'` with a linearization, `'illegal'` with the longest partial
 *   linearization, or `'unknown'` when `timeoutMs` ran out (never `'ok'`)
 * @throws InvalidArgumentError for a malformed history or options, a
 *   partition that is not one of the history's operations, or a model
 *   whose `init` or `step` throws (the message names the operation and state)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the defaults of Model's A and V
export function checkLinearizable<S, A = any, V = any>(
  history: readonly HistoryEvent[],
  model: Model<S, A, V>,
  options?: CheckOptions,
): CheckResult<A, V> {
  if (typeof model !== 'object' || model === null || typeof model.init !== 'function' || typeof model.step !== 'function') {
    throw new InvalidArgumentError('model must be an object with init() and step(state, op, output)');
  }
  const { timeoutMs } = CHECK.parse(options);
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  const operations = operationsOf<A, V>(history);
  const parts = partitionsOf(model, operations);
  const describe = (op: Operation<A, V>): string => (model.describe ? model.describe(op) : describeOperation(op));
  let searches: PartSearch<S, A, V>[];
  try {
    searches = parts.map((ops) => new PartSearch(ops, model));
  } catch (e) {
    throw e instanceof InvalidArgumentError ? e : new InvalidArgumentError(`the model's init() threw: ${(e as Error)?.message ?? e}`, e);
  }
  const base = { operations, partitions: parts };
  let active = searches.map((_, p) => p).filter((p) => searches[p]!.status === 'running');
  const steps = (): number => searches.reduce((n, s) => n + s.steps, 0);
  while (active.length > 0) {
    if (performance.now() >= deadline) {
      const which = parts.length > 1 ? `; partitions ${active.join(', ')} of ${parts.length} undecided, the others linearizable` : '';
      return {
        ...base,
        result: 'unknown',
        undecided: active,
        steps: steps(),
        summary: `undecided: the check ran out of its ${timeoutMs} ms budget${which}`,
      };
    }
    for (const p of active) {
      if (searches[p]!.run(SLICE_STEPS) !== 'illegal') continue;
      const s = searches[p]!;
      const partial = { linearization: s.longest, state: stateAfter(model, s.longest), unplaced: s.unplaced(), partition: p };
      const where = parts.length > 1 ? ` (partition ${p} of ${parts.length})` : '';
      const summary =
        `not linearizable${where}: after the ${s.longest.length} operations [${s.longest.map(describe).join(', ')}], ` +
        `none of [${partial.unplaced.map(describe).join(', ')}] can take effect`;
      return { ...base, result: 'illegal', partial, steps: steps(), summary };
    }
    active = active.filter((p) => searches[p]!.status === 'running');
  }
  const linearizations = searches.map((s) => s.order);
  return {
    ...base,
    result: 'ok',
    linearization: linearizations.flat(),
    linearizations,
    steps: steps(),
    summary: `linearizable (${operations.length} operations)`,
  };
}

function partitionsOf<S, A, V>(model: Model<S, A, V>, operations: Operation<A, V>[]): Operation<A, V>[][] {
  if (!model.partition) return [operations];
  const parts = model.partition(operations);
  const known = new Set(operations);
  if (!Array.isArray(parts) || !parts.every((p) => Array.isArray(p) && p.every((op) => known.has(op)))) {
    throw new InvalidArgumentError("the model's partition(ops) must return arrays of the operations it was given");
  }
  return parts;
}

/** The model state after `order` (replayed from `init()`). */
function stateAfter<S, A, V>(model: Model<S, A, V>, order: readonly Operation<A, V>[]): S {
  let state = model.init();
  for (const op of order) {
    try {
      state = model.step(state, op, op.output).state;
    } catch (e) {
      throw modelThrew(model, op, state, e);
    }
  }
  return state;
}
