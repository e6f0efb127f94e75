import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { Condition } from '../../src/sync/condition.js';
import { Mutex } from '../../src/sync/mutex.js';
import { SharedArena } from '../../src/memory/arena.js';
import { reopen } from '../../src/integrations/kinds.js';
import { HEADER_BYTES } from '../../src/memory/region.js';
import { load, notify } from '../../src/memory/atomics.js';
import { ITEMS, FIXTURE_MARK } from '../../workers/fixtures/rwlock-condition.js';
import { Remote } from '../threads/remote.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { elapse, nextTurn, until } from '../helpers/wait.js';

const cell = () => new Int32Array(new SharedArrayBuffer(32));

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([
    Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } }),
    Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Waits until `n` waiters are registered and, a little later, most likely parked. */
async function waitersReach(c: Condition, n: number): Promise<void> {
  await until(() => c.waiters >= n, { what: `${n} waiters registered` });
  // No API shows a thread parked in Atomics.wait. Every assertion after this holds whether or
  // not the waiter has parked yet (it counts itself before it unlocks, so no notify is lost);
  // the pause only makes the order the test means the likely one, and a slow machine lengthens it.
  await elapse(20);
}

describe('Condition behaviour', () => {
  it('wait times out with false and returns holding the mutex; waitAsync too', async () => {
    const m = new Mutex();
    const c = new Condition();
    m.lock();
    expect(c.wait(m, 20)).toBe(false);
    expect(m.ownerThreadId).toBe(threadId);
    expect(c.wait(m, { timeoutMs: 0 })).toBe(false);
    expect(await c.waitAsync(m, { timeoutMs: 20 })).toBe(false);
    expect(m.ownerThreadId).toBe(threadId);
    expect(c.waiters).toBe(0);
    m.unlock();
  });

  it('wait releases the mutex while it waits; notify from a worker wakes it with true', async () => {
    const m = new Mutex();
    const c = new Condition();
    m.lock();
    const waiting = c.waitAsync(m, { timeoutMs: 10_000 });
    expect(m.isLocked).toBe(false); // released synchronously, before the first await
    // The worker can take the mutex only after the unlock: a notify then must not be lost.
    await a.call('lockMutex', { mutex: m.handle });
    await a.call('notify', { cond: c.handle, times: 1 });
    await a.call('unlockMutex', { mutex: m.handle });
    expect(await waiting).toBe(true);
    expect(m.ownerThreadId).toBe(threadId);
    m.unlock();
  });

  it('notify wakes a worker blocked in wait; notify(1) wakes one of two at once, notifyAll the rest', async () => {
    const m = new Mutex();
    const c = new Condition();
    const first = a.call('waitOnce', { cond: c.handle, mutex: m.handle });
    const second = b.call('waitOnce', { cond: c.handle, mutex: m.handle });
    await waitersReach(c, 2);
    let woken = 0;
    void first.then(() => woken++);
    void second.then(() => woken++);
    await m.runExclusive(() => c.notify());
    await until(() => woken >= 1);
    await m.runExclusive(() => c.notifyAll());
    expect(await Promise.all([first, second])).toEqual([true, true]);
    expect(c.waiters).toBe(0);
    expect(m.isLocked).toBe(false);
  });

  it('a notify with no waiter is not kept for a later one', async () => {
    const m = new Mutex();
    const c = new Condition();
    c.notify();
    c.notifyAll();
    m.lock();
    expect(c.wait(m, 20)).toBe(false);
    m.unlock();
  });

  it('producer/consumer: workers take items as main produces them, none lost', async () => {
    const m = new Mutex();
    const c = new Condition();
    const items = cell();
    const consumers = [a, b].map((w) =>
      (async () => {
        for (let i = 0; i < 50; i++) await w.call('takeItem', { cond: c.handle, mutex: m.handle, cell: items });
      })(),
    );
    for (let i = 0; i < 100; i++) {
      await m.runExclusive(() => {
        items[ITEMS]!++;
        c.notify();
      });
      if (i % 10 === 0) await nextTurn(); // let the consumers' replies in now and then
    }
    await Promise.all(consumers);
    expect(items[ITEMS]).toBe(0);
  });

  it('an aborted waitAsync rejects with AbortError holding the mutex; an already-aborted signal never releases it', async () => {
    const m = new Mutex();
    const c = new Condition();
    m.lock();
    expectCode(await rejected(c.waitAsync(m, { signal: AbortSignal.abort() })), ErrorCode.ABORTED);
    expect(m.ownerThreadId).toBe(threadId);
    const controller = new AbortController();
    const waiting = c.waitAsync(m, { signal: controller.signal });
    expect(m.isLocked).toBe(false);
    await until(() => c.waiters === 1, { what: 'the waitAsync waits' });
    controller.abort();
    expectCode(await rejected(waiting), ErrorCode.ABORTED);
    expect(m.ownerThreadId).toBe(threadId);
    expect(c.waiters).toBe(0);
    m.unlock();
  });

  it('an aborted async waiter does not swallow a notify(1) meant for a live one', async () => {
    const m = new Mutex();
    const c = new Condition();
    const controller = new AbortController();
    m.lock();
    const abandoned = c.waitAsync(m, { signal: controller.signal }).catch((e: unknown) => e);
    m.lock();
    const live = c.waitAsync(m, { timeoutMs: 10_000 });
    controller.abort(); // its futex waiter cannot be cancelled: it would take the next notify(1)
    expectCode(await abandoned, ErrorCode.ABORTED); // re-acquired the mutex
    m.unlock();
    await a.call('lockMutex', { mutex: m.handle });
    await a.call('notify', { cond: c.handle, times: 1 });
    await a.call('unlockMutex', { mutex: m.handle });
    expect(await live).toBe(true);
    m.unlock();
  });

  it('lives in an arena and re-opens from its handle', async () => {
    const arena = new SharedArena({ byteLength: 4096 });
    const c = new Condition({ arena });
    expect(Condition.byteLength()).toBe(c.handle.byteLength);
    expect(reopen(c.handle)).toBeInstanceOf(Condition);
    const m = new Mutex({ arena });
    const waiting = a.call('waitOnceAsync', { cond: c.handle, mutex: m.handle, options: { timeoutMs: 10_000 } });
    await waitersReach(c, 1);
    Condition.from(c.handle).notify();
    expect(await waiting).toBe(true);
  });
});

/*
 * Misuse table: each case must fail with its code and leave the condition and
 * its mutex usable (no waiter registered, the mutex as the case left it).
 */
interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  misuse(c: Condition, m: Mutex): Promise<unknown>;
  cleanup?(c: Condition, m: Mutex): Promise<void> | void;
}

const misuseCases: MisuseCase[] = [
  { name: 'wait with an unlocked mutex', code: ErrorCode.NOT_OWNER, misuse: async (c, m) => thrown(() => c.wait(m, 10)) },
  { name: 'waitAsync with an unlocked mutex', code: ErrorCode.NOT_OWNER, misuse: (c, m) => rejected(c.waitAsync(m, { timeoutMs: 10 })) },
  {
    name: 'wait with a mutex held by a worker',
    code: ErrorCode.NOT_OWNER,
    misuse: async (c, m) => (await a.call('lockMutex', { mutex: m.handle }), thrown(() => c.wait(m, 10))),
    cleanup: async (_c, m) => {
      await a.call('unlockMutex', { mutex: m.handle });
    },
  },
  {
    name: 'wait in a worker with a mutex held by main',
    code: ErrorCode.NOT_OWNER,
    misuse: async (c, m) => (m.lock(), rejected(a.call('waitWithoutLock', { cond: c.handle, mutex: m.handle }))),
    cleanup: (_c, m) => m.unlock(),
  },
  ...([NaN, -1, 'x', { timeoutMs: -1 }, null, { timout: 1 }] as const).map((bad): MisuseCase => ({
    name: `wait(mutex, ${JSON.stringify(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (c, m) => (m.lock(), thrown(() => c.wait(m, bad as unknown as number))),
    cleanup: (_c, m) => {
      expect(m.ownerThreadId).toBe(threadId); // never released
      m.unlock();
    },
  })),
  {
    name: 'waitAsync(mutex, { timeoutMs: NaN })',
    code: ErrorCode.INVALID_ARG,
    misuse: async (c, m) => (m.lock(), rejected(c.waitAsync(m, { timeoutMs: NaN }))),
    cleanup: (_c, m) => m.unlock(),
  },
  ...([undefined, null, {}, 'mutex'] as const).map((bad): MisuseCase => ({
    name: `wait(${JSON.stringify(bad)}) (not a Mutex)`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (c) => thrown(() => c.wait(bad as unknown as Mutex, 10)),
  })),
  ...([-1, 1.5, NaN, '2'] as const).map((bad): MisuseCase => ({
    name: `notify(${JSON.stringify(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (c) => thrown(() => c.notify(bad as unknown as number)),
  })),
  ...forgedHandles<Condition['handle']>('sabre.Mutex', [['options', (h) => ({ ...h, options: { fair: true } })]]).map(
    ([what, forge]): MisuseCase => ({
      name: `Condition.from of a handle with ${what}`,
      code: ErrorCode.HANDLE,
      misuse: async (c) => thrown(() => Condition.from(forge(c.handle) as Condition['handle'])),
    }),
  ),
];

describe('Condition misuse', () => {
  const c = new Condition();
  const m = new Mutex();
  it.each(misuseCases.map((x) => [x.name, x] as const))('%s', async (_name, x) => {
    const error = await x.misuse(c, m);
    try {
      expectCode(error, x.code);
    } finally {
      await x.cleanup?.(c, m);
    }
    expect(c.waiters).toBe(0);
    expect(m.isLocked).toBe(false);
    m.lock();
    expect(c.wait(m, 1)).toBe(false);
    m.unlock();
    expect(await a.call('waitOnce', { cond: c.handle, mutex: m.handle, options: 1 })).toBe(false);
  });
});

/**
 * One run of the thief scenario: a bare futex waiter on the condition's
 * sequence word (as a waiter that dies just after waking) parks first, so FIFO
 * gives it the notify(1); a live waiter must still return notified. Returns
 * whether the thief really took the wake-up (false: it parked too late, see
 * the test).
 */
async function thiefAttempt(attempt: number): Promise<boolean> {
  const m = new Mutex();
  const c = new Condition();
  const seq = new Int32Array(c.handle.buffer, c.handle.byteOffset + HEADER_BYTES, 1);
  const arrived = cell();
  const thief = a.call<string>('rawWait', { cell: seq, ms: 10_000, arrived });
  await until(() => load(arrived, 0) === 1, { what: 'the thief arrived at its wait' });
  // "arrived" to parked is a few instructions, unless the thread is descheduled; no API shows a
  // bare futex waiter, so give it time, longer at each attempt (25, 50, 100, ... ms): a slow
  // machine costs attempts, and the caller tries until one attempt puts the claim to the test.
  await elapse(25 * 2 ** attempt);
  const live = b.call('waitOnce', { cond: c.handle, mutex: m.handle, options: 10_000 });
  await waitersReach(c, 1);
  await m.runExclusive(() => c.notify(1));
  expect(await live).toBe(true); // the live waiter returned notified, whoever took the futex wake-up
  // A thief still parked now did not take it (it parked behind the live
  // waiter): release it at once rather than after its 10 s.
  const stillParked = notify(seq, 0, 1) === 1;
  const result = await thief;
  if (stillParked || result === 'not-equal') return false;
  expect(result).toBe('ok'); // it took the wake-up, and the live waiter returned all the same
  return true;
}

describe('Condition owner death', () => {
  it('a waiter terminated while parked does not swallow notify(1): the live waiter gets it', async () => {
    const m = new Mutex();
    const c = new Condition();
    const doomed = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    void doomed.call('waitOnce', { cond: c.handle, mutex: m.handle }).catch(() => {});
    await waitersReach(c, 1); // parked first: FIFO would hand it the next notify(1)
    const live = b.call('waitOnce', { cond: c.handle, mutex: m.handle, options: 10_000 });
    await waitersReach(c, 2);
    await doomed.stop();
    await m.runExclusive(() => c.notify(1));
    expect(await live).toBe(true);
  });

  it('a wake-up taken by a waiter that never uses it (as one that dies just after waking) reaches the live waiter within a slice', async () => {
    // The thief says "arrived" just before its Atomics.wait, but a thread
    // descheduled between the two can still park late: after the notify (it
    // gets 'not-equal') or behind the live waiter (FIFO hands the wake-up to
    // the live waiter). Then no wake-up was swallowed and the claim was not put
    // to the test, so the scenario runs again, up to 7 times (the thief gets
    // longer to park each time). In every attempt the live waiter must return notified.
    let swallowed = false;
    for (let attempt = 0; attempt < 7 && !swallowed; attempt++) swallowed = await thiefAttempt(attempt);
    expect(swallowed, 'the thief never parked before the notify in 7 attempts').toBe(true);
  });

  it('the mutex owner dies while main waits: wait re-acquires the poisoned mutex and throws OwnerDiedError holding it', async () => {
    const m = new Mutex();
    const c = new Condition();
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    m.lock();
    // The timeout only bounds a failure: main is woken by the notify below.
    const waiting = rejected(c.waitAsync(m, { timeoutMs: 10_000 }));
    await w.call('lockMutex', { mutex: m.handle }); // the worker holds the mutex main released...
    await w.call('notify', { cond: c.handle, times: 1 }); // ...wakes main, which must re-acquire it from the worker...
    void w.worker.terminate(); // ...and dies holding it
    expectCode(await waiting, ErrorCode.OWNER_DIED);
    expect(m.ownerThreadId).toBe(threadId);
    expect(m.isPoisoned).toBe(true);
    // ignorePoison: wait returns normally on a poisoned mutex.
    expect(c.wait(m, { timeoutMs: 1, ignorePoison: true })).toBe(false);
    expectCode(
      thrown(() => c.wait(m, 1)),
      ErrorCode.OWNER_DIED,
    );
    expect(m.ownerThreadId).toBe(threadId);
    m.unlock();
    m.clearPoison();
  });
});
