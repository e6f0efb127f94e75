/**
 * Producers and consumers over a bounded ring buffer in shared memory,
 * guarded by one Mutex and two conditions (notEmpty, notFull), the textbook
 * way: wait in a loop on the predicate, notify after changing it.
 *
 * A producer puts items `first .. first + count - 1`; a consumer takes items
 * until all `total` have been taken, marking `seen[item]`. The consumer that
 * takes the last item wakes every consumer still waiting (notifyAll), so the
 * run ends; a lost wake-up leaves threads waiting forever, which the harness
 * timeout reports.
 */
import { add } from '../../src/memory/atomics.js';
import { Condition, type ConditionHandle } from '../../src/sync/condition.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { defineProgram } from '../../src/testing/index.js';
import { LateSeqCondition } from './late-seq-condition.js';

export type ConditionsUnderTest =
  | { readonly kind: 'condition'; readonly notEmpty: ConditionHandle; readonly notFull: ConditionHandle }
  | { readonly kind: 'late-seq'; readonly notEmpty: Int32Array; readonly notFull: Int32Array };

export interface BufferShared {
  readonly mutex: MutexHandle;
  readonly conditions: ConditionsUnderTest;
  /** [COUNT, HEAD, TAIL, TAKEN, slot 0 .. capacity - 1]; plain reads and writes, always under the mutex. */
  readonly buffer: Int32Array;
  readonly capacity: number;
  readonly total: number;
  /** seen[item]: how many times the item was taken (must end at exactly 1 each). */
  readonly seen: Int32Array;
}
export const COUNT = 0,
  HEAD = 1,
  TAIL = 2,
  TAKEN = 3,
  SLOTS = 4;

export type BufferInput =
  | { readonly role: 'producer'; readonly first: number; readonly count: number; readonly asyncShare: number }
  | { readonly role: 'consumer'; readonly asyncShare: number };

interface Cond {
  wait(mutex: Mutex): boolean;
  waitAsync(mutex: Mutex): Promise<boolean>;
  notify(n?: number): void;
  notifyAll(): void;
}

function open(c: ConditionsUnderTest): { notEmpty: Cond; notFull: Cond } {
  return c.kind === 'condition'
    ? { notEmpty: Condition.from(c.notEmpty), notFull: Condition.from(c.notFull) }
    : { notEmpty: new LateSeqCondition(c.notEmpty), notFull: new LateSeqCondition(c.notFull) };
}

export default defineProgram<BufferShared, BufferInput, number>(async (ctx) => {
  const { buffer, capacity, total, seen } = ctx.shared;
  const mutex = Mutex.from(ctx.shared.mutex);
  const { notEmpty, notFull } = open(ctx.shared.conditions);
  const input = ctx.input;
  /** Waits on `cond` while `blocked()` (the mutex held), sync or async as drawn. */
  const waitWhile = async (cond: Cond, blocked: () => boolean): Promise<void> => {
    while (blocked()) {
      if (ctx.random() < input.asyncShare) await cond.waitAsync(mutex);
      else cond.wait(mutex);
    }
  };
  const lock = async (): Promise<void> => (ctx.random() < input.asyncShare ? mutex.lockAsync() : mutex.lock());

  if (input.role === 'producer') {
    for (let i = 0; i < input.count; i++) {
      await lock();
      try {
        await waitWhile(notFull, () => buffer[COUNT] === capacity);
        buffer[SLOTS + buffer[TAIL]!] = input.first + i;
        buffer[TAIL] = (buffer[TAIL]! + 1) % capacity;
        buffer[COUNT]!++;
        notEmpty.notify();
      } finally {
        mutex.unlock();
      }
    }
    return input.count;
  }
  let taken = 0;
  for (;;) {
    await lock();
    try {
      await waitWhile(notEmpty, () => buffer[COUNT] === 0 && buffer[TAKEN]! < total);
      if (buffer[TAKEN] === total) return taken;
      const item = buffer[SLOTS + buffer[HEAD]!]!;
      buffer[HEAD] = (buffer[HEAD]! + 1) % capacity;
      buffer[COUNT]!--;
      buffer[TAKEN]!++;
      add(seen, item, 1);
      taken++;
      notFull.notify();
      if (buffer[TAKEN] === total) notEmpty.notifyAll(); // the other consumers must see the end
    } finally {
      mutex.unlock();
    }
  }
});
