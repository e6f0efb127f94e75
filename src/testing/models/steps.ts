/**
 * What the shipped models share: accepting a step, comparing an output,
 * naming an unknown operation, and partitioning by key.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { ModelOutput, Operation } from '../history.js';
import type { StepResult } from '../model.js';
import { sameData } from '../state-hash.js';

export const accept = <S>(state: S): StepResult<S> => ({ ok: true, state });

/** True when `output` is unknown (indeterminate) or its value is `expected`. */
export const returns = (output: ModelOutput | undefined, expected: unknown): boolean =>
  output === undefined || sameData(output.value, expected);

export function unknownOperation(model: string, op: Operation, known: string): never {
  throw new InvalidArgumentError(
    `${model}: unknown operation ${JSON.stringify(op.name)} (thread ${op.thread} op ${op.op}); it knows ${known}`,
  );
}

/** The `key` of an operation's `{ key, … }` argument. */
export function keyOf(model: string, op: Operation): string {
  const key = (op.arg as { key?: unknown } | null)?.key;
  if (typeof key !== 'string') {
    throw new InvalidArgumentError(
      `${model}: operations take { key: string, … }, got ${JSON.stringify(op.arg)} (thread ${op.thread} op ${op.op})`,
    );
  }
  return key;
}

/** The operations grouped by key, each group prefixed with `everywhere` (operations that belong to every key). */
export function byKey<O extends Operation>(model: string, ops: readonly O[], everywhere: readonly O[] = []): O[][] {
  const groups = new Map<string, O[]>();
  const skip = new Set(everywhere);
  for (const op of ops) {
    if (skip.has(op)) continue;
    const key = keyOf(model, op);
    let list = groups.get(key);
    if (list === undefined) groups.set(key, (list = [...everywhere]));
    list.push(op);
  }
  return [...groups.values()];
}
