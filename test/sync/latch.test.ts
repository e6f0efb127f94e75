import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { SharedArena } from '../../src/memory/arena.js';
import { Latch } from '../../src/sync/latch.js';
import { Remote } from '../threads/remote.js';
import { thrown, rejected, expectCode } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { elapse, nextTurn, untilWord } from '../helpers/wait.js';

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([Remote.start('sync'), Remote.start('sync')]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('Latch behaviour', () => {
  it('takes its count first or as an option', () => {
    expect(new Latch({ count: 2 }).count).toBe(2);
    expect(new Latch(2).handle.byteLength).toBe(Latch.byteLength({ count: 2 }));
    expect(Latch.byteLength(5)).toBe(Latch.byteLength());
  });

  describe('deprecated names', () => {
    afterEach(() => {
      vi.restoreAllMocks();
      resetDeprecationsForTesting();
    });
    it('the timeout option of wait and waitAsync (now timeoutMs) still times out, and warns once', async () => {
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      const l = new Latch(1);
      expectCode(
        thrown(() => l.wait({ timeout: 0 })),
        ErrorCode.TIMEOUT,
      );
      expectCode(await rejected(l.waitAsync({ timeout: 1 })), ErrorCode.TIMEOUT);
      expect(warn.mock.calls.map((c) => (c[1] as { code: string }).code)).toEqual(['SABRE_DEP_TIMEOUT']);
    });
  });

  it('counts down to zero and stays open', () => {
    const l = new Latch(3);
    expect(l.count).toBe(3);
    expect(l.countDown()).toBe(2);
    expectCode(
      thrown(() => l.wait(0)),
      ErrorCode.TIMEOUT,
    );
    expect(l.countDown(2)).toBe(0);
    expect(l.count).toBe(0);
    l.wait();
    l.wait(0);
  });

  it('lives in an arena and re-opens from its handle', () => {
    const arena = new SharedArena({ byteLength: 1024 });
    const l = new Latch(2, { arena });
    expect(l.handle.byteLength).toBe(Latch.byteLength(2));
    const m = Latch.from(l.handle);
    m.countDown();
    expect(l.count).toBe(1);
  });

  it('wait and waitAsync time out while the count is above zero', async () => {
    const l = new Latch(1);
    expectCode(
      thrown(() => l.wait(30)),
      ErrorCode.TIMEOUT,
      /count still 1/,
    );
    expectCode(
      thrown(() => l.wait({ timeoutMs: 0 })),
      ErrorCode.TIMEOUT,
    );
    expectCode(await rejected(l.waitAsync({ timeoutMs: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(a.call('latchWait', { latch: l.handle, timeout: 30 })), ErrorCode.TIMEOUT);
    expect(l.count).toBe(1);
  });

  it('releases waiters only at zero: main waitAsync and a blocked worker, counted down by another worker', async () => {
    const l = new Latch(3);
    let opened = false;
    const mainWaiting = l.waitAsync({ timeoutMs: 10_000 }).then(() => (opened = true));
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    const workerWaiting = a.call('latchWait', { latch: l.handle, timeout: 10_000, arrived });
    let workerDone = false;
    void workerWaiting.then(() => (workerDone = true));
    await untilWord(arrived, 0, 1, { what: 'the worker is about to wait' });
    for (const left of [2, 1]) {
      expect(await b.call('countDown', { latch: l.handle })).toBe(left);
      await elapse(30); // a window in which neither may open: a slow machine only lengthens it
      expect(opened).toBe(false);
      expect(workerDone).toBe(false);
    }
    expect(await b.call('countDown', { latch: l.handle })).toBe(0);
    await mainWaiting;
    await workerWaiting;
    expect(opened).toBe(true);
  });

  it('an aborted waitAsync rejects with AbortError; others still open with the latch', async () => {
    const l = new Latch(1);
    const controller = new AbortController();
    const aborted = l.waitAsync({ signal: controller.signal });
    const other = l.waitAsync({ timeoutMs: 10_000 });
    await nextTurn(); // both wait now: this thread's waits are registered in the calls
    controller.abort();
    expectCode(await rejected(aborted), ErrorCode.ABORTED);
    expectCode(await rejected(l.waitAsync({ signal: AbortSignal.abort() })), ErrorCode.ABORTED);
    await a.call('countDown', { latch: l.handle });
    await other;
    await a.call('latchWaitAsync', { latch: l.handle, timeout: 1000 });
  });

  it('counts down from many threads at once without losing a count', async () => {
    const l = new Latch(3);
    const waiting = l.waitAsync({ timeoutMs: 10_000 });
    await Promise.all([a.call('countDown', { latch: l.handle }), b.call('countDown', { latch: l.handle }), Promise.resolve(l.countDown())]);
    await waiting;
    expect(l.count).toBe(0);
  });
});

/*
 * Misuse table: each case must fail with its code and leave the count as it
 * was; afterwards the latch still counts down and opens for every thread.
 */
interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  misuse(l: Latch): Promise<unknown>;
}
const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));
const COUNT = 3;

const misuseCases: MisuseCase[] = [
  ...([0, -1, 1.5, NaN, Infinity, 'x', 2 ** 31, undefined] as const).map((bad): MisuseCase => ({
    name: `new Latch(${show(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new Latch(bad as number)),
  })),
  {
    name: 'new Latch({ cout: 3 }) (a misspelled option)',
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new Latch({ cout: 3 } as never)),
  },
  {
    name: 'new Latch(3, { count: 3 }) (the count twice)',
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new Latch(3, { count: 3 } as never)),
  },
  ...([0, -1, 1.5, NaN, Infinity, 'x', null] as const).map((bad): MisuseCase => ({
    name: `countDown(${show(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (l) => thrown(() => l.countDown(bad as number)),
  })),
  { name: 'countDown below zero (count 3, n 4)', code: ErrorCode.INVALID_ARG, misuse: async (l) => thrown(() => l.countDown(COUNT + 1)) },
  {
    name: 'countDown below zero in a worker',
    code: ErrorCode.INVALID_ARG,
    misuse: (l) => rejected(a.call('countDown', { latch: l.handle, n: COUNT + 1 })),
  },
  ...([NaN, -1, -Infinity, 'x', { timeoutMs: NaN }, { timeoutMs: -5 }, null, { timeotMs: 5 }] as const).map((bad): MisuseCase => ({
    name: `wait(${show(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (l) => thrown(() => l.wait(bad as number)),
  })),
  ...([NaN, -1, 'x'] as const).map((bad): MisuseCase => ({
    name: `waitAsync({ timeout: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: (l) => rejected(l.waitAsync({ timeoutMs: bad as number })),
  })),
  ...forgedHandles<Latch['handle']>('sabre.Once', [['options', (h) => ({ ...h, options: { count: 3 } })]]).map(
    ([what, forge]): MisuseCase => ({
      name: `Latch.from of a handle with ${what}`,
      code: ErrorCode.HANDLE,
      misuse: async (l) => thrown(() => Latch.from(forge(l.handle) as Latch['handle'])),
    }),
  ),
  {
    name: 'a forged handle sent to a worker',
    code: ErrorCode.HANDLE,
    misuse: (l) => rejected(a.call('countDown', { latch: { ...l.handle, version: 9 } })),
  },
];

describe('Latch misuse', () => {
  it.each(misuseCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const l = new Latch(COUNT);
    expectCode(await c.misuse(l), c.code);
    // Nothing was counted; the latch still works for every thread.
    expect(l.count).toBe(COUNT);
    expect(await a.call('countDown', { latch: l.handle })).toBe(COUNT - 1);
    expect(await b.call('countDown', { latch: l.handle })).toBe(COUNT - 2);
    expect(l.countDown()).toBe(0);
    l.wait(0);
    await a.call('latchWait', { latch: l.handle, timeout: 1000 });
    expectCode(
      thrown(() => l.countDown()),
      ErrorCode.INVALID_ARG,
      /open latch/,
    ); // and it never goes below zero
  });
});
