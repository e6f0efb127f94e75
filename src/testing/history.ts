/**
 * Histories as the linearizability checker reads them: each operation's
 * invoke and return (from `runThreads`, or built by hand from any log)
 * paired into an `Operation` with its call and return stamps.
 *
 * An operation whose thread never returned (killed, hung), or whose return
 * says its outcome is `unknown` (a timeout), is indeterminate: it may take
 * effect at any point after its invoke, or never, and its output is not
 * checked. Its `ret` is Infinity.
 */
import { InvalidArgumentError } from '../errors.js';
import type { HistoryEvent, RecordedError } from './program.js';

/** What was returned: a value, or an error (as runThreads records them). Undefined: not known (indeterminate). */
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
  /** Undefined when not known: the thread never returned (killed or hung), or its return was `unknown`. */
  readonly output: ModelOutput<V> | undefined;
  /** Invoke and return stamps (`ret` is Infinity when indeterminate: the effect may come at any later point, or never). */
  readonly call: number;
  readonly ret: number;
  /** When an indeterminate operation's thread went on (an `unknown` return); undefined otherwise. For reports. */
  readonly endedAt?: number;
}

const isEvent = (e: unknown): e is HistoryEvent => {
  if (typeof e !== 'object' || e === null) return false;
  const x = e as Partial<HistoryEvent>;
  return (
    (x.type === 'invoke' || x.type === 'return') &&
    typeof x.time === 'number' &&
    !Number.isNaN(x.time) &&
    Number.isInteger(x.thread) &&
    Number.isInteger(x.op) &&
    typeof x.name === 'string'
  );
};

/**
 * Turns runThreads' events into operations (invoke and return matched by
 * thread and op index; an invoke without a return is indeterminate).
 * @throws InvalidArgumentError for a malformed event, a return without its
 *   invoke or before it, or two invokes (returns) of one operation
 */
export function operationsOf<A = unknown, V = unknown>(history: readonly HistoryEvent[]): Operation<A, V>[] {
  if (!Array.isArray(history)) throw new InvalidArgumentError(`history must be an array of HistoryEvent, got ${typeof history}`);
  const invokes = new Map<string, HistoryEvent>();
  const returns = new Map<string, HistoryEvent>();
  for (const e of history as unknown[]) {
    if (!isEvent(e)) {
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
    const base = { id, thread: i.thread, op: i.op, name: i.name, arg: i.arg as A, call: i.time };
    if (r === undefined) return { ...base, output: undefined, ret: Infinity };
    if (r.unknown === true) return { ...base, output: undefined, ret: Infinity, endedAt: r.time };
    const output: ModelOutput<V> = r.error !== undefined ? { error: r.error } : { value: r.value as V };
    return { ...base, output, ret: r.time };
  });
}

/** `t<thread>.name(arg) → value` (or `→ error CODE`, `→ unknown`). */
export function describeOperation(op: Operation): string {
  const arg = op.arg === undefined || op.arg === null ? '' : JSON.stringify(op.arg);
  const out =
    op.output === undefined
      ? 'unknown'
      : op.output.error !== undefined
        ? `error ${op.output.error.code ?? op.output.error.name}`
        : (JSON.stringify(op.output.value) ?? 'undefined');
  return `t${op.thread}.${op.name}(${arg}) → ${out}`;
}
