/**
 * Test fixture for RWLock and Condition: a worker that runs operations on
 * request (`{ id, op, arg }` → `{ id, ok, value | error }`), and, for the
 * tests, `SyncRemote`, which starts one and calls it. The worker side runs
 * only in a thread started by `SyncRemote.start` (marked in workerData).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { add, compareExchange, load, store, sub, sleepSync, wait } from '../src/memory/atomics.js';
import { RWLock, type RWLockHandle } from '../src/sync/rwlock.js';
import { Condition, type ConditionHandle } from '../src/sync/condition.js';
import { Mutex, type MutexHandle } from '../src/sync/mutex.js';

/** Tests start this fixture with `workerData: { mark: FIXTURE_MARK }`; importing it elsewhere (for its constants) runs nothing. */
export const FIXTURE_MARK = 'sabre.fixture.rwlock-condition';
const MARK = FIXTURE_MARK;

/** Words of the `cell` the overlap and exclusion ops share: readers inside, most seen at once, writers inside, violations. */
export const INSIDE = 0,
  MAX_INSIDE = 1,
  WRITERS_INSIDE = 2,
  VIOLATIONS = 3,
  ITEMS = 4;

interface Arg {
  lock: RWLockHandle;
  cond: ConditionHandle;
  mutex: MutexHandle;
  options?: number | Record<string, unknown>;
  cell: Int32Array;
  times: number;
  ms: number;
  code: number;
  /** `reads`: readers its first section waits for (see `readSection`). */
  meet?: number;
  /** `rawWait`: word 0 set to 1 just before the wait. */
  arrived?: Int32Array;
}

/** How long a read section waits for the other readers to come in (`meet`) before it goes on alone. */
const MEET_MS = 5000;

/**
 * Inside a read section: count in, raise the maximum seen, check no writer,
 * stay `ms`, count out. With `meet` > 0 it first stays (up to MEET_MS) until
 * that many readers are inside at once: whether readers overlap then depends
 * on the lock only, not on how late the other thread got its request.
 */
function readSection(cell: Int32Array, ms: number, meet = 0): void {
  let now = add(cell, INSIDE, 1) + 1;
  if (meet > 0) {
    const deadline = Date.now() + MEET_MS;
    while (now < meet && Date.now() < deadline) {
      sleepSync(1);
      now = load(cell, INSIDE);
    }
  }
  for (let m = load(cell, MAX_INSIDE); now > m; m = load(cell, MAX_INSIDE)) if (compareExchange(cell, MAX_INSIDE, m, now) === m) break;
  if (load(cell, WRITERS_INSIDE) !== 0) add(cell, VIOLATIONS, 1);
  if (ms > 0) sleepSync(ms);
  if (load(cell, WRITERS_INSIDE) !== 0) add(cell, VIOLATIONS, 1);
  sub(cell, INSIDE, 1);
}

function writeSection(cell: Int32Array, ms: number): void {
  if (add(cell, WRITERS_INSIDE, 1) !== 0 || load(cell, INSIDE) !== 0) add(cell, VIOLATIONS, 1);
  if (ms > 0) sleepSync(ms);
  if (load(cell, INSIDE) !== 0) add(cell, VIOLATIONS, 1);
  sub(cell, WRITERS_INSIDE, 1);
}

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  readLock: ({ lock, options }) => RWLock.from(lock).readLock(options),
  readLockAsync: ({ lock, options }) => RWLock.from(lock).readLockAsync(options),
  tryReadLock: ({ lock }) => RWLock.from(lock).tryReadLock(),
  readUnlock: ({ lock }) => RWLock.from(lock).readUnlock(),
  writeLock: ({ lock, options }) => RWLock.from(lock).writeLock(options),
  writeLockAsync: ({ lock, options }) => RWLock.from(lock).writeLockAsync(options),
  tryWriteLock: ({ lock }) => RWLock.from(lock).tryWriteLock(),
  writeUnlock: ({ lock }) => RWLock.from(lock).writeUnlock(),
  readHoldCount: ({ lock }) => RWLock.from(lock).readHoldCount,
  /** Takes and releases a read lock, then the write lock: proves the lock works for this thread. */
  readWrite: ({ lock, options }) => {
    const l = RWLock.from(lock);
    l.readLock(options);
    l.readUnlock();
    l.writeLock(options);
    l.writeUnlock();
  },
  /** `times` read sections of `ms` each (sync readLock); with `meet`, the first one waits for that many readers inside. */
  reads: ({ lock, cell, times, ms, meet }) => {
    const l = RWLock.from(lock);
    for (let i = 0; i < times; i++) {
      l.readLock();
      readSection(cell, ms, i === 0 ? meet : 0);
      l.readUnlock();
    }
  },
  /** `times` write sections of `ms` each (sync writeLock). */
  writes: ({ lock, cell, times, ms }) => {
    const l = RWLock.from(lock);
    for (let i = 0; i < times; i++) {
      l.writeLock();
      writeSection(cell, ms);
      l.writeUnlock();
    }
  },
  lockMutex: ({ mutex }) => Mutex.from(mutex).lock(),
  unlockMutex: ({ mutex }) => Mutex.from(mutex).unlock(),
  /** Locks the mutex, waits once on the condition, unlocks; returns what wait returned. */
  waitOnce: ({ cond, mutex, options }) => {
    const m = Mutex.from(mutex);
    m.lock();
    try {
      return Condition.from(cond).wait(m, options);
    } finally {
      m.unlock();
    }
  },
  waitOnceAsync: async ({ cond, mutex, options }) => {
    const m = Mutex.from(mutex);
    await m.lockAsync();
    try {
      return await Condition.from(cond).waitAsync(m, options);
    } finally {
      m.unlock();
    }
  },
  /** Waits (in a loop, as one must) until cell[ITEMS] > 0, then takes one item. */
  takeItem: ({ cond, mutex, cell }) => {
    const m = Mutex.from(mutex);
    const c = Condition.from(cond);
    m.lock();
    try {
      while (cell[ITEMS] === 0) c.wait(m);
      cell[ITEMS]!--;
    } finally {
      m.unlock();
    }
  },
  /** Calls wait without locking the mutex first (a misuse when another thread holds it). */
  waitWithoutLock: ({ cond, mutex }) => Condition.from(cond).wait(Mutex.from(mutex), 10),
  /**
   * A bare futex wait on cell[0] (expecting its current value): takes a
   * wake-up and does nothing with it. With `arrived`, sets arrived[0] to 1
   * just before the wait, after reading the value it expects: a caller that
   * sees it knows the thread is parked or about to park, and that a change of
   * cell[0] from then on cannot leave it waiting on a stale value (it returns
   * 'not-equal' if it had not parked yet).
   */
  rawWait: ({ cell, ms, arrived }) => {
    const expected = load(cell, 0);
    if (arrived !== undefined) store(arrived, 0, 1);
    return wait(cell, 0, expected, ms);
  },
  notify: ({ cond, times }) => Condition.from(cond).notify(times),
  waiters: ({ cond }) => Condition.from(cond).waiters,
  exit: ({ code }) => process.exit(code),
  sleep: ({ ms }) => sleep(ms),
};

if ((workerData as { mark?: string } | undefined)?.mark === MARK) {
  async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
    try {
      const op = ops[request.op];
      if (op === undefined) throw new TypeError(`fixture-rwlock-condition: unknown op ${request.op}`);
      const value = await op(request.arg);
      parentPort!.postMessage({ id: request.id, ok: true, value });
    } catch (error) {
      parentPort!.postMessage({ id: request.id, ok: false, error });
    }
  }
  // Not awaited: answer() replies to every request, its errors included.
  parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
  parentPort!.postMessage({ ready: true });
}
