import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { Mutex, MutexGuard, STARVATION_MS } from '../../src/sync/mutex.js';
import { systemClock } from '../../src/clock.js';
import { Remote } from '../threads/remote.js';
import { thrown, rejected, expectCode } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { elapse, nextTurn, until } from '../helpers/wait.js';

/** The error `fn` throws (or undefined). */

/**
 * Resolves once `m`'s one waiter has parked and then waited `factor` times
 * STARVATION_MS: the threshold must really elapse, so this measures time, from
 * a moment the waiter was already waiting.
 */
async function waitedPastStarvation(m: Mutex, factor = 2): Promise<void> {
  // Counted, then registered, then PARKED in STATE (mutex.ts's notes; bit 28): a waiter descheduled between
  // counting and parking (a loaded machine) is not yet one an unlock can see.
  const state = new Int32Array(m.handle.buffer, m.handle.byteOffset + 32, 1);
  await until(() => m.waiterCount === 1 && (Atomics.load(state, 0) & (1 << 28)) !== 0, { what: 'the waiter parked' });
  const parkedBy = performance.now(); // it started to wait before this
  await until(() => performance.now() - parkedBy > factor * STARVATION_MS, { what: 'the waiter has starved' });
}

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([Remote.start(), Remote.start()]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('Mutex behaviour', () => {
  it('tryLock takes a free lock once and records this thread as owner', () => {
    const m = new Mutex();
    expect(m.isLocked).toBe(false);
    expect(m.ownerThreadId).toBe(-1);
    expect(m.tryLock()).toBe(true);
    expect(m.isLocked).toBe(true);
    expect(m.ownerThreadId).toBe(threadId);
    expect(m.tryLock()).toBe(false);
    m.unlock();
    expect(m.isLocked).toBe(false);
  });

  it('tryLock fails while another thread holds the lock, and succeeds after it unlocks', async () => {
    const m = new Mutex();
    await a.call('lock', { mutex: m.handle });
    expect(m.tryLock()).toBe(false);
    expect(m.ownerThreadId).toBe(a.threadId);
    await a.call('unlock', { mutex: m.handle });
    expect(m.tryLock()).toBe(true);
    m.unlock();
  });

  it('lock and lockAsync time out with TimeoutError while another thread holds it', async () => {
    const m = new Mutex();
    await a.call('lock', { mutex: m.handle });
    expectCode(
      thrown(() => m.lock(0)),
      ErrorCode.TIMEOUT,
    );
    expectCode(
      thrown(() => m.lock(30)),
      ErrorCode.TIMEOUT,
    );
    expectCode(
      thrown(() => m.lock({ timeoutMs: 30 })),
      ErrorCode.TIMEOUT,
    );
    expectCode(await rejected(m.lockAsync({ timeoutMs: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(b.call('lock', { mutex: m.handle, options: 30 })), ErrorCode.TIMEOUT);
    expect(m.ownerThreadId).toBe(a.threadId);
    await a.call('unlock', { mutex: m.handle });
    m.lock(1000);
    m.unlock();
  });

  it('lockAsync waits for the holder to unlock', async () => {
    const m = new Mutex();
    await a.call('lock', { mutex: m.handle });
    let got = false;
    const waiting = m.lockAsync({ timeoutMs: 10_000 }).then(() => (got = true));
    await until(() => m.waiterCount === 1, { what: 'the lockAsync waits' });
    expect(got).toBe(false);
    await a.call('unlock', { mutex: m.handle });
    await waiting;
    expect(m.ownerThreadId).toBe(threadId);
    m.unlock();
  });

  it('an aborted lockAsync rejects with AbortError and the lock stays usable (no lost wake-up)', async () => {
    const m = new Mutex();
    await a.call('lock', { mutex: m.handle });
    const controller = new AbortController();
    const aborted = m.lockAsync({ signal: controller.signal });
    const other = m.lockAsync({ timeoutMs: 10_000 });
    await until(() => m.waiterCount === 1, { what: 'both lockAsyncs wait' }); // a thread's queued tasks count as one
    controller.abort();
    expectCode(await rejected(aborted), ErrorCode.ABORTED);
    // An already-aborted signal rejects at once.
    expectCode(await rejected(m.lockAsync({ signal: AbortSignal.abort() })), ErrorCode.ABORTED);
    await a.call('unlock', { mutex: m.handle });
    await other;
    expect(m.ownerThreadId).toBe(threadId);
    m.unlock();
    await b.call('lockUnlock', { mutex: m.handle, options: 5000 });
    expect(m.isLocked).toBe(false);
  });

  it.each(['abort', 'cancel'] as const)(
    'a waiter that leaves (%s) as the holder unlocks does not leave the mutex free but unobtainable',
    async (how) => {
      // The shape: the waiter has waited long enough to ask for handoff; it
      // leaves, and before it runs again another thread unlocks. The unlock
      // still counts it as a parked waiter and hands the lock to "a waiter":
      // nobody must be left holding a handoff that no one will take.
      for (let round = 0; round < 3; round++) {
        const m = new Mutex();
        const go = new Int32Array(new SharedArrayBuffer(4));
        await a.call('lock', { mutex: m.handle });
        const controller = new AbortController();
        const waiting = rejected(m.lockAsync({ signal: controller.signal }));
        await waitedPastStarvation(m); // so the unlock below hands off
        expect(m.waiterCount).toBe(1);
        const unlocked = a.call('unlockWhen', { mutex: m.handle, cell: go });
        if (how === 'abort')
          controller.abort(); // the waiter decides to leave; it runs again only when this turn ends...
        else m.cancel();
        Atomics.store(go, 0, 1);
        Atomics.notify(go, 0);
        const deadline = Date.now() + 10_000; // a synchronous spin on purpose: this turn must not end before the unlock
        while (m.ownerThreadId === a.threadId) if (Date.now() > deadline) throw new Error('the worker did not unlock'); // ...after the unlock
        expectCode(await waiting, how === 'abort' ? ErrorCode.ABORTED : ErrorCode.CANCELED);
        await unlocked;
        expect(m.isLocked).toBe(false);
        expect(m.tryLock(), 'free, so tryLock must take it').toBe(true);
        m.unlock();
        await m.lockAsync({ timeoutMs: 0 });
        m.unlock();
      }
    },
  );

  it('acquire() returns a guard that `using` releases, also when the scope throws', async () => {
    const m = new Mutex();
    {
      using guard = m.acquire();
      expect(guard).toBeInstanceOf(MutexGuard);
      expect(m.ownerThreadId).toBe(threadId);
    }
    expect(m.isLocked).toBe(false);
    expect(
      thrown(() => {
        using _guard = m.acquire(1000);
        throw new Error('inside');
      }),
    ).toHaveProperty('message', 'inside');
    expect(m.isLocked).toBe(false);
    {
      await using _guard = await m.acquireAsync();
      expect(m.isLocked).toBe(true);
    }
    expect(m.isLocked).toBe(false);
    const guard = m.acquire();
    guard.release();
    guard.release(); // a second release does nothing (and does not throw NotOwnerError)
    expect(m.isLocked).toBe(false);
  });

  it('withLock runs fn under the lock, releases it after a throw, and rejects a promise-returning fn', () => {
    const m = new Mutex();
    expect(m.runExclusiveSync(() => (m.ownerThreadId === threadId ? 'held' : 'not held'))).toBe('held');
    expect(m.isLocked).toBe(false);
    expect(
      thrown(() =>
        m.runExclusiveSync(() => {
          throw new RangeError('x');
        }),
      ),
    ).toBeInstanceOf(RangeError);
    expect(m.isLocked).toBe(false);
    expectCode(
      thrown(() => m.runExclusiveSync(async () => 1)),
      ErrorCode.INVALID_ARG,
    );
    expect(m.isLocked).toBe(false);
    expectCode(
      thrown(() => m.runExclusiveSync(42 as unknown as () => number)),
      ErrorCode.INVALID_ARG,
    );
  });

  it('runExclusive queues async sections of one thread: one at a time, all of them run', async () => {
    const m = new Mutex();
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    const section = (i: number) => async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await nextTurn(); // the section spans a macrotask: the others could run meanwhile if the lock let them
      await Promise.resolve();
      order.push(i);
      inside--;
      return i;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => m.runExclusive(section(i))));
    expect(results).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maxInside).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(m.isLocked).toBe(false);
    // A throwing section releases the lock too.
    expect(
      await rejected(
        m.runExclusive(() => {
          throw new Error('x');
        }),
      ),
    ).toHaveProperty('message', 'x');
    expect(m.isLocked).toBe(false);
  });

  it('excludes across threads: 2 workers do slow read-modify-writes under the lock and none is lost', async () => {
    const m = new Mutex();
    const cell = new Int32Array(new SharedArrayBuffer(8));
    const times = 2000;
    await Promise.all([a.call('increments', { mutex: m.handle, cell, times }), b.call('increments', { mutex: m.handle, cell, times })]);
    expect(cell[0]).toBe(2 * times);
    expect(m.isLocked).toBe(false);
  });
});

/** Lets every queued microtask (and promise chain) run. */
const settle = nextTurn;

describe('Mutex: async tasks of one thread', () => {
  it('runExclusive never calls fn inside the call, free lock or not (no Zalgo)', async () => {
    const m = new Mutex();
    const log: string[] = [];
    const first = m.runExclusive(() => log.push('first'));
    expect(m.isLocked).toBe(true); // taken now...
    const second = m.runExclusive(() => log.push('second'));
    log.push('returned');
    expect(log).toEqual(['returned']); // ...but fn runs later
    await Promise.all([first, second]);
    expect(log).toEqual(['returned', 'first', 'second']);
    expect(m.isLocked).toBe(false);
  });

  it('queued tasks run by priority, FIFO within a priority; isLocked stays true between them', async () => {
    const m = new Mutex();
    await m.lockAsync();
    const order: string[] = [];
    const locked: boolean[] = [];
    const task = (name: string) => () => {
      order.push(name);
      locked.push(m.isLocked);
    };
    const all = [
      m.runExclusive(task('0a')),
      m.runExclusive(task('-1'), { priority: -1 }),
      m.runExclusive(task('0b'), { priority: 0 }),
      m.runExclusive(task('+2'), { priority: 2 }),
      m.lockAsync({ priority: 1 }).then(() => {
        task('+1 lockAsync')();
        m.unlock();
      }),
    ];
    await settle();
    expect(order).toEqual([]);
    m.unlock(); // to the highest-priority queued task, without freeing the lock
    expect(m.isLocked).toBe(true);
    await Promise.all(all);
    expect(order).toEqual(['+2', '+1 lockAsync', '0a', '0b', '-1']);
    expect(locked.every(Boolean)).toBe(true);
    expect(m.isLocked).toBe(false);
  });

  it('Mutex objects of one thread on the same memory share the queue', async () => {
    const m1 = new Mutex();
    const m2 = Mutex.from(m1.handle);
    await m1.lockAsync();
    let got = false;
    const second = m2.lockAsync().then(() => (got = true));
    await settle();
    expect(got).toBe(false);
    m2.unlock(); // any object, any code of the owning thread
    await second;
    expect(m1.isLocked).toBe(true);
    m1.unlock();
    expect(m2.isLocked).toBe(false);
  });

  it('objects opened from separately received handles (new SharedArrayBuffer objects) share one queue: one order, one cancel()', async () => {
    const m1 = new Mutex();
    const m2 = Mutex.from(structuredClone(m1.handle)); // what each postMessage of the handle gives a worker
    const m3 = Mutex.from(structuredClone(m1.handle));
    await m1.lockAsync();
    const order: string[] = [];
    const all = [
      m2.runExclusive(() => void order.push('m2')),
      m3.lockAsync({ priority: 1 }).then(() => {
        order.push('m3');
        m3.unlock();
      }),
      m1.runExclusive(() => void order.push('m1')),
    ];
    const canceled = rejected(m2.lockAsync({ priority: -1 }));
    await settle();
    expect(order).toEqual([]);
    m3.cancel(); // reaches what m2 queued
    expectCode(await canceled, ErrorCode.CANCELED);
    order.length = 0;
    m1.unlock(); // the next queued task of this thread, whichever object queued it, by priority then FIFO
    await Promise.all(all.map((p) => p.catch(() => undefined)));
    expect(order).toEqual([]); // cancel() took them all: the three were queued too
    expect(m1.isLocked).toBe(false);
    const after: string[] = [];
    await m1.lockAsync();
    const next = [
      m2.runExclusive(() => void after.push('m2')),
      m3.runExclusive(() => void after.push('m3 first'), { priority: 2 }),
      m1.runExclusive(() => void after.push('m1')),
    ];
    await settle();
    m1.unlock();
    await Promise.all(next);
    expect(after).toEqual(['m3 first', 'm2', 'm1']);
  });

  it('cancel() rejects the queued acquisitions with CanceledError; the holder keeps the lock; watchers stay', async () => {
    const m = new Mutex();
    const guard = await m.acquireAsync();
    let ran = false;
    const queued = [rejected(m.lockAsync()), rejected(m.acquireAsync({ priority: 3 })), rejected(m.runExclusive(() => (ran = true)))];
    let watched = false;
    const watcher = m.waitForUnlock().then(() => (watched = true));
    m.cancel();
    for (const e of await Promise.all(queued)) expectCode(e, ErrorCode.CANCELED);
    expect(ran).toBe(false);
    expect(m.isLocked).toBe(true);
    await settle();
    expect(watched).toBe(false);
    guard.release();
    expect(m.isLocked).toBe(false);
    await watcher;
    m.cancel(); // nothing queued: nothing happens
    expect(m.tryLock()).toBe(true);
    m.unlock();
  });

  it("cancel() withdraws this thread's queued tasks waiting for another thread; the others' waiters are not touched", async () => {
    const m = new Mutex();
    await a.call('lock', { mutex: m.handle });
    const mine = rejected(m.lockAsync());
    const theirs = b.call('lockAsync', { mutex: m.handle, options: { timeoutMs: 10_000 } });
    await until(() => m.waiterCount === 2, { what: 'both threads parked' });
    m.cancel();
    expectCode(await mine, ErrorCode.CANCELED);
    await a.call('unlock', { mutex: m.handle });
    await theirs;
    expect(m.ownerThreadId).toBe(b.threadId);
    await b.call('unlock', { mutex: m.handle });
  });

  it('waitForUnlock resolves at once when free, waits for the holder, and does not take the lock', async () => {
    const m = new Mutex();
    await m.waitForUnlock();
    expect(m.isLocked).toBe(false);
    const release = await m.acquireAsync();
    let n = 0;
    const watchers = [m.waitForUnlock().then(() => n++), m.waitForUnlock({ timeoutMs: 10_000 }).then(() => n++)];
    await settle();
    expect(n).toBe(0);
    release.release();
    await Promise.all(watchers);
    expect(n).toBe(2);
    expect(m.isLocked).toBe(false);
    // Another thread's hold: resolves when that thread unlocks.
    await a.call('lock', { mutex: m.handle });
    let free = false;
    const watcher = m.waitForUnlock().then(() => (free = true));
    await elapse(20); // a window in which it must not resolve: a slow machine only lengthens it
    expect(free).toBe(false);
    await a.call('unlock', { mutex: m.handle });
    await watcher;
    expect(m.isLocked).toBe(false);
  });

  it('waitForUnlock ranks against queued tasks: it goes first only if it outranks them', async () => {
    const m = new Mutex();
    await m.lockAsync();
    const next = m.lockAsync({ priority: 0 }); // queued
    const seen: string[] = [];
    const high = m.waitForUnlock({ priority: 1 }).then(() => seen.push(`high, locked=${m.isLocked}`));
    const low = m.waitForUnlock({ priority: 0 }).then(() => seen.push(`low, locked=${m.isLocked}`));
    m.unlock(); // to the queued task; the higher watcher saw the lock free first
    await next;
    await settle();
    expect(seen).toEqual(['high, locked=true']);
    m.unlock();
    await Promise.all([high, low]);
    expect(seen).toEqual(['high, locked=true', 'low, locked=false']);
  });

  it('waitForUnlock: timeoutMs, signal, and 0 = look once', async () => {
    const m = new Mutex();
    await m.lockAsync();
    expectCode(await rejected(m.waitForUnlock({ timeoutMs: 0 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(m.waitForUnlock({ timeoutMs: 20 })), ErrorCode.TIMEOUT);
    const controller = new AbortController();
    const aborted = rejected(m.waitForUnlock({ signal: controller.signal }));
    controller.abort();
    expectCode(await aborted, ErrorCode.ABORTED);
    expectCode(await rejected(m.waitForUnlock({ signal: AbortSignal.abort() })), ErrorCode.ABORTED);
    m.unlock();
    await m.waitForUnlock({ timeoutMs: 0 });
  });

  it('a queued lockAsync that times out leaves the queue; the release then frees the lock', async () => {
    const m = new Mutex();
    await m.lockAsync();
    expectCode(await rejected(m.lockAsync({ timeoutMs: 20 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(m.runExclusive(() => 1, { timeoutMs: 0 })), ErrorCode.TIMEOUT);
    m.unlock();
    expect(m.isLocked).toBe(false);
  });

  it('re-entry: an async acquisition behind a task hold queues; behind a synchronous hold it is a DeadlockError', async () => {
    const m = new Mutex();
    // Task hold: the second acquisition waits for the first release (async-mutex's "ownership is exclusive").
    const release = await m.acquireAsync();
    let flag = false;
    void nextTurn().then(() => {
      flag = true;
      release.release();
    });
    await m.lockAsync();
    expect(flag).toBe(true);
    expectCode(
      thrown(() => m.lock(0)),
      ErrorCode.DEADLOCK,
    ); // a blocking lock behind a task hold never returns
    m.unlock();
    // Synchronous hold: the same calls are refused at once.
    m.lock();
    expectCode(await rejected(m.lockAsync()), ErrorCode.DEADLOCK);
    expectCode(await rejected(m.acquireAsync({ timeoutMs: 1000 })), ErrorCode.DEADLOCK);
    expectCode(await rejected(m.runExclusive(() => 1)), ErrorCode.DEADLOCK);
    expectCode(await rejected(m.waitForUnlock()), ErrorCode.DEADLOCK);
    expect(m.tryLock()).toBe(false);
    m.unlock();
    expect(m.isLocked).toBe(false);
  });
});

describe('Mutex fairness', () => {
  /** Main holds `m` until a worker's waiter has parked and then waited past STARVATION_MS. */
  const holdUntilStarving = (m: Mutex): Promise<void> => waitedPastStarvation(m, 3);

  it.each(['lock', 'lockAsync'] as const)(
    'once a waiter (%s, in a worker) has waited past STARVATION_MS, the next unlock hands it the lock: a barging newcomer cannot take it',
    async (how) => {
      // With the old 40 ms effective threshold this fails: main's tryLock right
      // after its own unlock is the most favoured newcomer there is.
      for (let round = 0; round < 3; round++) {
        const m = new Mutex();
        m.lock();
        const waiter = b.call(how, { mutex: m.handle }); // returns holding the lock
        await holdUntilStarving(m);
        m.unlock();
        expect(m.tryLock(), 'the newcomer barged ahead of a starving waiter').toBe(false);
        await waiter;
        expect(m.ownerThreadId).toBe(b.threadId);
        await b.call('unlock', { mutex: m.handle });
        expect(m.tryLock()).toBe(true);
        m.unlock();
      }
    },
  );

  it("a handoff is the oldest waiter's: a later waiter leaves it to that one for a grace period, then takes it (the oldest may be dead)", async () => {
    // Words of mutex.ts's notes: STATE, STARVING, WAITERS, WAIT_SINCE; stamps are systemClock ms × 16.
    const m = new Mutex();
    const words = new Int32Array(m.handle.buffer, m.handle.byteOffset + 32, 4);
    const stamp = (ms: number): number => Math.floor(ms * 16) | 0 || 1;
    await m.lockAsync();
    // A waiter of another thread that registered 10 ms ago and was seen starving just now, and whose
    // thread the OS does not run again (or that died): counted, registered, starving, PARKED (bit 28).
    Atomics.add(words, 2, 1);
    const absent = stamp(systemClock.now() - 10);
    Atomics.store(words, 3, absent);
    Atomics.store(words, 1, stamp(systemClock.now()));
    Atomics.or(words, 0, 1 << 28);
    let ran = false;
    const mine = m.runExclusive(() => {
      ran = true;
    });
    m.unlock(); // hands off to "a counted waiter": the oldest one
    await elapse(15 * STARVATION_MS); // this thread's driver starved too, but began to wait after the oldest
    expect(ran, "a later waiter took the oldest waiter's handoff").toBe(false);
    await mine; // the oldest never came: after the grace period the handoff is taken anyway
    expect(m.isLocked).toBe(false);
    expect(Atomics.load(words, 3), "the absent waiter's registration is dropped by the one that took its handoff").not.toBe(absent);
  });

  it("this thread's queued tasks do not keep a starving waiter of another thread out (priority does not order threads)", async () => {
    const m = new Mutex();
    const cell = new Int32Array(new SharedArrayBuffer(8));
    await m.lockAsync();
    const theirs = b.call('increments', { mutex: m.handle, cell, times: 1 });
    await holdUntilStarving(m);
    // Ten high-priority tasks of this thread are queued; each holds for a while.
    const seen: number[] = [];
    const mine = Array.from({ length: 10 }, () =>
      m.runExclusive(
        async () => {
          seen.push(cell[0]!);
          await elapse(2 * STARVATION_MS); // each holds past the threshold: that is the scenario
        },
        { priority: 10 },
      ),
    );
    m.unlock(); // the worker starves: the lock goes to it, not to the queued tasks
    await Promise.all([...mine, theirs]);
    expect(seen).toEqual(Array(10).fill(1));
  });
});

/*
 * Misuse table (as Go's misuseTests): each case provokes one misuse and must
 * fail with its code; afterwards the mutex must be unlocked, unpoisoned, and
 * usable by every thread.
 */
interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  /** Provokes the misuse; returns the error it caused. */
  misuse(m: Mutex): Promise<unknown>;
  /** Undoes what the case set up (e.g. the owner unlocks). */
  cleanup?(m: Mutex): Promise<void> | void;
}

const misuseCases: MisuseCase[] = [
  {
    name: 'unlock by a worker while main holds it',
    code: ErrorCode.NOT_OWNER,
    misuse: async (m) => (m.lock(), rejected(a.call('unlock', { mutex: m.handle }))),
    cleanup: (m) => m.unlock(),
  },
  {
    name: 'unlock by main while a worker holds it',
    code: ErrorCode.NOT_OWNER,
    misuse: async (m) => (await a.call('lock', { mutex: m.handle }), thrown(() => m.unlock())),
    cleanup: async (m) => {
      await a.call('unlock', { mutex: m.handle });
    },
  },
  {
    name: 'unlock by one worker while another holds it',
    code: ErrorCode.NOT_OWNER,
    misuse: async (m) => (await a.call('lock', { mutex: m.handle }), rejected(b.call('unlock', { mutex: m.handle }))),
    cleanup: async (m) => {
      await a.call('unlock', { mutex: m.handle });
    },
  },
  { name: 'unlock of an unlocked mutex (main)', code: ErrorCode.NOT_OWNER, misuse: async (m) => thrown(() => m.unlock()) },
  {
    name: 'unlock of an unlocked mutex (worker)',
    code: ErrorCode.NOT_OWNER,
    misuse: (m) => rejected(a.call('unlock', { mutex: m.handle })),
  },
  {
    name: 'sync relock by the owner',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (m.lock(), thrown(() => m.lock())),
    cleanup: (m) => m.unlock(),
  },
  {
    name: 'sync relock by the owner, with a timeout',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (m.lock(), thrown(() => m.lock(50))),
    cleanup: (m) => m.unlock(),
  },
  {
    name: 'sync relock by the owner, in a worker',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (await a.call('lock', { mutex: m.handle }), rejected(a.call('lock', { mutex: m.handle }))),
    cleanup: async (m) => {
      await a.call('unlock', { mutex: m.handle });
    },
  },
  {
    name: 'lockAsync by the thread that holds it through lock()',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (m.lock(), rejected(m.lockAsync())),
    cleanup: (m) => m.unlock(),
  },
  {
    name: 'runExclusive by the thread that holds it through tryLock()',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (m.tryLock(), rejected(m.runExclusive(() => 1))),
    cleanup: (m) => m.unlock(),
  },
  {
    name: 'waitForUnlock by the thread that holds it through lock()',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (m.lock(), rejected(m.waitForUnlock())),
    cleanup: (m) => m.unlock(),
  },
  {
    name: 'lock() while an async task of this thread holds it',
    code: ErrorCode.DEADLOCK,
    misuse: async (m) => (await m.lockAsync(), thrown(() => m.lock(50))),
    cleanup: (m) => m.unlock(),
  },
  ...([NaN, Infinity, '1', null] as const).map((bad): MisuseCase => ({
    name: `lockAsync({ priority: ${String(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: (m) => rejected(m.lockAsync({ priority: bad as unknown as number })),
  })),
  {
    name: 'runExclusive with a bad priority',
    code: ErrorCode.INVALID_ARG,
    misuse: (m) => rejected(m.runExclusive(() => 1, { priority: NaN })),
  },
  {
    name: 'waitForUnlock({ timout }) (a misspelled timeoutMs)',
    code: ErrorCode.INVALID_ARG,
    misuse: (m) => rejected(m.waitForUnlock({ timout: 5 } as never)),
  },
  { name: 'waitForUnlock({ timeoutMs: -1 })', code: ErrorCode.INVALID_ARG, misuse: (m) => rejected(m.waitForUnlock({ timeoutMs: -1 })) },
  {
    name: 'waitForUnlock({ signal: "x" })',
    code: ErrorCode.INVALID_ARG,
    misuse: (m) => rejected(m.waitForUnlock({ signal: 'x' } as never)),
  },
  ...([NaN, -1, -Infinity, 'x', { timeoutMs: NaN }, { timeoutMs: -5 }, { timeoutMs: 'x' }, { timout: 1 }, null] as const).map(
    (bad): MisuseCase => ({
      name: `lock(${JSON.stringify(bad)}) while another thread holds it`,
      code: ErrorCode.INVALID_ARG,
      misuse: async (m) => (await a.call('lock', { mutex: m.handle }), thrown(() => m.lock(bad as unknown as number))),
      cleanup: async (m) => {
        await a.call('unlock', { mutex: m.handle });
      },
    }),
  ),
  ...([NaN, -1, 'x'] as const).map((bad): MisuseCase => ({
    name: `lockAsync({ timeoutMs: ${JSON.stringify(bad)} }) while another thread holds it`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (m) => (await a.call('lock', { mutex: m.handle }), rejected(m.lockAsync({ timeoutMs: bad as unknown as number }))),
    cleanup: async (m) => {
      await a.call('unlock', { mutex: m.handle });
    },
  })),
  {
    name: 'lock(NaN) in a worker while main holds it',
    code: ErrorCode.INVALID_ARG,
    misuse: async (m) => (m.lock(), rejected(a.call('lock', { mutex: m.handle, options: NaN }))),
    cleanup: (m) => m.unlock(),
  },
  ...forgedHandles<Mutex['handle']>('sabre.ManualClock', [['options', (h) => ({ ...h, options: { spin: 1 } })]]).map(
    ([what, forge]): MisuseCase => ({
      name: `Mutex.from of a handle with ${what}`,
      code: ErrorCode.HANDLE,
      misuse: async (m) => thrown(() => Mutex.from(forge(m.handle) as Mutex['handle'])),
    }),
  ),
  {
    name: 'a forged handle sent to a worker',
    code: ErrorCode.HANDLE,
    misuse: (m) => rejected(a.call('lock', { mutex: { ...m.handle, version: 9 } })),
  },
];

describe('Mutex misuse', () => {
  const m = new Mutex();
  it.each(misuseCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const error = await c.misuse(m);
    try {
      expectCode(error, c.code);
    } finally {
      await c.cleanup?.(m);
    }
    // The mutex is left free and healthy, and every thread can still use it.
    expect(m.isLocked).toBe(false);
    expect(m.isPoisoned).toBe(false);
    expect(m.tryLock()).toBe(true);
    m.unlock();
    await a.call('lockUnlock', { mutex: m.handle, options: 5000 });
    await b.call('lockUnlock', { mutex: m.handle, options: 5000 });
    m.lock(5000);
    m.unlock();
    expect(m.isLocked).toBe(false);
  });
});

describe('Mutex owner death', () => {
  /** A fresh worker holding `m`. */
  async function holder(m: Mutex): Promise<Remote> {
    const w = await Remote.start();
    await w.call('lock', { mutex: m.handle });
    expect(m.ownerThreadId).toBe(w.threadId);
    return w;
  }

  it('a waiter killed while starving leaves nothing behind: its count, registration and handoff mode are repaired', async () => {
    // Internal words of the body (see the notes in mutex.ts): STATE, STARVING, WAITERS, WAIT_SINCE.
    const m = new Mutex();
    const words = new Int32Array(m.handle.buffer, m.handle.byteOffset + 32, 4);
    m.lock();
    const w = await Remote.start();
    w.send('lock', { mutex: m.handle }); // blocks: main holds it
    await until(() => words[2] === 1 && words[1] !== 0, { what: 'the worker was counted and starving' });
    await w.worker.terminate();
    m.unlock(); // hands off to the dead waiter: nobody takes it
    // Before the repair, every later lock found handoff mode and waited STARVATION_MS, for good.
    await until(
      async () => {
        m.lock();
        m.unlock();
        await nextTurn();
        return words[1] === 0 && words[2] === 0 && words[3] === 0;
      },
      { what: "the dead waiter's words were repaired", timeoutMs: 5000 },
    );
    expect(words[0]).toBe(0); // free, no PARKED, no HANDOFF
    m.lock();
    expect(words[0]).toBe(threadId + 1); // a plain hold: the next unlock takes the fast path again
    m.unlock();
  });

  it('a worker terminated while holding the lock: main, blocked in lock(), gets OwnerDiedError; poison rules hold', async () => {
    const m = new Mutex();
    const w = await holder(m);
    void w.worker.terminate();
    // Main blocks here: its event loop cannot run the worker's 'exit'.
    expectCode(
      thrown(() => m.lock(5000)),
      ErrorCode.OWNER_DIED,
    );
    expect(m.isPoisoned).toBe(true);
    expect(m.isLocked).toBe(false);
    // Every acquisition path throws while poisoned...
    expectCode(
      thrown(() => m.tryLock()),
      ErrorCode.OWNER_DIED,
    );
    expectCode(
      thrown(() => m.lock()),
      ErrorCode.OWNER_DIED,
    );
    expectCode(await rejected(m.lockAsync()), ErrorCode.OWNER_DIED);
    expectCode(await rejected(m.runExclusive(() => 1)), ErrorCode.OWNER_DIED);
    expectCode(await rejected(a.call('lock', { mutex: m.handle, options: 1000 })), ErrorCode.OWNER_DIED);
    // ...unless it ignores the poison, which stays.
    m.lock({ ignorePoison: true });
    expect(m.ownerThreadId).toBe(threadId);
    expect(m.isPoisoned).toBe(true);
    m.unlock();
    expect(m.tryLock({ ignorePoison: true })).toBe(true);
    m.unlock();
    await a.call('lockUnlock', { mutex: m.handle, options: { ignorePoison: true, timeoutMs: 1000 } });
    expect(m.isPoisoned).toBe(true);
    // clearPoison restores normal service for every thread.
    m.clearPoison();
    expect(m.isPoisoned).toBe(false);
    m.lock(1000);
    m.unlock();
    await a.call('lockUnlock', { mutex: m.handle, options: 1000 });
    expect(m.isLocked).toBe(false);
  });

  it('a worker that calls process.exit holding the lock: main lock() gets OwnerDiedError', async () => {
    const m = new Mutex();
    const w = await holder(m);
    w.send('exit', { code: 0 });
    expectCode(
      thrown(() => m.lock(5000)),
      ErrorCode.OWNER_DIED,
    );
    expect(m.isPoisoned).toBe(true);
    m.clearPoison();
    expect(m.tryLock()).toBe(true);
    m.unlock();
  });

  it('another worker blocked in lock() gets OwnerDiedError when the holder is terminated', async () => {
    const m = new Mutex();
    const w = await holder(m);
    const waiting = rejected(b.call('lock', { mutex: m.handle, options: 5000 }));
    await until(() => m.waiterCount === 1, { what: 'the worker is blocked in lock()' });
    await w.worker.terminate();
    expectCode(await waiting, ErrorCode.OWNER_DIED);
    expect(m.isPoisoned).toBe(true);
    m.clearPoison();
    await b.call('lockUnlock', { mutex: m.handle, options: 1000 });
  });

  it('another worker blocked in lock() gets OwnerDiedError when the holder calls process.exit', async () => {
    const m = new Mutex();
    const w = await holder(m);
    const waiting = rejected(b.call('lock', { mutex: m.handle, options: 5000 }));
    await until(() => m.waiterCount === 1, { what: 'the worker is blocked in lock()' });
    w.send('exit', { code: 3 });
    expectCode(await waiting, ErrorCode.OWNER_DIED);
    m.clearPoison();
    await b.call('lockUnlock', { mutex: m.handle, options: 1000 });
  });

  it('lockAsync waiting when the holder dies rejects with OwnerDiedError; runExclusive too', async () => {
    const m = new Mutex();
    const w = await holder(m);
    const waiting = rejected(m.lockAsync({ timeoutMs: 5000 }));
    const exclusive = rejected(m.runExclusive(() => 'ran', { timeoutMs: 5000 }));
    await until(() => m.waiterCount === 1, { what: 'both wait' }); // a thread's queued tasks count as one
    void w.worker.terminate();
    expectCode(await waiting, ErrorCode.OWNER_DIED);
    expectCode(await exclusive, ErrorCode.OWNER_DIED);
    expect(await m.runExclusive(() => 'ran', { ignorePoison: true })).toBe('ran');
    m.clearPoison();
    await m.lockAsync();
    m.unlock();
  });

  it('recovery latency, terminate() → OwnerDiedError in a blocked main lock() (10 trials)', async () => {
    const latencies: number[] = [];
    for (let trial = 0; trial < 10; trial++) {
      const m = new Mutex();
      const w = await holder(m);
      const t0 = performance.now();
      void w.worker.terminate();
      const e = thrown(() => m.lock(5000));
      latencies.push(performance.now() - t0);
      expectCode(e, ErrorCode.OWNER_DIED);
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    const median = (sorted[4]! + sorted[5]!) / 2;
    const max = sorted[sorted.length - 1]!;
    console.log(
      `mutex owner-death recovery (terminate → OwnerDiedError), ms: median ${median.toFixed(1)}, max ${max.toFixed(1)}, all ${latencies.map((l) => l.toFixed(1)).join(' ')}`,
    );
    expect(max).toBeLessThan(2000); // a liveness bound, not a speed claim
  });
});
