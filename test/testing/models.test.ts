/**
 * The shipped models, each with an ok/bad pair (porcupine's habit): the bad
 * history is a small change of the ok one that the object's contract forbids.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import {
  checkLinearizable,
  idempotencyModel,
  kvModel,
  mutexModel,
  queueModel,
  semaphoreModel,
  type Model,
} from '../../src/testing/index.js';
import { expectCode } from '../helpers/errors.js';
import { history } from './data/histories.js';

const verdict = (events: ReturnType<typeof history>, model: Model<unknown>) => checkLinearizable(events, model).result;

describe('kvModel', () => {
  it('appends concatenate, a get sees the whole value, keys are apart', () => {
    const ok = history(
      [0, 'append', { key: 'x', value: 'a' }, undefined, 0, 10],
      [1, 'append', { key: 'x', value: 'b' }, undefined, 1, 11],
      [2, 'get', { key: 'x' }, 'ba', 12, 13],
      [2, 'get', { key: 'y' }, '', 14, 15],
      [3, 'put', { key: 'y', value: 'z' }, undefined, 16, 17],
      [3, 'get', { key: 'y' }, 'z', 18, 19],
    );
    expect(verdict(ok, kvModel())).toBe('ok');
    const lostAppend = history(
      [0, 'append', { key: 'x', value: 'a' }, undefined, 0, 1],
      [1, 'append', { key: 'x', value: 'b' }, undefined, 2, 3],
      [2, 'get', { key: 'x' }, 'b', 4, 5],
    );
    expect(verdict(lostAppend, kvModel())).toBe('illegal');
    const result = checkLinearizable(ok, kvModel());
    expect(result.partitions).toHaveLength(2);
  });

  it('a long value is hashed as it grows, and equal values are one state', () => {
    const m = kvModel();
    const op = (name: string, value: string) => ({ name, arg: { key: 'k', value } }) as never;
    const viaAppend = m.step(m.step(m.init(), op('append', 'ab'), undefined).state, op('append', 'cd'), undefined).state;
    const viaPut = m.step(m.init(), op('put', 'abcd'), undefined).state;
    expect(m.hash!(viaAppend)).toBe(m.hash!(viaPut));
    expect(m.equal!(viaAppend, viaPut)).toBe(true);
  });
});

describe('mutexModel', () => {
  it('one holder at a time; only the holder releases', () => {
    const ok = history(
      [0, 'acquire', null, undefined, 0, 1],
      [1, 'acquire', null, undefined, 2, 10], // waits for t0
      [0, 'release', null, undefined, 3, 4],
      [1, 'release', null, undefined, 11, 12],
      [2, 'tryAcquire', null, true, 13, 14],
      [1, 'tryAcquire', null, false, 15, 16],
    );
    expect(verdict(ok, mutexModel())).toBe('ok');
    const twoHolders = history([0, 'acquire', null, undefined, 0, 1], [1, 'acquire', null, undefined, 2, 3]);
    expect(verdict(twoHolders, mutexModel())).toBe('illegal');
    const foreignRelease = history([0, 'acquire', null, undefined, 0, 1], [1, 'release', null, undefined, 2, 3]);
    expect(verdict(foreignRelease, mutexModel())).toBe('illegal');
  });
});

describe('semaphoreModel', () => {
  it('never more holders than permits; tryAcquire says whether it got them', () => {
    const ok = history(
      [0, 'acquire', 2, undefined, 0, 1],
      [1, 'tryAcquire', null, true, 2, 3],
      [2, 'tryAcquire', null, false, 4, 5],
      [0, 'release', 2, undefined, 6, 7],
      [2, 'acquire', 2, undefined, 8, 9],
    );
    expect(verdict(ok, semaphoreModel(3))).toBe('ok');
    const over = history([0, 'acquire', 2, undefined, 0, 1], [1, 'acquire', 2, undefined, 2, 3]);
    expect(verdict(over, semaphoreModel(3))).toBe('illegal');
    const extraRelease = history([0, 'release', null, undefined, 0, 1]);
    expect(verdict(extraRelease, semaphoreModel(1))).toBe('illegal');
    expect(verdict(extraRelease, semaphoreModel(1, { releaseBeyond: true }))).toBe('ok');
  });

  it.each([
    ['permits negative', () => semaphoreModel(-1), /permits must be a non-negative integer, got -1/],
    [
      'count not a positive integer',
      () => checkLinearizable(history([0, 'acquire', 0, undefined, 0, 1]), semaphoreModel(1)),
      /takes a count of permits/,
    ],
  ] as const)('%s → InvalidArgumentError', (_name, fn, message) => {
    expectCode(fn, ErrorCode.INVALID_ARG, message);
  });
});

describe('queueModel', () => {
  it('first in, first out; empty answers undefined; a bounded queue refuses when full', () => {
    const ok = history(
      [0, 'enqueue', 'a', undefined, 0, 1],
      [1, 'enqueue', 'b', undefined, 2, 3],
      [2, 'dequeue', null, 'a', 4, 5],
      [2, 'peek', null, 'b', 6, 7],
      [2, 'size', null, 1, 8, 9],
      [2, 'poll', null, 'b', 10, 11],
      [2, 'dequeue', null, undefined, 12, 13],
    );
    expect(verdict(ok, queueModel())).toBe('ok');
    const lifo = history([0, 'enqueue', 'a', undefined, 0, 1], [0, 'enqueue', 'b', undefined, 2, 3], [1, 'dequeue', null, 'b', 4, 5]);
    expect(verdict(lifo, queueModel())).toBe('illegal');
    const full = history(
      [0, 'offer', 'a', true, 0, 1],
      [0, 'offer', 'b', false, 2, 3],
      [1, 'poll', null, 'a', 4, 5],
      [1, 'offer', 'c', true, 6, 7],
    );
    expect(verdict(full, queueModel({ capacity: 1 }))).toBe('ok');
    expect(verdict(full, queueModel({ capacity: 2 }))).toBe('illegal');
    // a blocking take waits for an item: it cannot take effect before the enqueue
    const take = history([1, 'take', null, 'x', 0, 10], [0, 'enqueue', 'x', undefined, 5, 6]);
    expect(verdict(take, queueModel())).toBe('ok');
    const takeEarly = history([1, 'take', null, 'x', 0, 4], [0, 'enqueue', 'x', undefined, 5, 6]);
    expect(verdict(takeEarly, queueModel())).toBe('illegal');
  });

  it('capacity must be a positive integer', () => {
    expectCode(() => queueModel({ capacity: 0 }), ErrorCode.INVALID_ARG, /capacity must be a positive integer, got 0/);
  });
});

describe('idempotencyModel', () => {
  const begin = (thread: number, key: string, value: unknown, call: number, ret: number) =>
    [thread, 'begin', { key, fingerprint: 'f' }, value, call, ret] as const;
  it('the first begin takes the key; the others see it in flight, then the replay; only the owner completes', () => {
    const ok = history(
      begin(0, 'k', { status: 'new' }, 0, 1),
      begin(1, 'k', { status: 'in-flight' }, 2, 3),
      [0, 'complete', { key: 'k', body: 'paid' }, undefined, 4, 5],
      begin(1, 'k', { status: 'replay', body: 'paid' }, 6, 7),
      [2, 'begin', { key: 'k', fingerprint: 'g' }, { status: 'mismatch' }, 8, 9],
    );
    expect(verdict(ok, idempotencyModel())).toBe('ok');
    const twice = history(begin(0, 'k', { status: 'new' }, 0, 1), begin(1, 'k', { status: 'new' }, 2, 3));
    expect(verdict(twice, idempotencyModel())).toBe('illegal');
    const foreign = history(begin(0, 'k', { status: 'new' }, 0, 1), [1, 'complete', { key: 'k', body: 'x' }, undefined, 2, 3]);
    expect(verdict(foreign, idempotencyModel())).toBe('illegal');
    const aborted = history(
      begin(0, 'k', { status: 'new' }, 0, 1),
      [0, 'abort', { key: 'k' }, undefined, 2, 3],
      begin(1, 'k', { status: 'new' }, 4, 5),
    );
    expect(verdict(aborted, idempotencyModel())).toBe('ok');
  });
});
