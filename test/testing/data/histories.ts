/**
 * Hand-written histories for the linearizability checker, in porcupine's
 * ok/bad pairs: each `bad` is a minimal change of its `ok` that no sequential
 * order explains. An operation is written
 * `[thread, name, arg, value, invokeTime, returnTime]`; a `returnTime` of
 * `null` is an operation that never returned (its thread was killed).
 */
import type { HistoryEvent } from '../../../src/testing/index.js';

export type Op = readonly [thread: number, name: string, arg: unknown, value: unknown, call: number, ret: number | null];

/** The events runThreads would have recorded for `ops`. */
export function history(...ops: Op[]): HistoryEvent[] {
  const perThread = new Map<number, number>();
  const events: HistoryEvent[] = [];
  for (const [thread, name, arg, value, call, ret] of ops) {
    const op = perThread.get(thread) ?? 0;
    perThread.set(thread, op + 1);
    events.push({ type: 'invoke', time: call, thread, op, name, arg });
    if (ret !== null) events.push({ type: 'return', time: ret, thread, op, name, value });
  }
  return events.sort((a, b) => a.time - b.time);
}

/** A register starting at 0. */
export const register = {
  /** A read overlapping a write may see either value. */
  c01: {
    ok: history([0, 'write', 1, undefined, 0, 10], [1, 'read', null, 1, 5, 15], [2, 'read', null, 0, 6, 12]),
    /** A stale read: it starts after the write returned and still sees 0. */
    bad: history([0, 'write', 1, undefined, 0, 5], [1, 'read', null, 0, 6, 10]),
  },
  /** Two concurrent compare-and-sets from the same expected value. */
  c02: {
    ok: history(
      [0, 'cas', { expected: 0, next: 1 }, true, 0, 10],
      [1, 'cas', { expected: 0, next: 2 }, false, 1, 11],
      [2, 'read', null, 1, 12, 13],
    ),
    /** Both succeed: one of them must have seen the other's value. */
    bad: history([0, 'cas', { expected: 0, next: 1 }, true, 0, 10], [1, 'cas', { expected: 0, next: 2 }, true, 1, 11]),
  },
  /** Reads that order two concurrent writes must agree on that order. */
  c03: {
    ok: history(
      [0, 'write', 1, undefined, 0, 10],
      [1, 'write', 2, undefined, 0, 10],
      [2, 'read', null, 1, 11, 12],
      [2, 'read', null, 1, 13, 14],
    ),
    /** After both writes returned, the value cannot change without a write. */
    bad: history(
      [0, 'write', 1, undefined, 0, 10],
      [1, 'write', 2, undefined, 0, 10],
      [2, 'read', null, 1, 11, 12],
      [2, 'read', null, 2, 13, 14],
    ),
  },
};

/** A counter starting at 0 (`add` returns the value after it). */
export const counter = {
  c01: {
    ok: history([0, 'add', 1, 2, 0, 10], [1, 'add', 1, 1, 1, 9], [2, 'get', null, 2, 11, 12]),
    /** Going backwards: a get after a get that saw 2 sees 1. */
    bad: history([0, 'add', 1, 1, 0, 3], [1, 'add', 1, 2, 1, 4], [2, 'get', null, 2, 5, 6], [2, 'get', null, 1, 7, 8]),
  },
  /** Lost update: two overlapping adds both return 1 (the load-then-store counter). */
  lostUpdate: history([0, 'add', 1, 1, 0, 10], [1, 'add', 1, 1, 1, 11]),
};

/** Operations that never returned: they may take effect at any point after their invoke, or never. */
export const pending = {
  /** The killed writer's value was seen: it took effect. */
  seen: history([0, 'write', 1, undefined, 0, null], [1, 'read', null, 1, 5, 6]),
  /** Not seen: it never took effect. */
  unseen: history([0, 'write', 1, undefined, 0, null], [1, 'read', null, 0, 5, 6], [1, 'read', null, 0, 7, 8]),
  /** Seen, then unseen: once it took effect it cannot be undone. */
  bad: history([0, 'write', 1, undefined, 0, null], [1, 'read', null, 1, 5, 6], [1, 'read', null, 0, 7, 8]),
  /** Seen before it was invoked. */
  early: history([1, 'read', null, 1, 0, 1], [0, 'write', 1, undefined, 2, null]),
};

/** A map (partitioned by key). */
export const map = {
  ok: history(
    [0, 'set', { key: 'a', value: 1 }, undefined, 0, 2],
    [1, 'setIfAbsent', { key: 'b', value: 'x' }, true, 1, 3],
    [2, 'setIfAbsent', { key: 'b', value: 'y' }, false, 1, 4],
    [0, 'compareAndSet', { key: 'a', expected: 1, next: 2 }, true, 5, 6],
    [1, 'get', { key: 'b' }, 'x', 5, 7],
    [2, 'delete', { key: 'a' }, true, 8, 9],
    [0, 'has', { key: 'a' }, false, 10, 11],
    [1, 'get', { key: 'c' }, undefined, 10, 11],
  ),
  /** Key 'b' is fine; key 'a' shows a successful compareAndSet from a value it never had. */
  bad: history(
    [1, 'setIfAbsent', { key: 'b', value: 'x' }, true, 0, 3],
    [0, 'set', { key: 'a', value: 1 }, undefined, 1, 2],
    [0, 'compareAndSet', { key: 'a', expected: 7, next: 2 }, true, 5, 6],
  ),
};

/**
 * `n` overlapping writes of distinct values, then two reads that disagree: not
 * linearizable, but the checker must try every order of the writes to know
 * (memoized: about 2^n · n states), so a small budget runs out first.
 */
export function hardIllegal(n: number): HistoryEvent[] {
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) ops.push([i, 'write', i + 1, undefined, i, 1000]);
  ops.push([n, 'read', null, 1, 1001, 1002], [n, 'read', null, 2, 1003, 1004]);
  return history(...ops);
}
