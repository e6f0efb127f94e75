import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { HEADER_BYTES } from '../../src/memory/region.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { MUTEX_WORDS } from '../../src/sync/mutex.js';
import { Semaphore, SemaphoreGuard } from '../../src/sync/semaphore.js';
import { Remote } from '../threads/remote.js';
import { thrown, rejected, expectCode } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { elapse, nextTurn, until } from '../helpers/wait.js';

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([Remote.start('sync'), Remote.start('sync')]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('Semaphore behaviour', () => {
  it('tryAcquire and release count permits per thread', () => {
    const s = new Semaphore(3);
    expect(s.permits).toBe(3);
    expect(s.available).toBe(3);
    expect(s.tryAcquire()).toBe(true);
    expect(s.tryAcquire(2)).toBe(true);
    expect(s.available).toBe(0);
    expect(s.heldByCurrentThread).toBe(3);
    expect(s.tryAcquire()).toBe(false);
    s.release(2);
    expect(s.available).toBe(2);
    expect(s.tryAcquire(3)).toBe(false);
    s.release();
    expect(s.available).toBe(3);
    expect(s.heldByCurrentThread).toBe(0);
  });

  it('lives in an arena and re-opens from its handle', () => {
    const arena = new SharedArena({ byteLength: 4096 });
    const s = new Semaphore(2, { arena, maxThreads: 8 });
    expect(Semaphore.byteLength(2, { maxThreads: 8 })).toBe(Semaphore.byteLength({ maxThreads: 8 }));
    expect(s.handle.byteLength).toBe(Semaphore.byteLength({ maxThreads: 8 }));
    const t = Semaphore.from(s.handle);
    expect(t.tryAcquire(2)).toBe(true);
    expect(s.available).toBe(0);
    expect(s.heldByCurrentThread).toBe(2);
    s.release(2);
    expect(t.available).toBe(2);
  });

  it('acquire and acquireAsync time out with TimeoutError while another thread holds the permits', async () => {
    const s = new Semaphore(2);
    await a.call('acquire', { sem: s.handle, n: 2 });
    expectCode(
      thrown(() => s.acquire(1, 0)),
      ErrorCode.TIMEOUT,
    );
    expectCode(
      thrown(() => s.acquire(1, 30)),
      ErrorCode.TIMEOUT,
    );
    expectCode(
      thrown(() => s.acquire(2, { timeoutMs: 30 })),
      ErrorCode.TIMEOUT,
    );
    expectCode(await rejected(s.acquireAsync(1, { timeoutMs: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(b.call('acquire', { sem: s.handle, n: 1, timeout: 30 })), ErrorCode.TIMEOUT);
    expect(s.available).toBe(0);
    await a.call('release', { sem: s.handle, n: 2 });
    s.acquire(2, 1000);
    s.release(2);
  });

  it('acquireAsync waits for a worker to release, keeping the event loop alive', async () => {
    const s = new Semaphore(1);
    await a.call('acquire', { sem: s.handle });
    let got = false;
    const waiting = s.acquireAsync(1, { timeoutMs: 10_000 }).then(() => (got = true));
    await until(() => s.waiterCount === 1, { what: 'the acquireAsync waits' });
    expect(got).toBe(false);
    await a.call('release', { sem: s.handle });
    await waiting;
    expect(s.heldByCurrentThread).toBe(1);
    s.release();
  });

  it('a blocked sync acquire in a worker completes when main releases', async () => {
    const s = new Semaphore(2);
    s.acquire(2);
    const waiting = a.call('acquire', { sem: s.handle, n: 2, timeout: 10_000 });
    await until(() => s.waiterCount === 1, { what: 'the worker is blocked in acquire' });
    s.release(1);
    await elapse(10); // a window for the waiter to wrongly take the one permit: a slow machine only lengthens it
    expect(s.available).toBe(1); // one is not enough for the waiter
    s.release(1);
    await waiting;
    expect(await a.call('held', { sem: s.handle })).toBe(2);
    await a.call('release', { sem: s.handle, n: 2 });
    expect(s.available).toBe(2);
  });

  it('an aborted acquireAsync rejects with AbortError and gives up its reservation', async () => {
    const s = new Semaphore(2);
    await a.call('acquire', { sem: s.handle, n: 1 });
    const controller = new AbortController();
    const aborted = s.acquireAsync(2, { signal: controller.signal });
    // While the oldest waiter reserves 2, the 1 available permit is not surplus.
    expect(s.tryAcquire()).toBe(false);
    await until(() => s.waiterCount === 1, { what: 'the acquireAsync waits' });
    controller.abort();
    expectCode(await rejected(aborted), ErrorCode.ABORTED);
    expectCode(await rejected(s.acquireAsync(1, { signal: AbortSignal.abort() })), ErrorCode.ABORTED);
    // The reservation went with the aborted waiter.
    expect(s.tryAcquire()).toBe(true);
    s.release();
    await a.call('release', { sem: s.handle, n: 1 });
    expect(s.available).toBe(2);
  });

  it('fairness: the oldest waiter reserves what it needs; newcomers take only the surplus', async () => {
    const s = new Semaphore(4);
    await a.call('acquire', { sem: s.handle, n: 1 });
    const big = s.acquireAsync(4, { timeoutMs: 10_000 });
    expect(s.available).toBe(3);
    // 3 are free, but all 4 are reserved for the waiter: small acquirers of any thread wait.
    expect(s.tryAcquire(1)).toBe(false);
    expect(await b.call('tryAcquire', { sem: s.handle, n: 1 })).toBe(false);
    expectCode(await rejected(b.call('acquire', { sem: s.handle, n: 1, timeout: 50 })), ErrorCode.TIMEOUT);
    await a.call('release', { sem: s.handle, n: 1 });
    await big;
    expect(s.heldByCurrentThread).toBe(4);
    s.release(4);
    expect(await b.call('tryAcquire', { sem: s.handle, n: 1 })).toBe(true);
    await b.call('release', { sem: s.handle, n: 1 });
  });

  it('a waiter that takes the reservation over from a younger one takes the free permits at once (no lost wake-up)', async () => {
    // The state a younger waiter leaves when it reserved first, and an older one (ticket drawn
    // earlier, round run later) now comes: a free permit, held back for the younger. The older one
    // takes the reservation over; that was all that kept it from taking, and no later release is
    // coming to wake it. It used to park anyway: a blocking waiter then lost a liveness slice, an
    // async one waited for ever (found by props/semaphore-occupancy under SABRE_SOAK).
    const s = new Semaphore(1);
    const words = (s as unknown as { words: Int32Array }).words; // GUARD, COUNT, EPOCH, WAITERS, TICKET, RESERVE_N, RESERVER, RESERVE_TICKET
    const younger = Atomics.load(words, 4) + 1_000;
    Atomics.store(words, 6, threadId + 1);
    Atomics.store(words, 7, younger);
    Atomics.store(words, 5, 1);
    const guard = await Promise.race([s.acquireAsync(1), elapse(2_000).then(() => 'still parked' as const)]);
    expect(guard).toBeInstanceOf(SemaphoreGuard);
    (guard as SemaphoreGuard).release();
    expect(s.available).toBe(1);
  });

  it('acquire / acquireAsync return guards that `using` releases, also when the scope throws', async () => {
    const s = new Semaphore(3);
    {
      using guard = s.acquire(2);
      expect(guard).toBeInstanceOf(SemaphoreGuard);
      expect(guard.permits).toBe(2);
      expect(s.available).toBe(1);
    }
    expect(s.available).toBe(3);
    expect(
      thrown(() => {
        using _guard = s.acquire(3, 1000);
        throw new Error('inside');
      }),
    ).toHaveProperty('message', 'inside');
    expect(s.available).toBe(3);
    {
      await using _guard = await s.acquireAsync(1, { timeoutMs: 1000 });
      expect(s.available).toBe(2);
    }
    expect(s.available).toBe(3);
    const guard = s.acquire();
    guard.release();
    guard.release(); // a second release does nothing
    expect(s.available).toBe(3);
    expect(s.heldByCurrentThread).toBe(0);
  });

  it('runExclusive: at most `permits` sections at once, all run, permits come back after throws', async () => {
    const s = new Semaphore(2);
    let inside = 0;
    let maxInside = 0;
    const section = (i: number) => async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await nextTurn(); // the section spans a macrotask: a third could enter meanwhile if the permits let it
      inside--;
      return i;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => s.runExclusive(section(i))));
    expect(results).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maxInside).toBe(2);
    expect(await s.runExclusive(() => s.available, 2)).toBe(0); // a sync fn runs with its permits held
    expect(
      await rejected(
        s.runExclusive(() => {
          throw new Error('x');
        }),
      ),
    ).toHaveProperty('message', 'x');
    expect(
      await rejected(
        s.runExclusive(async () => {
          throw new Error('y');
        }, 2),
      ),
    ).toHaveProperty('message', 'y');
    expect(s.available).toBe(2);
    expectCode(await rejected(s.runExclusive(() => 1, 1, { timeoutMs: -1 })), ErrorCode.INVALID_ARG);
  });

  it('bounds occupancy across threads: 2 workers hold permits in overlapping sections, never more than permits', async () => {
    for (const [permits, n] of [
      [1, 1],
      [3, 2],
    ] as const) {
      const s = new Semaphore(permits);
      const cell = new Int32Array(new SharedArrayBuffer(12));
      const times = 1500;
      await Promise.all([a.call('occupy', { sem: s.handle, n, times, cell }), b.call('occupy', { sem: s.handle, n, times, cell })]);
      expect(cell[1]).toBeLessThanOrEqual(permits);
      expect(cell[1]).toBeGreaterThan(0);
      expect(s.available).toBe(permits);
    }
  });
});

/** Lets every queued microtask (and promise chain) run. */
const settle = nextTurn;

describe('Semaphore: async tasks of one thread', () => {
  it('runExclusive takes the permits in the call but never calls fn inside it (no Zalgo)', async () => {
    const s = new Semaphore(2);
    const log: string[] = [];
    const p = s.runExclusive(() => log.push('fn'), 2);
    expect(s.available).toBe(0);
    log.push('returned');
    expect(log).toEqual(['returned']);
    await p;
    expect(log).toEqual(['returned', 'fn']);
    expect(s.available).toBe(2);
  });

  it('queued tasks go by priority, FIFO within one; the head blocks lighter tasks behind it; a release serves the queue at once', async () => {
    const s = new Semaphore(2);
    await s.acquireAsync(2);
    const order: string[] = [];
    const task = (name: string, n: number, priority: number) => s.runExclusive(() => void order.push(name), n, { priority });
    const all = [task('1 @0', 1, 0), task('1 @-1', 1, -1), task('2 @1', 2, 1), task('1 @0 second', 1, 0)];
    await settle();
    s.release(1); // 1 free, but the head needs 2: nobody behind it may take it
    await settle();
    expect(order).toEqual([]);
    expect(s.available).toBe(1);
    s.release(1); // now the head fits: served in this very call
    expect(s.available).toBe(0);
    await Promise.all(all);
    expect(order).toEqual(['2 @1', '1 @0', '1 @0 second', '1 @-1']);
    expect(s.available).toBe(2);
  });

  it('objects opened from separately received handles share one queue: priority orders across them', async () => {
    const s1 = new Semaphore(1);
    const s2 = Semaphore.from(structuredClone(s1.handle)); // what each postMessage of the handle gives a worker
    const guard = await s1.acquireAsync();
    const order: string[] = [];
    const queued = [
      s2.runExclusive(() => void order.push('s2')),
      s1.runExclusive(() => void order.push('s1 first'), 1, { priority: 5 }),
      s2.runExclusive(() => void order.push('s2 again')),
    ];
    await settle();
    expect(order).toEqual([]);
    guard.release();
    await Promise.all(queued);
    expect(order).toEqual(['s1 first', 's2', 's2 again']);
    expect(s1.available).toBe(1);
  });

  it('cancel() rejects the queued acquisitions with CanceledError, drops their reservation, and leaves watchers', async () => {
    const s = new Semaphore(3);
    await a.call('acquire', { sem: s.handle, n: 1 });
    s.acquire(1); // 1 permit left free
    let ran = false;
    const queued = [
      rejected(s.acquireAsync(2)),
      rejected(s.runExclusive(() => (ran = true))),
      rejected(s.acquireAsync(1, { priority: -1 })),
    ];
    let watched = false;
    const watcher = s.waitForUnlock(2).then(() => (watched = true));
    // The queue's head (2 permits) is the oldest waiter: it reserves, so another thread cannot take the free one...
    expect(s.available).toBe(1);
    expect(await b.call('tryAcquire', { sem: s.handle, n: 1 })).toBe(false);
    s.cancel();
    for (const e of await Promise.all(queued)) expectCode(e, ErrorCode.CANCELED);
    expect(ran).toBe(false);
    await settle();
    // ...and once they are cancelled, it can.
    expect(await b.call('tryAcquire', { sem: s.handle, n: 1 })).toBe(true);
    await b.call('release', { sem: s.handle, n: 1 });
    await settle();
    expect(watched).toBe(false); // 1 free, it waits for 2
    s.release(1);
    await watcher;
    await a.call('release', { sem: s.handle, n: 1 });
    expect(s.available).toBe(3);
  });

  it('waitForUnlock(n): at once when n permits are free, else once they are; ranked against queued tasks', async () => {
    const s = new Semaphore(3);
    await s.waitForUnlock(3);
    await s.acquireAsync(3);
    const seen: string[] = [];
    const one = s.waitForUnlock(1).then(() => seen.push('1'));
    const three = s.waitForUnlock(3).then(() => seen.push('3'));
    s.release(1);
    await one;
    await settle();
    expect(seen).toEqual(['1']);
    s.release(2);
    await three;
    // Behind a queued heavy task, only watchers that outrank it go first.
    await s.acquireAsync(1);
    const heavy = s.acquireAsync(3, { priority: 1 }); // queued: 2 free
    const high = s.waitForUnlock(1, { priority: 2 }).then(() => seen.push('high'));
    const low = s.waitForUnlock(1, { priority: 1 }).then(() => seen.push('low'));
    await high;
    await settle();
    expect(seen).toEqual(['1', '3', 'high']);
    s.release(1);
    await heavy;
    s.release(3);
    await low;
    expect(seen).toEqual(['1', '3', 'high', 'low']);
    expect(s.available).toBe(3);
  });

  it('waitForUnlock: timeoutMs (0 = look once) and signal; it waits for another thread too', async () => {
    const s = new Semaphore(1);
    await a.call('acquire', { sem: s.handle, n: 1 });
    expectCode(await rejected(s.waitForUnlock(1, { timeoutMs: 0 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(s.waitForUnlock(1, { timeoutMs: 20 })), ErrorCode.TIMEOUT);
    const controller = new AbortController();
    const aborted = rejected(s.waitForUnlock(1, { signal: controller.signal }));
    controller.abort();
    expectCode(await aborted, ErrorCode.ABORTED);
    let free = false;
    const watcher = s.waitForUnlock().then(() => (free = true));
    await elapse(20); // a window in which it must not resolve: a slow machine only lengthens it
    expect(free).toBe(false);
    await a.call('release', { sem: s.handle, n: 1 });
    await watcher;
    expect(s.available).toBe(1);
  });

  it('a waiter that leaves (abort) as another thread releases does not keep its reservation', async () => {
    // The Mutex's abort/unlock shape, for the Semaphore: the reservation of a
    // waiter that leaves must not outlive it, whatever the order.
    for (let round = 0; round < 3; round++) {
      const s = new Semaphore(2);
      const go = new Int32Array(new SharedArrayBuffer(4));
      await a.call('acquire', { sem: s.handle, n: 2 });
      const controller = new AbortController();
      const waiting = rejected(s.acquireAsync(2, { signal: controller.signal }));
      await until(() => s.waiterCount === 1, { what: 'the waiter parked, holding the reservation' });
      const released = a.call('releaseWhen', { sem: s.handle, n: 2, cell: go });
      controller.abort();
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      const deadline = Date.now() + 10_000; // a synchronous spin on purpose: this turn must not end before the release
      while (s.available !== 2) if (Date.now() > deadline) throw new Error('the worker did not release');
      expectCode(await waiting, ErrorCode.ABORTED);
      await released;
      await settle();
      expect(s.tryAcquire(2), 'the permits are free, so tryAcquire must take them').toBe(true);
      s.release(2);
      expect(await b.call('tryAcquire', { sem: s.handle, n: 2 })).toBe(true);
      await b.call('release', { sem: s.handle, n: 2 });
    }
  });
});

/*
 * Misuse table (as Go's misuseTests): each case provokes one misuse and must
 * fail with its code; afterwards all permits must be available and every
 * thread able to take all of them.
 */
interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  misuse(s: Semaphore): Promise<unknown>;
  cleanup?(s: Semaphore): Promise<void> | void;
}

const PERMITS = 2;
const badCounts = [0, -1, 1.5, NaN, Infinity, 'x', null, PERMITS + 1] as const;
const badTimeouts = [NaN, -1, -Infinity, 'x', { timeoutMs: NaN }, { timeoutMs: -5 }, { timout: 1 }, null] as const;
const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

const misuseCases: MisuseCase[] = [
  ...([0, -1, 1.5, NaN, Infinity, 'x', 2 ** 31, undefined] as const).map((bad): MisuseCase => ({
    name: `new Semaphore(${show(bad)})`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new Semaphore(bad as number)),
  })),
  ...([0, -2, 1.5, 'x'] as const).map((bad): MisuseCase => ({
    name: `new Semaphore(2, { maxThreads: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new Semaphore(2, { maxThreads: bad as number })),
  })),
  ...badCounts.flatMap((bad): MisuseCase[] => [
    { name: `acquire(${show(bad)})`, code: ErrorCode.INVALID_ARG, misuse: async (s) => thrown(() => s.acquire(bad as number)) },
    { name: `tryAcquire(${show(bad)})`, code: ErrorCode.INVALID_ARG, misuse: async (s) => thrown(() => s.tryAcquire(bad as number)) },
    { name: `acquireAsync(${show(bad)})`, code: ErrorCode.INVALID_ARG, misuse: (s) => rejected(s.acquireAsync(bad as number)) },
    {
      name: `runExclusive(fn, ${show(bad)})`,
      code: ErrorCode.INVALID_ARG,
      misuse: (s) => rejected(s.runExclusive(() => 1, bad as number)),
    },
    {
      name: `acquire(${show(bad)}) in a worker`,
      code: ErrorCode.INVALID_ARG,
      misuse: (s) => rejected(a.call('acquire', { sem: s.handle, n: bad })),
    },
  ]),
  ...([0, -1, 1.5, NaN, 'x'] as const).map((bad): MisuseCase => ({
    name: `release(${show(bad)}) while holding 1`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (s) => (s.acquire(), thrown(() => s.release(bad as number))),
    cleanup: (s) => {
      expect(s.heldByCurrentThread).toBe(1); // nothing was released
      s.release();
    },
  })),
  ...badTimeouts.map((bad): MisuseCase => ({
    name: `acquire(1, ${show(bad)}) while a worker holds every permit`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (s) => (await a.call('acquire', { sem: s.handle, n: PERMITS }), thrown(() => s.acquire(1, bad as number))),
    cleanup: async (s) => {
      await a.call('release', { sem: s.handle, n: PERMITS });
    },
  })),
  ...([NaN, -1, 'x'] as const).map((bad): MisuseCase => ({
    name: `acquireAsync(1, { timeoutMs: ${show(bad)} }) with permits free`,
    code: ErrorCode.INVALID_ARG,
    misuse: (s) => rejected(s.acquireAsync(1, { timeoutMs: bad as number })),
  })),
  {
    name: 'runExclusive of a non-function',
    code: ErrorCode.INVALID_ARG,
    misuse: (s) => rejected(s.runExclusive(42 as unknown as () => number)),
  },
  ...([NaN, Infinity, '1'] as const).map((bad): MisuseCase => ({
    name: `acquireAsync(1, { priority: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: (s) => rejected(s.acquireAsync(1, { priority: bad as number })),
  })),
  { name: 'waitForUnlock(n) above the permits', code: ErrorCode.INVALID_ARG, misuse: (s) => rejected(s.waitForUnlock(PERMITS + 1)) },
  { name: 'waitForUnlock(0)', code: ErrorCode.INVALID_ARG, misuse: (s) => rejected(s.waitForUnlock(0)) },
  {
    name: 'waitForUnlock(1, { timout }) (a misspelled timeoutMs)',
    code: ErrorCode.INVALID_ARG,
    misuse: (s) => rejected(s.waitForUnlock(1, { timout: 5 } as never)),
  },
  {
    name: 'waitForUnlock(1, { priority: NaN })',
    code: ErrorCode.INVALID_ARG,
    misuse: (s) => rejected(s.waitForUnlock(1, { priority: NaN })),
  },
  {
    name: 'release more than acquired (holds 1, releases 2)',
    code: ErrorCode.INVALID_ARG,
    misuse: async (s) => (s.acquire(1), thrown(() => s.release(2))),
    cleanup: (s) => {
      expect(s.heldByCurrentThread).toBe(1);
      expect(s.available).toBe(PERMITS - 1);
      s.release(1);
    },
  },
  { name: 'release without acquiring (main)', code: ErrorCode.NOT_OWNER, misuse: async (s) => thrown(() => s.release()) },
  {
    name: 'release without acquiring (worker)',
    code: ErrorCode.NOT_OWNER,
    misuse: (s) => rejected(a.call('release', { sem: s.handle, n: 1 })),
  },
  {
    name: 'release by main of permits a worker holds',
    code: ErrorCode.NOT_OWNER,
    misuse: async (s) => (await a.call('acquire', { sem: s.handle, n: 1 }), thrown(() => s.release())),
    cleanup: async (s) => {
      await a.call('release', { sem: s.handle, n: 1 });
    },
  },
  {
    name: 'release by a worker of more than it holds',
    code: ErrorCode.INVALID_ARG,
    misuse: async (s) => (await a.call('acquire', { sem: s.handle, n: 1 }), rejected(a.call('release', { sem: s.handle, n: 2 }))),
    cleanup: async (s) => {
      await a.call('release', { sem: s.handle, n: 1 });
    },
  },
  {
    name: 'a blocking acquire that only this thread could satisfy (holds all, acquires 1)',
    code: ErrorCode.DEADLOCK,
    misuse: async (s) => (s.acquire(PERMITS), thrown(() => s.acquire(1))),
    cleanup: (s) => s.release(PERMITS),
  },
  ...forgedHandles<Semaphore['handle']>('sabre.Mutex', [
    ['other permits', (h) => ({ ...h, options: { ...h.options, permits: 3 } })],
    ['other maxThreads', (h) => ({ ...h, options: { ...h.options, maxThreads: 65 } })],
    ['bad permits', (h) => ({ ...h, options: { ...h.options, permits: -1 } })],
    ['an extra option', (h) => ({ ...h, options: { ...h.options, spin: 1 } })],
  ]).map(([what, forge]): MisuseCase => ({
    name: `Semaphore.from of a handle with ${what}`,
    code: ErrorCode.HANDLE,
    misuse: async (s) => thrown(() => Semaphore.from(forge(s.handle) as Semaphore['handle'])),
  })),
  {
    name: 'a forged handle sent to a worker',
    code: ErrorCode.HANDLE,
    misuse: (s) => rejected(a.call('acquire', { sem: { ...s.handle, version: 9 } })),
  },
];

describe('Semaphore misuse', () => {
  const s = new Semaphore(PERMITS);
  it.each(misuseCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const error = await c.misuse(s);
    try {
      expectCode(error, c.code);
    } finally {
      await c.cleanup?.(s);
    }
    // Nothing held or counted was lost: every permit is back and every thread can take them all.
    expect(s.available).toBe(PERMITS);
    expect(s.heldByCurrentThread).toBe(0);
    expect(s.tryAcquire(PERMITS)).toBe(true);
    s.release(PERMITS);
    await a.call('acquireRelease', { sem: s.handle, n: PERMITS, timeout: 5000 });
    await b.call('acquireRelease', { sem: s.handle, n: PERMITS, timeout: 5000 });
    expect(s.available).toBe(PERMITS);
  });
});

describe('Semaphore owner death', () => {
  async function holder(s: Semaphore, n: number): Promise<Remote> {
    const w = await Remote.start('sync');
    await w.call('acquire', { sem: s.handle, n });
    expect(await w.call('held', { sem: s.handle })).toBe(n);
    return w;
  }

  it('a worker holding 2 permits is terminated: main, blocked in acquire(), gets them', async () => {
    const s = new Semaphore(3);
    const w = await holder(s, 2);
    expect(s.available).toBe(1);
    void w.worker.terminate();
    // Main blocks here: its event loop cannot run the worker's 'exit'.
    s.acquire(3, 5000);
    expect(s.heldByCurrentThread).toBe(3);
    s.release(3);
    expect(s.available).toBe(3);
  });

  it('a worker that exits holding permits: another worker blocked in acquire() gets them', async () => {
    const s = new Semaphore(2);
    const w = await Remote.start('sync');
    const exited = new Promise((r) => w.worker.once('exit', r));
    w.send('acquireThenExit', { sem: s.handle, n: 2, code: 0 });
    await exited;
    await b.call('acquire', { sem: s.handle, n: 2, timeout: 5000 });
    await b.call('release', { sem: s.handle, n: 2 });
    expect(s.available).toBe(2);
  });

  it('acquireAsync and runExclusive waiting when the holder dies complete', async () => {
    const s = new Semaphore(2);
    const w = await holder(s, 2);
    const waiting = s.acquireAsync(1, { timeoutMs: 5000 });
    const exclusive = s.runExclusive(() => 'ran', 1, { timeoutMs: 5000 });
    await until(() => s.waiterCount === 1, { what: 'both wait' }); // a thread's queued tasks count as one
    void w.worker.terminate();
    await waiting;
    expect(await exclusive).toBe('ran');
    s.release(1);
    expect(s.available).toBe(2);
  });

  it("tryAcquire returns a dead thread's permits", async () => {
    const s = new Semaphore(2);
    const w = await holder(s, 2);
    await w.stop();
    expect(s.tryAcquire(2)).toBe(true);
    s.release(2);
  });

  it('a thread that died inside the internal lock: the next locker repairs the count from the held counts', () => {
    const s = new Semaphore(4);
    s.acquire(1);
    // White-box: a thread (never started here, proved dead) died holding the
    // internal lock after taking 2 permits from COUNT and before recording them.
    // Layout (semaphore.ts): GUARD, an embedded Mutex whose STATE word holds its owner + 1, then COUNT.
    const words = new Int32Array(s.handle.buffer, s.handle.byteOffset + HEADER_BYTES, MUTEX_WORDS + 1);
    const ghost = 900_101;
    ThreadRegistry.current.markDead(ghost);
    Atomics.store(words, MUTEX_WORDS, 1); // COUNT: 4 - 1 (mine) - 2 (the ghost's, unrecorded)
    Atomics.store(words, 0, ghost + 1); // GUARD: held by the ghost
    expect(s.tryAcquire(3)).toBe(true); // repaired: 4 - 1 held by this thread
    expect(s.heldByCurrentThread).toBe(4);
    s.release(4);
    expect(s.available).toBe(4);
  });

  it('recovery latency, terminate() → a blocked main acquire() gets the permits (5 trials)', async () => {
    const latencies: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const s = new Semaphore(2);
      const w = await holder(s, 2);
      const t0 = performance.now();
      void w.worker.terminate();
      s.acquire(2, 5000);
      latencies.push(performance.now() - t0);
      s.release(2);
    }
    const max = Math.max(...latencies);
    console.log(`semaphore owner-death recovery (terminate → acquire returns), ms: ${latencies.map((l) => l.toFixed(1)).join(' ')}`);
    expect(max).toBeLessThan(2000); // a liveness bound, not a speed claim
  });

  it('main thread id is recorded as a holder like any other', () => {
    const s = new Semaphore(1);
    s.acquire();
    expect(s.heldByCurrentThread).toBe(1);
    expect(threadId).toBe(0);
    s.release();
  });
});
