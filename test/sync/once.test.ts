import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { SharedArena } from '../../src/memory/arena.js';
import { Once } from '../../src/sync/once.js';
import { Remote } from '../threads/remote.js';
import { thrown, rejected, expectCode } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { nextTurn, untilWord } from '../helpers/wait.js';

/** Cells shared with the fixture's onceRun: RUNS counts fn calls, STARTED is set when fn starts. */
const RUNS = 0,
  STARTED = 1;
const cells = () => new Int32Array(new SharedArrayBuffer(12));

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([Remote.start('sync'), Remote.start('sync')]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('Once behaviour', () => {
  it('runs fn once; later calls return false without running it', async () => {
    const o = new Once();
    let runs = 0;
    expect(o.done).toBe(false);
    expect(o.run(() => runs++)).toBe(true);
    expect(o.done).toBe(true);
    expect(o.run(() => runs++)).toBe(false);
    expect(await o.runAsync(async () => runs++)).toBe(false);
    expect(runs).toBe(1);
    const cell = cells();
    expect(await a.call('onceRun', { once: o.handle, cell, mode: 'ok' })).toBe(false);
    expect(cell[RUNS]).toBe(0);
  });

  it('lives in an arena and re-opens from its handle', () => {
    const arena = new SharedArena({ byteLength: 1024 });
    const o = new Once({ arena });
    expect(o.handle.byteLength).toBe(Once.byteLength());
    expect(Once.from(o.handle).run(() => {})).toBe(true);
    expect(o.done).toBe(true);
  });

  it('a failed run rethrows to its caller only, and the next caller runs fn', async () => {
    const o = new Once();
    expect(
      thrown(() =>
        o.run(() => {
          throw new RangeError('first');
        }),
      ),
    ).toBeInstanceOf(RangeError);
    expect(o.done).toBe(false);
    expect(
      await rejected(
        o.runAsync(async () => {
          throw new Error('second');
        }),
      ),
    ).toHaveProperty('message', 'second');
    const cell = cells();
    expect(await rejected(a.call('onceRun', { once: o.handle, cell, mode: 'throw' }))).toHaveProperty('message', 'fn failed');
    expect(await a.call('onceRun', { once: o.handle, cell, mode: 'ok' })).toBe(true);
    expect(cell[RUNS]).toBe(2);
    expect(
      o.run(() => {
        throw new Error('never called');
      }),
    ).toBe(false);
  });

  it('waiters wait for the running thread: main waits for a worker, a worker waits for main', async () => {
    const o = new Once();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = o.runAsync(() => gate);
    const cell = cells();
    let workerDone = false;
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    const worker = a.call('onceRun', { once: o.handle, cell, mode: 'ok', timeout: 10_000, arrived }).then((v) => ((workerDone = true), v));
    await untilWord(arrived, 0, 1, { what: 'the worker is about to wait' });
    expect(workerDone).toBe(false);
    release();
    expect(await running).toBe(true);
    expect(await worker).toBe(false);
    expect(cell[RUNS]).toBe(0);
  });

  it('another task of the running thread waits (runAsync), a sync run in that thread is a DeadlockError', async () => {
    const o = new Once();
    let release!: () => void;
    const running = o.runAsync(() => new Promise<void>((r) => (release = r)));
    const second = o.runAsync(() => {
      throw new Error('must not run');
    });
    expectCode(
      thrown(() => o.run(() => {})),
      ErrorCode.DEADLOCK,
    );
    expectCode(
      thrown(() => o.run(() => o.run(() => {}))),
      ErrorCode.DEADLOCK,
    ); // still running: the outer run is the deadlock
    release();
    expect(await running).toBe(true);
    expect(await second).toBe(false);
    // Recursion inside a sync run.
    const p = new Once();
    const inner = thrown(() => p.run(() => p.run(() => {})));
    expectCode(inner, ErrorCode.DEADLOCK);
    expect(p.done).toBe(false);
  });

  it('a waiter whose runner fails runs fn itself', async () => {
    const o = new Once();
    let fail!: () => void;
    const running = o.runAsync(() => new Promise<void>((_, reject) => (fail = () => reject(new Error('boom')))));
    const cell = cells();
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    const worker = a.call('onceRun', { once: o.handle, cell, mode: 'ok', timeout: 10_000, arrived });
    await untilWord(arrived, 0, 1, { what: 'the worker is about to wait' }); // if it got there after the failure, it runs fn all the same
    fail();
    expect(await rejected(running)).toHaveProperty('message', 'boom');
    expect(await worker).toBe(true);
    expect(cell[RUNS]).toBe(1);
  });

  it('run and runAsync time out while another thread runs fn; abort rejects', async () => {
    const o = new Once();
    let release!: () => void;
    const running = o.runAsync(() => new Promise<void>((r) => (release = r)));
    const cell = cells();
    expectCode(await rejected(a.call('onceRun', { once: o.handle, cell, mode: 'ok', timeout: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(b.call('onceRunAsync', { once: o.handle, cell, mode: 'ok', timeout: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(o.runAsync(() => {}, { timeoutMs: 30 })), ErrorCode.TIMEOUT);
    const controller = new AbortController();
    const aborted = o.runAsync(() => {}, { signal: controller.signal });
    await nextTurn(); // it waits now: the call registered it
    controller.abort();
    expectCode(await rejected(aborted), ErrorCode.ABORTED);
    release();
    expect(await running).toBe(true);
    expect(cell[RUNS]).toBe(0);
  });

  it('exactly once with concurrent callers in 3 threads', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const o = new Once();
      const cell = cells();
      const results = await Promise.all([
        a.call<boolean>('onceRun', { once: o.handle, cell, mode: 'ok' }),
        b.call<boolean>('onceRunAsync', { once: o.handle, cell, mode: 'ok' }),
        o.runAsync(() => void Atomics.add(cell, RUNS, 1)),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(cell[RUNS]).toBe(1);
    }
  });

  it('reset makes a done Once runnable again; it never resets a run in progress', async () => {
    const o = new Once();
    expect(o.reset()).toBe(false);
    o.run(() => {});
    expect(o.reset()).toBe(true);
    expect(o.done).toBe(false);
    let release!: () => void;
    const running = o.runAsync(() => new Promise<void>((r) => (release = r)));
    expect(o.reset()).toBe(false);
    release();
    expect(await running).toBe(true);
    expect(o.done).toBe(true);
  });
});

interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  misuse(o: Once): Promise<unknown>;
}
const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

const misuseCases: MisuseCase[] = [
  ...([42, 'x', null, undefined] as const).flatMap((bad): MisuseCase[] => [
    { name: `run(${show(bad)})`, code: ErrorCode.INVALID_ARG, misuse: async (o) => thrown(() => o.run(bad as unknown as () => void)) },
    { name: `runAsync(${show(bad)})`, code: ErrorCode.INVALID_ARG, misuse: (o) => rejected(o.runAsync(bad as unknown as () => void)) },
  ]),
  ...([NaN, -1, -Infinity, 'x', { timeoutMs: NaN }, null, { timeotMs: 1 }] as const).map((bad): MisuseCase => ({
    name: `run(fn, ${show(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (o) => thrown(() => o.run(() => {}, bad as number)),
  })),
  ...([NaN, -1, 'x'] as const).map((bad): MisuseCase => ({
    name: `runAsync(fn, { timeoutMs: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: (o) => rejected(o.runAsync(() => {}, { timeoutMs: bad as number })),
  })),
  { name: 'run(fn) where fn returns a promise', code: ErrorCode.INVALID_ARG, misuse: async (o) => thrown(() => o.run(async () => {})) },
  { name: 'run(fn) recursively', code: ErrorCode.DEADLOCK, misuse: async (o) => thrown(() => o.run(() => o.run(() => {}))) },
  ...forgedHandles<Once['handle']>('sabre.Latch', [['options', (h) => ({ ...h, options: { x: 1 } })]]).map(([what, forge]): MisuseCase => ({
    name: `Once.from of a handle with ${what}`,
    code: ErrorCode.HANDLE,
    misuse: async (o) => thrown(() => Once.from(forge(o.handle) as Once['handle'])),
  })),
  {
    name: 'a forged handle sent to a worker',
    code: ErrorCode.HANDLE,
    misuse: (o) => rejected(a.call('onceRun', { once: { ...o.handle, version: 9 }, cell: cells(), mode: 'ok' })),
  },
];

describe('Once misuse', () => {
  it.each(misuseCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const o = new Once();
    expectCode(await c.misuse(o), c.code);
    // Not done, not stuck: a worker runs it, then nobody else does.
    expect(o.done).toBe(false);
    const cell = cells();
    expect(await a.call('onceRun', { once: o.handle, cell, mode: 'ok', timeout: 5000 })).toBe(true);
    expect(await b.call('onceRun', { once: o.handle, cell, mode: 'ok', timeout: 5000 })).toBe(false);
    expect(
      o.run(() => {
        throw new Error('never called');
      }),
    ).toBe(false);
    expect(cell[RUNS]).toBe(1);
  });
});

describe('Once owner death', () => {
  /** A fresh worker blocked forever inside fn of `o`. */
  async function runnerStuckInFn(o: Once, cell: Int32Array): Promise<Remote> {
    const w = await Remote.start('sync');
    await w.call('onceRunHang', { once: o.handle, cell });
    expect(Atomics.wait(cell, STARTED, 0, 5000)).not.toBe('timed-out');
    return w;
  }

  it('a worker dying inside run: main, blocked in run(), runs fn itself', async () => {
    const o = new Once();
    const cell = cells();
    const w = await runnerStuckInFn(o, cell);
    void w.worker.terminate();
    let ran = false;
    expect(o.run(() => (ran = true), 5000)).toBe(true);
    expect(ran).toBe(true);
    expect(o.done).toBe(true);
    expect(cell[RUNS]).toBe(1); // the dead runner's attempt
  });

  it('a worker dying inside run: another worker waiting in run() runs it; runAsync waiters see it done', async () => {
    const o = new Once();
    const cell = cells();
    const w = await runnerStuckInFn(o, cell);
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    const worker = b.call('onceRun', { once: o.handle, cell, mode: 'ok', timeout: 5000, arrived });
    await untilWord(arrived, 0, 1, { what: 'the worker is about to wait' });
    void w.worker.terminate();
    expect(await worker).toBe(true);
    expect(cell[RUNS]).toBe(2);
    expect(await o.runAsync(() => {})).toBe(false);
  });

  it('a worker terminated inside run while main waits in runAsync: main runs it', async () => {
    const o = new Once();
    const cell = cells();
    const w = await runnerStuckInFn(o, cell);
    const waiting = o.runAsync(async () => 'mine', { timeoutMs: 5000 });
    await nextTurn(); // it waits now: the call registered it
    await w.worker.terminate();
    expect(await waiting).toBe(true);
  });
});
