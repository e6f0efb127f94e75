/**
 * checkLinearizable: is a concurrent history explainable by some sequential
 * order of its operations, each taking effect at one instant between its
 * invoke and its return? (Herlihy and Wing's linearizability.)
 *
 * The search is Wing and Gong's (1993): repeatedly pick an operation that may
 * come next (one invoked before the earliest return not yet placed), apply it
 * to the model, and backtrack when the model refuses; with Lowe's memoization
 * (2017): a (set of placed operations, model state) pair already explored is
 * never explored again. It is the algorithm of porcupine (Go), from whose
 * `checker.go` this file takes its shape, and whose `Model {Init, Step, Equal,
 * Partition}` the `Model` type mirrors with generics. Partitioning (by key,
 * for a map) checks independent parts separately, which turns an exponential
 * search over the whole history into small ones (P-compositionality).
 *
 * Answers are values, never throws for a non-linearizable history: `'ok'`
 * with a linearization, `'illegal'` with the longest partial linearization
 * found and the operations that could not be placed after it, or `'unknown'`
 * when the time budget ran out. Never `'ok'` on a timeout.
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
import type { HistoryEvent, RecordedError } from './program.js';

/*
 * Implementation notes
 *
 * Operations become two entries each (call, return) in one doubly linked list
 * ordered by time; a pending operation (invoked, never returned: its thread was
 * killed or hung) gets its return at +Infinity, after every other entry. The
 * search walks the list from the head: at a call entry it tries to linearize
 * that operation now (model step, then the memo check), and if it can, "lifts"
 * its two entries out of the list and starts again from the head; at a return
 * entry, the operation returning there was invoked, not placed, and every
 * operation that could precede it has been tried: backtrack (pop, unlift,
 * continue after the popped call). The search succeeds when every operation
 * that returned is placed: pending operations left over are those that never
 * took effect, which is allowed (a pending operation may take effect at any
 * point after its invoke, or never).
 *
 * Memo (Lowe): Map from the bitset of placed operations (as a string) to the
 * model states already reached with it; a step into a pair found there is
 * skipped. States are compared with `model.equal` (default: structural, via
 * JSON, which suits the plain-data states of the models in models.ts).
 *
 * Longest partial linearization: the deepest stack seen; the operations that
 * could not be placed after it are those not on it that were invoked before
 * the earliest return among them (the candidates every one of which failed).
 */

/** What was returned: a value, or an error (as runThreads records them). Undefined: pending. */
export type ModelOutput<V = unknown> =
  { readonly value: V; readonly error?: undefined } | { readonly error: RecordedError; readonly value?: undefined };

/** One operation of a history. */
export interface Operation<A = unknown, V = unknown> {
  /** Index of the operation in the checked history (0, 1, …, by invoke time). */
  readonly id: number;
  readonly thread: number;
  /** Index of the operation within its thread. */
  readonly op: number;
  readonly name: string;
  readonly arg: A;
  /** Undefined while pending: the thread never returned (killed or hung). */
  readonly output: ModelOutput<V> | undefined;
  /** Invoke and return stamps (`ret` is Infinity when pending). */
  readonly call: number;
  readonly ret: number;
}

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
   * is not what the sequential object would return. `output` is undefined for
   * a pending operation: any output is acceptable, only the effect matters.
   * Must not mutate `state` (return a new one).
   */
  step(state: S, op: Operation<A, V>, output: ModelOutput<V> | undefined): StepResult<S>;
  /** State equality for the memo (default: structural, via JSON). */
  equal?(a: S, b: S): boolean;
  /** Splits the operations into independent sub-histories (e.g. by key), each checked alone from `init()`. */
  partition?(ops: readonly Operation<A, V>[]): Operation<A, V>[][];
  /** Text of an operation for reports (default: `name(arg) → value`). */
  describe?(op: Operation<A, V>): string;
}

export interface CheckOptions {
  /** Time budget in ms for the whole check (default: Infinity). Exceeded: `'unknown'`. */
  readonly timeoutMs?: number;
}

const CHECK = defineOptions('checkLinearizable(history, model, options)', { timeoutMs: timeout() });

/** Where an illegal history broke. */
export interface PartialLinearization<A = unknown, V = unknown> {
  /** The longest order found in which every operation's effect and output fit the model. */
  readonly linearization: Operation<A, V>[];
  /** The operations that could come next after it and could not be placed there. */
  readonly unplaced: Operation<A, V>[];
  /** The partition (index) in which it broke (0 without partitioning). */
  readonly partition: number;
}

export interface CheckResult<A = unknown, V = unknown> {
  readonly result: 'ok' | 'illegal' | 'unknown';
  /** On 'ok': every partition's linearization, one after the other (pending operations that never took effect are absent). */
  readonly linearization?: Operation<A, V>[];
  /** On 'illegal': where it broke. */
  readonly partial?: PartialLinearization<A, V>;
  /** The operations checked (parsed from the history). */
  readonly operations: Operation<A, V>[];
  /** A one-paragraph account, for test failure messages. */
  readonly summary: string;
}

/**
 * Turns runThreads' events into operations (invoke and return matched by
 * thread and op index; an invoke without a return is pending).
 * @throws InvalidArgumentError for a return without its invoke, or duplicate events
 */
export function operationsOf<A = unknown, V = unknown>(history: readonly HistoryEvent[]): Operation<A, V>[] {
  if (!Array.isArray(history)) throw new InvalidArgumentError(`history must be an array of HistoryEvent, got ${typeof history}`);
  const invokes = new Map<string, HistoryEvent>();
  const returns = new Map<string, HistoryEvent>();
  for (const e of history as HistoryEvent[]) {
    if (typeof e !== 'object' || e === null || (e.type !== 'invoke' && e.type !== 'return') || typeof e.time !== 'number') {
      throw new InvalidArgumentError(
        `history events must be { type: 'invoke' | 'return', time, thread, op, name, … }, got ${JSON.stringify(e)}`,
      );
    }
    const key = `${e.thread}:${e.op}`;
    const into = e.type === 'invoke' ? invokes : returns;
    if (into.has(key)) throw new InvalidArgumentError(`history has two ${e.type} events for thread ${e.thread} op ${e.op}`);
    into.set(key, e);
  }
  for (const [key, r] of returns) {
    const i = invokes.get(key);
    if (i === undefined) throw new InvalidArgumentError(`history has a return without its invoke (thread ${r.thread} op ${r.op})`);
    if (r.time < i.time) throw new InvalidArgumentError(`history has a return before its invoke (thread ${r.thread} op ${r.op})`);
  }
  const sorted = [...invokes.values()].sort((a, b) => a.time - b.time);
  return sorted.map((i, id) => {
    const r = returns.get(`${i.thread}:${i.op}`);
    const output: ModelOutput<V> | undefined =
      r === undefined ? undefined : r.error !== undefined ? { error: r.error } : { value: r.value as V };
    return {
      id,
      thread: i.thread,
      op: i.op,
      name: i.name,
      arg: i.arg as A,
      output,
      call: i.time,
      ret: r === undefined ? Infinity : r.time,
    };
  });
}

/** Structural equality of plain data (what the memo uses by default). */
export function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `name(arg) → value` (or `→ error CODE`, `→ pending`). */
export function describeOperation(op: Operation): string {
  const arg = op.arg === undefined || op.arg === null ? '' : JSON.stringify(op.arg);
  const out =
    op.output === undefined
      ? 'pending'
      : op.output.error !== undefined
        ? `error ${op.output.error.code ?? op.output.error.name}`
        : (JSON.stringify(op.output.value) ?? 'undefined');
  return `t${op.thread}.${op.name}(${arg}) → ${out}`;
}

/**
 * Checks `history` (from `runThreads`) against `model`.
 * @returns `'ok'` with a linearization, `'illegal'` with the longest partial
 *   linearization, or `'unknown'` when `timeoutMs` ran out (never `'ok'`)
 * @throws InvalidArgumentError for a malformed history or options
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the defaults of Model's A and V, above
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
  const parts = model.partition ? model.partition(operations) : [operations];
  const describe = (op: Operation<A, V>): string => (model.describe ? model.describe(op) : describeOperation(op));
  const linearization: Operation<A, V>[] = [];
  let unknown = false;
  for (let p = 0; p < parts.length; p++) {
    const verdict = checkPart(parts[p]!, model, deadline);
    if (verdict.kind === 'unknown') {
      unknown = true;
      continue; // another part may still prove the history illegal
    }
    if (verdict.kind === 'illegal') {
      const partial = { linearization: verdict.longest, unplaced: verdict.unplaced, partition: p };
      const summary =
        `not linearizable${parts.length > 1 ? ` (partition ${p} of ${parts.length})` : ''}: after the ${verdict.longest.length} operations ` +
        `[${verdict.longest.map(describe).join(', ')}], none of [${verdict.unplaced.map(describe).join(', ')}] can take effect`;
      return { result: 'illegal', partial, operations, summary };
    }
    linearization.push(...verdict.order);
  }
  if (unknown) return { result: 'unknown', operations, summary: `undecided: the check ran out of its ${timeoutMs} ms budget` };
  return { result: 'ok', linearization, operations, summary: `linearizable (${operations.length} operations)` };
}

type PartVerdict<A, V> =
  | { readonly kind: 'ok'; readonly order: Operation<A, V>[] }
  | { readonly kind: 'illegal'; readonly longest: Operation<A, V>[]; readonly unplaced: Operation<A, V>[] }
  | { readonly kind: 'unknown' };

interface Entry<A, V> {
  readonly op: Operation<A, V>;
  readonly isCall: boolean;
  /** The call entry's return entry (undefined on a return entry). */
  match?: Entry<A, V>;
  prev: Entry<A, V> | undefined;
  next: Entry<A, V> | undefined;
}

/** Deadline checks every this many search steps (reading the clock costs ~50 ns). */
const CLOCK_EVERY = 1024;

function checkPart<S, A, V>(ops: readonly Operation<A, V>[], model: Model<S, A, V>, deadline: number): PartVerdict<A, V> {
  if (performance.now() > deadline) return { kind: 'unknown' };
  const equal = model.equal ? model.equal.bind(model) : sameData;
  // The list: a sentinel head, then entries by time (calls before returns on a tie).
  const head = makeList(ops);
  const n = ops.length;
  const index = new Map<Operation<A, V>, number>(ops.map((op, i) => [op, i]));
  let mustPlace = ops.filter((op) => op.output !== undefined).length;
  const placed = new Uint32Array((n + 31) >>> 5);
  const memo = new Map<string, S[]>();
  const stack: { entry: Entry<A, V>; state: S }[] = [];
  let longest: Operation<A, V>[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  while (mustPlace > 0) {
    if (++steps % CLOCK_EVERY === 0 && performance.now() > deadline) return { kind: 'unknown' };
    if (entry === undefined) break; // unreachable: a returned operation's return entry ends every scan
    if (entry.isCall) {
      const i = index.get(entry.op)!;
      const r = model.step(state, entry.op, entry.op.output);
      if (r.ok) {
        placed[i >>> 5]! |= 1 << (i & 31);
        const key = placed.join(',');
        const seen = memo.get(key);
        if (!seen?.some((s) => equal(s, r.state))) {
          if (seen === undefined) memo.set(key, [r.state]);
          else seen.push(r.state);
          stack.push({ entry, state });
          state = r.state;
          if (entry.op.output !== undefined) mustPlace--;
          lift(entry);
          if (stack.length > longest.length) longest = stack.map((s) => s.entry.op);
          entry = head.next;
          continue;
        }
        placed[i >>> 5]! &= ~(1 << (i & 31));
      }
      entry = entry.next;
      continue;
    }
    // A return entry: its operation could not be placed before it. Backtrack.
    const top = stack.pop();
    if (top === undefined) return { kind: 'illegal', longest, unplaced: unplacedAfter(ops, longest) };
    const i = index.get(top.entry.op)!;
    placed[i >>> 5]! &= ~(1 << (i & 31));
    state = top.state;
    if (top.entry.op.output !== undefined) mustPlace++;
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { kind: 'ok', order: stack.map((s) => s.entry.op) };
}

function makeList<A, V>(ops: readonly Operation<A, V>[]): Entry<A, V> {
  const entries: Entry<A, V>[] = [];
  for (const op of ops) {
    const call: Entry<A, V> = { op, isCall: true, prev: undefined, next: undefined };
    const ret: Entry<A, V> = { op, isCall: false, prev: undefined, next: undefined };
    call.match = ret;
    entries.push(call, ret);
  }
  const at = (e: Entry<A, V>): number => (e.isCall ? e.op.call : e.op.ret);
  entries.sort((a, b) => at(a) - at(b) || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry<A, V> = { op: undefined as never, isCall: false, prev: undefined, next: undefined };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Removes a call entry and its return entry from the list. */
function lift<A, V>(call: Entry<A, V>): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back (in the reverse order of `lift`). */
function unlift<A, V>(call: Entry<A, V>): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** The candidates for the next place after `longest`: not in it, invoked before the earliest return among the rest. */
function unplacedAfter<A, V>(ops: readonly Operation<A, V>[], longest: readonly Operation<A, V>[]): Operation<A, V>[] {
  const done = new Set(longest);
  const rest = ops.filter((op) => !done.has(op));
  const firstReturn = Math.min(...rest.map((op) => op.ret));
  return rest
    .filter((op) => op.call < firstReturn && op.output !== undefined)
    .concat(rest.filter((op) => op.call < firstReturn && op.output === undefined));
}
