/**
 * sabre's Mutex and Semaphore as async-mutex users know them.
 *
 * An adapter gives sabre's primitives async-mutex 0.5's MutexInterface and
 * SemaphoreInterface (acquire → acquireAsync with a releaser, runExclusive,
 * waitForUnlock, isLocked, release, cancel, priority), and the behaviours of
 * async-mutex's own mutex and semaphore suites are stated again below, in
 * this project's words, and run against both async-mutex itself (so that
 * each statement is known to be async-mutex's) and sabre through the adapter.
 * Everything here happens in one thread, where sabre's waits never depend on
 * real time, so vitest's fake timers drive them (only setTimeout is faked:
 * sabre's keep-alive interval and the tests' setImmediate stay real).
 *
 * Where sabre deliberately differs, the async-mutex statement is not run
 * against sabre; the last block states sabre's behaviour instead:
 * - `release()` of an unlocked Mutex does nothing in async-mutex; sabre's
 *   `unlock()` throws NotOwnerError (it is a bug sabre reports). Likewise a
 *   Semaphore release by a thread that holds no permits (async-mutex would
 *   raise the value above its start) throws NotOwnerError, and releasing more
 *   than held throws InvalidArgumentError.
 * - A sabre Semaphore has a fixed, positive number of permits: no
 *   `setValue`, no negative or zero start, and asking for more than that
 *   number is an InvalidArgumentError (async-mutex waits, for a `setValue`).
 *   async-mutex statements that ask for more than the semaphore's value are
 *   stated again with one permit held instead, which means the same to both.
 * - There is no semaphore "value" passed to `acquire`'s result or to
 *   `runExclusive`'s callback: the adapter reports `available` just before
 *   an acquisition that succeeds at once, or at the grant for a queued one.
 *   `isLocked()` is `available <= 0`, `getValue()` is `available`.
 * - A negative weight is refused by both, but sabre's async methods reject
 *   (acquireAsync, waitForUnlock) where async-mutex throws synchronously;
 *   `release(-1)` throws synchronously in both.
 * - A custom cancel error is a constructor argument in async-mutex; sabre
 *   always rejects with CanceledError (code ERR_CANCELED), and the adapter
 *   maps it to the custom error.
 * - sabre has synchronous acquisitions too: an async acquisition by the
 *   thread that holds the Mutex through `lock()`/`tryLock()` is a
 *   DeadlockError (behind an async hold it queues, as in async-mutex).
 * - Priority orders the queued tasks of one thread; across threads sabre
 *   serves threads by its fairness policy (async-mutex has one thread).
 * - async-mutex's `withTimeout` and `tryAcquire` decorators are not adapted:
 *   sabre has `{ timeout }` options and `tryLock`/`tryAcquire`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { E_CANCELED, Mutex as AsyncMutex, Semaphore as AsyncSemaphore } from 'async-mutex';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { Mutex } from '../../src/sync/mutex.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';

type Releaser = () => void;

/** async-mutex 0.5's MutexInterface. */
interface MutexLike {
  acquire(priority?: number): Promise<Releaser>;
  runExclusive<T>(callback: () => T | Promise<T>, priority?: number): Promise<T>;
  waitForUnlock(priority?: number): Promise<void>;
  isLocked(): boolean;
  release(): void;
  cancel(): void;
}

/** async-mutex 0.5's SemaphoreInterface, without setValue. */
interface SemaphoreLike {
  acquire(weight?: number, priority?: number): Promise<[number, Releaser]>;
  runExclusive<T>(callback: (value: number) => T | Promise<T>, weight?: number, priority?: number): Promise<T>;
  waitForUnlock(weight?: number, priority?: number): Promise<void>;
  isLocked(): boolean;
  getValue(): number;
  release(weight?: number): void;
  cancel(): void;
}

/** Maps sabre's CanceledError to a custom cancel error, as async-mutex's constructor argument does. */
function withCancelError<T>(p: Promise<T>, cancelError: Error | undefined): Promise<T> {
  if (cancelError === undefined) return p;
  return p.catch((e: unknown) => {
    throw isSabreError(e, ErrorCode.CANCELED) ? cancelError : e;
  });
}

/** A sabre Mutex behind async-mutex's interface. */
function sabreMutex(cancelError?: Error): MutexLike {
  const m = new Mutex();
  return {
    acquire: (priority = 0) =>
      withCancelError(
        m.acquireAsync({ priority }).then((guard) => () => guard.release()),
        cancelError,
      ),
    runExclusive: (callback, priority = 0) => withCancelError(m.runExclusive(callback, { priority }), cancelError),
    waitForUnlock: (priority = 0) => m.waitForUnlock({ priority }),
    isLocked: () => m.isLocked,
    release: () => m.unlock(),
    cancel: () => m.cancel(),
  };
}

/** A sabre Semaphore behind async-mutex's interface. */
function sabreSemaphore(permits: number, cancelError?: Error): SemaphoreLike {
  const s = new Semaphore(permits);
  return {
    acquire: (weight = 1, priority = 0) => {
      const before = s.available;
      const granted = s.acquireAsync(weight, { priority }); // an immediate acquisition happens inside this call
      const immediate = s.available === before - weight;
      return withCancelError(
        granted.then((guard): [number, Releaser] => [immediate ? before : s.available + weight, () => guard.release()]),
        cancelError,
      );
    },
    runExclusive: (callback, weight = 1, priority = 0) => {
      const before = s.available;
      let immediate = false;
      const result = s.runExclusive(() => callback(immediate ? before : s.available + weight), weight, { priority }); // callback runs later
      immediate = s.available === before - weight;
      return withCancelError(result, cancelError);
    },
    waitForUnlock: (weight = 1, priority = 0) => s.waitForUnlock(weight, { priority }),
    isLocked: () => s.available <= 0,
    getValue: () => s.available,
    release: (weight = 1) => s.release(weight),
    cancel: () => s.cancel(),
  };
}

interface Implementation {
  readonly name: string;
  mutex(cancelError?: Error): MutexLike;
  semaphore(value: number, cancelError?: Error): SemaphoreLike;
  /** The error a cancelled acquisition rejects with, without a custom one. */
  isCanceled(e: unknown): boolean;
}

const implementations: Implementation[] = [
  {
    name: 'async-mutex',
    mutex: (cancelError) => new AsyncMutex(cancelError),
    semaphore: (value, cancelError) => new AsyncSemaphore(value, cancelError),
    isCanceled: (e) => e === E_CANCELED,
  },
  {
    name: 'sabre',
    mutex: sabreMutex,
    semaphore: sabreSemaphore,
    isCanceled: (e) => isSabreError(e, ErrorCode.CANCELED),
  },
];

/** Lets every queued microtask (and promise chain) run: a real turn of the event loop. */
const settle = () => new Promise<void>((r) => setImmediate(r));
/** async-mutex's `clock.tickAsync(ms)`. */
async function tick(ms: number): Promise<void> {
  await settle();
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}
/** async-mutex's `clock.runAllAsync()`. */
async function runAll(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await settle();
    if (vi.getTimerCount() === 0) return;
    await vi.runAllTimersAsync();
  }
  await settle();
}
/** async-mutex's `withTimer(clock, test)`: runs the test while the clock runs out. */
async function withTimer(test: () => Promise<void>): Promise<void> {
  const result = test();
  await runAll();
  return result;
}
const quiet = (p: Promise<unknown>): void => void p.catch(() => {});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe.each(implementations)('async-mutex mutex behaviours: $name', (impl) => {
  let mutex: MutexLike;
  beforeEach(() => {
    mutex = impl.mutex();
  });

  it('ownership is exclusive: a second acquire waits for the first release', () =>
    withTimer(async () => {
      let flag = false;
      const release = await mutex.acquire();
      setTimeout(() => {
        flag = true;
        release();
      }, 50);
      expect(flag).toBe(false);
      (await mutex.acquire())();
      expect(flag).toBe(true);
    }));

  it('acquire serves the highest priority first', async () => {
    const values: number[] = [];
    for (const priority of [0, -1, 1]) {
      void mutex.acquire(priority).then((release) => {
        values.push(priority);
        setTimeout(release, 100);
      });
    }
    await runAll();
    expect(values).toEqual([0, 1, -1]);
  });

  it('runExclusive passes on an immediate result', async () => {
    expect(await mutex.runExclusive(() => 10)).toBe(10);
  });

  it('runExclusive passes on a promised result', async () => {
    expect(await mutex.runExclusive(() => Promise.resolve(10))).toBe(10);
  });

  it('runExclusive passes on a rejection', async () => {
    await expect(mutex.runExclusive(() => Promise.reject(new Error('foo')))).rejects.toThrow('foo');
  });

  it('runExclusive passes on an exception', async () => {
    await expect(
      mutex.runExclusive(() => {
        throw new Error('foo');
      }),
    ).rejects.toThrow('foo');
  });

  it('runExclusive is exclusive', () =>
    withTimer(async () => {
      let flag = false;
      void mutex.runExclusive(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              flag = true;
              resolve();
            }, 50),
          ),
      );
      expect(flag).toBe(false);
      await mutex.runExclusive(() => undefined);
      expect(flag).toBe(true);
    }));

  it('runExclusive serves the highest priority first', async () => {
    const values: number[] = [];
    for (const priority of [0, -1, 1]) void mutex.runExclusive(() => void values.push(priority), priority);
    await runAll();
    expect(values).toEqual([0, 1, -1]);
  });

  it('an exception in runExclusive does not leave the mutex locked (and the callback runs later, not inside the call)', async () => {
    let flag = false;
    quiet(
      mutex.runExclusive(() => {
        flag = true;
        throw new Error();
      }),
    );
    expect(flag).toBe(false);
    await mutex.runExclusive(() => undefined);
    expect(flag).toBe(true);
  });

  it('a new mutex is unlocked', () => {
    expect(mutex.isLocked()).toBe(false);
  });

  it('isLocked stays true while the lock passes to a queued acquire', async () => {
    const lock1 = mutex.acquire();
    const lock2 = mutex.acquire();
    expect(mutex.isLocked()).toBe(true);
    const release1 = await lock1;
    expect(mutex.isLocked()).toBe(true);
    release1();
    expect(mutex.isLocked()).toBe(true);
    const release2 = await lock2;
    expect(mutex.isLocked()).toBe(true);
    release2();
    expect(mutex.isLocked()).toBe(false);
  });

  it('release() releases a locked mutex', async () => {
    await mutex.acquire();
    expect(mutex.isLocked()).toBe(true);
    mutex.release();
    expect(mutex.isLocked()).toBe(false);
  });

  it('release() after each acquire, by several tasks', async () => {
    let v = 0;
    const run = async () => {
      await mutex.acquire();
      v++;
      mutex.release();
    };
    await Promise.all([run(), run(), run()]);
    expect(v).toBe(3);
  });

  it('cancel rejects every pending acquire and runExclusive with the cancel error', async () => {
    await mutex.acquire();
    const ticket = rejected(mutex.acquire());
    const result = rejected(mutex.runExclusive(() => undefined));
    mutex.cancel();
    expect(impl.isCanceled(await ticket)).toBe(true);
    expect(impl.isCanceled(await result)).toBe(true);
  });

  it('cancel rejects with a custom error when one is given', async () => {
    const custom = new Error('custom');
    const m = impl.mutex(custom);
    await m.acquire();
    const ticket = rejected(m.acquire());
    m.cancel();
    expect(await ticket).toBe(custom);
  });

  it('a cancelled waiter does not take the lock later', async () => {
    const release = await mutex.acquire();
    quiet(mutex.acquire());
    mutex.cancel();
    expect(mutex.isLocked()).toBe(true);
    release();
    expect(mutex.isLocked()).toBe(false);
  });

  it('waitForUnlock does not wait while nothing holds the mutex', async () => {
    let calls = 0;
    const watch = async () => {
      await mutex.waitForUnlock();
      calls++;
    };
    void watch();
    void watch();
    await tick(1);
    expect(calls).toBe(2);
  });

  it('waitForUnlock waits while the mutex is held', async () => {
    let calls = 0;
    const watch = async () => {
      await mutex.waitForUnlock();
      calls++;
    };
    void mutex.acquire();
    void watch();
    void watch();
    await tick(0);
    expect(calls).toBe(0);
  });

  it('waitForUnlock resolves after the release', async () => {
    let calls = 0;
    const watch = async () => {
      await mutex.waitForUnlock();
      calls++;
    };
    const release = await mutex.acquire();
    void watch();
    void watch();
    await tick(0);
    expect(calls).toBe(0);
    release();
    await tick(0);
    expect(calls).toBe(2);
  });

  it('waitForUnlock waits until the mutex could really be taken, not for the next release', async () => {
    void mutex.acquire();
    void mutex.acquire();
    let flag = false;
    void mutex.waitForUnlock().then(() => (flag = true));
    mutex.release();
    await tick(0);
    expect(flag).toBe(false);
    mutex.release();
    await tick(0);
    expect(flag).toBe(true);
  });

  it('waitForUnlock of a higher priority than the queued acquires resolves first', async () => {
    void mutex.acquire(0);
    void mutex.acquire(0);
    let flag = false;
    void mutex.waitForUnlock(1).then(() => (flag = true));
    mutex.release();
    await tick(0);
    expect(flag).toBe(true);
  });

  it('waitForUnlock of a lower priority than the queued acquires waits for them', async () => {
    void mutex.acquire(0);
    void mutex.acquire(0);
    let flag = false;
    void mutex.waitForUnlock(-1).then(() => (flag = true));
    mutex.release();
    await tick(0);
    expect(flag).toBe(false);
  });
});

describe.each(implementations)('async-mutex semaphore behaviours: $name', (impl) => {
  let semaphore: SemaphoreLike;
  beforeEach(() => {
    semaphore = impl.semaphore(2);
  });

  it('acquire does not wait while permits remain', async () => {
    const values: number[] = [];
    void semaphore.acquire().then(([value]) => values.push(value));
    void semaphore.acquire().then(([value]) => values.push(value));
    await tick(0);
    expect(values.sort()).toEqual([1, 2]);
  });

  it('a weighted acquire takes everything, and the next waits until it is released', async () => {
    const values: number[] = [];
    void semaphore.acquire(2).then(([value, release]) => {
      values.push(value);
      setTimeout(release, 100);
    });
    void semaphore.acquire(1).then(([value]) => values.push(value));
    await tick(0);
    expect(values.sort()).toEqual([2]);
    await runAll();
    expect(values.sort()).toEqual([2, 2]);
  });

  it('acquire serves the highest priority first', async () => {
    const values: number[] = [];
    for (const priority of [0, -1, 1]) {
      void semaphore.acquire(2, priority).then(([, release]) => {
        values.push(priority);
        setTimeout(release, 100);
      });
    }
    await runAll();
    expect(values).toEqual([0, 1, -1]);
  });

  it('a light task of higher priority passes a heavy one that cannot go yet (stated with one permit held)', async () => {
    semaphore = impl.semaphore(3);
    await semaphore.acquire(1);
    let executed = false;
    void semaphore.acquire(3, 0);
    void semaphore.acquire(1, 1).then(([, release]) => {
      executed = true;
      setTimeout(release, 100);
    });
    await runAll();
    expect(executed).toBe(true);
  });

  it('a heavier task of higher priority goes before a light one of lower priority', async () => {
    const values: number[] = [];
    const take = (weight: number, priority: number) =>
      void semaphore.acquire(weight, priority).then(([, release]) => {
        values.push(priority);
        setTimeout(release, 100);
      });
    take(1, 0);
    take(1, 0);
    take(1, -1);
    take(2, 1);
    await runAll();
    expect(values).toEqual([0, 0, 1, -1]);
  });

  it('acquire waits once nothing is left, until a release', async () => {
    const values: number[] = [];
    void semaphore.acquire().then(([value]) => values.push(value));
    void semaphore.acquire().then(([value, release]) => {
      values.push(value);
      setTimeout(release, 100);
    });
    void semaphore.acquire().then(([value]) => values.push(value));
    await tick(0);
    expect(values.sort()).toEqual([1, 2]);
    await runAll();
    expect(values.sort()).toEqual([1, 1, 2]);
  });

  it('the value comes back after the releases', async () => {
    void semaphore.acquire().then(([, release]) => setTimeout(release, 100));
    void semaphore.acquire().then(([, release]) => setTimeout(release, 200));
    await tick(250);
    const [value] = await semaphore.acquire();
    expect(value).toBe(2);
  });

  it('a releaser releases once, however often it is called', async () => {
    const values: number[] = [];
    void semaphore.acquire().then(([value, release]) => {
      values.push(value);
      setTimeout(() => {
        release();
        release();
      }, 50);
    });
    void semaphore.acquire().then(([value, release]) => {
      values.push(value);
      setTimeout(release, 100);
    });
    await tick(10);
    void semaphore.acquire().then(([value]) => values.push(value));
    void semaphore.acquire().then(([value]) => values.push(value));
    await tick(10);
    expect(values.sort()).toEqual([1, 2]);
    await tick(40);
    expect(values.sort()).toEqual([1, 1, 2]);
    await tick(50);
    expect(values.sort()).toEqual([1, 1, 1, 2]);
  });

  it('a releaser gives back its weight', async () => {
    await semaphore.acquire(2);
    expect(semaphore.getValue()).toBe(0);
    semaphore.release(2);
    expect(semaphore.getValue()).toBe(2);
    await semaphore.acquire();
    expect(semaphore.getValue()).toBe(1);
    semaphore.release();
    expect(semaphore.getValue()).toBe(2);
  });

  it('runExclusive passes the value to its callback', async () => {
    let value = -1;
    void semaphore.runExclusive((v) => (value = v));
    await tick(0);
    expect(value).toBe(2);
  });

  it('runExclusive passes on an immediate result', async () => {
    expect(await semaphore.runExclusive(() => 10)).toBe(10);
  });

  it('runExclusive passes on a promised result', async () => {
    expect(await semaphore.runExclusive(() => Promise.resolve(10))).toBe(10);
  });

  it('runExclusive passes on a rejection', async () => {
    await expect(semaphore.runExclusive(() => Promise.reject(new Error('foo')))).rejects.toThrow('foo');
  });

  it('runExclusive passes on an exception', async () => {
    await expect(
      semaphore.runExclusive(() => {
        throw new Error('foo');
      }),
    ).rejects.toThrow('foo');
  });

  it('runExclusive is exclusive', () =>
    withTimer(async () => {
      let flag = false;
      void semaphore.acquire();
      void semaphore.runExclusive(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              flag = true;
              resolve();
            }, 50),
          ),
      );
      expect(flag).toBe(false);
      await semaphore.runExclusive(() => undefined);
      expect(flag).toBe(true);
    }));

  it('an exception in runExclusive does not leave the semaphore locked', async () => {
    let flag = false;
    void semaphore.acquire();
    quiet(
      semaphore.runExclusive(() => {
        flag = true;
        throw new Error();
      }),
    );
    expect(flag).toBe(false);
    await semaphore.runExclusive(() => undefined);
    expect(flag).toBe(true);
  });

  it('runExclusive takes its weight at once and gives it back', async () => {
    void semaphore.runExclusive(() => undefined, 2);
    expect(semaphore.getValue()).toBe(0);
    await runAll();
    expect(semaphore.getValue()).toBe(2);
  });

  it('runExclusive serves the highest priority first', async () => {
    const values: number[] = [];
    for (const priority of [0, -1, 1]) void semaphore.runExclusive(() => void values.push(priority), 2, priority);
    await runAll();
    expect(values).toEqual([0, 1, -1]);
  });

  it('a new semaphore is unlocked', () => {
    expect(semaphore.isLocked()).toBe(false);
  });

  it('isLocked stays true while permits pass to a queued acquire', async () => {
    const lock1 = semaphore.acquire();
    const lock2 = semaphore.acquire();
    void semaphore.acquire();
    expect(semaphore.isLocked()).toBe(true);
    const [, release1] = await lock1;
    expect(semaphore.isLocked()).toBe(true);
    release1();
    expect(semaphore.isLocked()).toBe(true);
    const [, release2] = await lock2;
    expect(semaphore.isLocked()).toBe(true);
    release2();
    expect(semaphore.isLocked()).toBe(false);
  });

  it('getValue tells the value', () => {
    expect(semaphore.getValue()).toBe(2);
    void semaphore.acquire();
    expect(semaphore.getValue()).toBe(1);
  });

  it('release() releases a locked semaphore', async () => {
    semaphore = impl.semaphore(1);
    await semaphore.acquire();
    expect(semaphore.isLocked()).toBe(true);
    semaphore.release();
    expect(semaphore.isLocked()).toBe(false);
  });

  it('cancel rejects every pending acquire and runExclusive with the cancel error', async () => {
    await semaphore.acquire();
    await semaphore.acquire();
    const ticket = rejected(semaphore.acquire());
    const result = rejected(semaphore.runExclusive(() => undefined));
    semaphore.cancel();
    expect(impl.isCanceled(await ticket)).toBe(true);
    expect(impl.isCanceled(await result)).toBe(true);
  });

  it('cancel rejects with a custom error when one is given', async () => {
    const custom = new Error('custom');
    const s = impl.semaphore(2, custom);
    await s.acquire();
    await s.acquire();
    const ticket = rejected(s.acquire());
    s.cancel();
    expect(await ticket).toBe(custom);
  });

  it('a cancelled waiter does not take the permits later', async () => {
    const [, release] = await semaphore.acquire(2);
    quiet(semaphore.acquire());
    semaphore.cancel();
    expect(semaphore.isLocked()).toBe(true);
    release();
    expect(semaphore.isLocked()).toBe(false);
  });

  it('cancel of a heavy waiter that cannot go yet (stated with one permit held)', async () => {
    semaphore = impl.semaphore(3);
    await semaphore.acquire(1);
    const ticket = rejected(semaphore.acquire(3));
    semaphore.cancel();
    expect(impl.isCanceled(await ticket)).toBe(true);
  });

  it('waitForUnlock does not wait while permits remain', async () => {
    let calls = 0;
    const watch = async () => {
      await semaphore.waitForUnlock();
      calls++;
    };
    void watch();
    void watch();
    await tick(1);
    expect(calls).toBe(2);
  });

  it('waitForUnlock waits once nothing is left', async () => {
    let calls = 0;
    const watch = async () => {
      await semaphore.waitForUnlock();
      calls++;
    };
    void semaphore.acquire();
    void semaphore.acquire();
    void watch();
    void watch();
    await tick(0);
    expect(calls).toBe(0);
  });

  it('waitForUnlock resolves after a release', async () => {
    let calls = 0;
    const watch = async () => {
      await semaphore.waitForUnlock();
      calls++;
    };
    const lock = semaphore.acquire();
    void semaphore.acquire();
    void watch();
    void watch();
    await tick(0);
    expect(calls).toBe(0);
    const [, release] = await lock;
    release();
    await tick(0);
    expect(calls).toBe(2);
  });

  it('waitForUnlock waits for its weight', async () => {
    await semaphore.acquire(2);
    let flag1 = false;
    let flag2 = false;
    void semaphore.waitForUnlock(1).then(() => (flag1 = true));
    void semaphore.waitForUnlock(2).then(() => (flag2 = true));
    semaphore.release(1);
    await tick(0);
    expect([flag1, flag2]).toEqual([true, false]);
    semaphore.release(1);
    await tick(0);
    expect([flag1, flag2]).toEqual([true, true]);
  });

  it('only the watchers that outrank a waiting heavy task resolve (stated with one permit held)', async () => {
    semaphore = impl.semaphore(3);
    await semaphore.acquire(1);
    const calledBack: number[] = [];
    void semaphore.acquire(3, 1);
    for (const priority of [2, 1, 0]) void semaphore.waitForUnlock(1, priority).then(() => void calledBack.push(priority));
    await runAll();
    expect(calledBack).toEqual([2]);
  });

  it('watchers of lower priority resolve as the queue drains', async () => {
    let calledBack = false;
    let release: Releaser | undefined;
    void semaphore.acquire(2, 2).then(([, r]) => (release = r));
    void semaphore.acquire(2, 0).then(([, r]) => void setTimeout(r, 100));
    void semaphore.waitForUnlock(2, 1).then(() => (calledBack = true));
    await tick(0);
    expect(calledBack).toBe(false);
    release!();
    await tick(0);
    expect(calledBack).toBe(true);
    await runAll();
  });

  it('waitForUnlock resolves at once when nothing is queued', async () => {
    let calledBack = false;
    void semaphore.waitForUnlock(1).then(() => (calledBack = true));
    await tick(0);
    expect(calledBack).toBe(true);
  });

  it('waitForUnlock waits until the permits could really be taken, not for the next release', async () => {
    void semaphore.acquire(2);
    void semaphore.acquire(2);
    let flag = false;
    void semaphore.waitForUnlock().then(() => (flag = true));
    semaphore.release(2);
    await tick(0);
    expect(flag).toBe(false);
    semaphore.release(2);
    await tick(0);
    expect(flag).toBe(true);
  });

  it('release with a negative weight throws', () => {
    expect(thrown(() => semaphore.release(-1))).toBeInstanceOf(Error);
  });
});

describe('sabre, where it differs from async-mutex on purpose', () => {
  it('unlock() of an unlocked Mutex throws NotOwnerError (async-mutex: release() does nothing)', () => {
    expectCode(() => new Mutex().unlock(), ErrorCode.NOT_OWNER);
    expect(() => new AsyncMutex().release()).not.toThrow();
  });

  it('a Semaphore release beyond what this thread holds throws (async-mutex raises the value)', () => {
    const s = new Semaphore(2);
    expectCode(() => s.release(), ErrorCode.NOT_OWNER);
    s.acquire(1);
    expectCode(() => s.release(2), ErrorCode.INVALID_ARG);
    s.release(1);
    expect(s.available).toBe(2);
    const am = new AsyncSemaphore(2);
    am.release();
    expect(am.getValue()).toBe(3);
  });

  it('a Semaphore has a fixed, positive number of permits: no setValue, and asking for more is an error', async () => {
    expectCode(() => new Semaphore(0), ErrorCode.INVALID_ARG);
    expectCode(() => new Semaphore(-2), ErrorCode.INVALID_ARG);
    const s = new Semaphore(2);
    expect((s as unknown as { setValue?: unknown }).setValue).toBeUndefined();
    expectCode(await rejected(s.acquireAsync(3)), ErrorCode.INVALID_ARG);
    expectCode(await rejected(s.waitForUnlock(3)), ErrorCode.INVALID_ARG);
  });

  it('a negative weight rejects (acquireAsync, waitForUnlock) where async-mutex throws synchronously', async () => {
    const s = new Semaphore(2);
    let p: Promise<unknown> | undefined;
    expect(() => (p = s.acquireAsync(-1))).not.toThrow();
    expectCode(await rejected(p!), ErrorCode.INVALID_ARG);
    expect(() => (p = s.waitForUnlock(-1))).not.toThrow();
    expectCode(await rejected(p!), ErrorCode.INVALID_ARG);
    expect(() => new AsyncSemaphore(2).acquire(-1)).toThrow();
  });

  it('cancel always rejects with CanceledError (ERR_CANCELED), which survives structured cloning', async () => {
    const m = new Mutex();
    await m.lockAsync();
    const ticket = rejected(m.lockAsync());
    m.cancel();
    const e = await ticket;
    expectCode(e, ErrorCode.CANCELED);
    expect(isSabreError(structuredClone(e), ErrorCode.CANCELED)).toBe(true);
    m.unlock();
  });

  it('an async acquisition by the thread that holds the Mutex through lock() is a DeadlockError', async () => {
    const m = new Mutex();
    m.lock();
    expectCode(await rejected(m.acquireAsync()), ErrorCode.DEADLOCK);
    expectCode(await rejected(m.runExclusive(() => 1)), ErrorCode.DEADLOCK);
    m.unlock();
  });
});
