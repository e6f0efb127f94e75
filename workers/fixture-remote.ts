/**
 * Test fixture: a worker that runs operations on sabre primitives when asked.
 * Each request `{ id, op, arg }` gets `{ id, ok: true, value }` or
 * `{ id, ok: false, error }` (the thrown error, cloned by postMessage, so the
 * receiver sees what any thread boundary does to it).
 */
import { parentPort, threadId } from 'node:worker_threads';
import {
  AbortError,
  AlreadyVotedError,
  BulkheadFullError,
  CanceledError,
  CapacityError,
  CircuitOpenError,
  ConflictError,
  DeadlockError,
  HandleError,
  InvalidArgumentError,
  NotOwnerError,
  OwnerDiedError,
  TimeoutError,
} from '../src/errors.js';
import { SharedArena, type SharedArenaHandle } from '../src/memory/arena.js';
import { ManualClock, type ManualClockHandle } from '../src/clock.js';
import { Mutex, type LockAsyncOptions, type LockOptions, type MutexHandle } from '../src/sync/mutex.js';
import { ThreadRegistry } from '../src/threads/registry.js';

interface Arg {
  mutex: MutexHandle;
  options?: number | (LockOptions & LockAsyncOptions);
  cell: Int32Array;
  times: number;
  arena: SharedArenaHandle;
  sizes: number[];
  clock: ManualClockHandle;
  ms: number;
  id: number;
  code: number;
  words: Int32Array;
  index: number;
  value: number;
}

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  lock: ({ mutex, options }) => Mutex.from(mutex).lock(options),
  lockAsync: ({ mutex, options }) => Mutex.from(mutex).lockAsync(options),
  tryLock: ({ mutex }) => Mutex.from(mutex).tryLock(),
  unlock: ({ mutex }) => Mutex.from(mutex).unlock(),
  isLocked: ({ mutex }) => Mutex.from(mutex).isLocked,
  /** Blocks this worker until cell[0] is non-zero, then unlocks: an unlock at the moment the caller picks. */
  unlockWhen: ({ mutex, cell }) => {
    while (Atomics.load(cell, 0) === 0) Atomics.wait(cell, 0, 0, 1000);
    Mutex.from(mutex).unlock();
  },
  /** Blocks this worker until cell[0] is non-zero, waits `ms`, then stores `value` at words[index]: a write at a moment the caller picks. */
  storeWhen: ({ cell, words, index, value, ms }) => {
    while (Atomics.load(cell, 0) === 0) Atomics.wait(cell, 0, 0, 1000);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    Atomics.store(words, index, value);
  },
  /** Takes and releases the lock: proves the lock works for this thread. */
  lockUnlock: ({ mutex, options }) => {
    const m = Mutex.from(mutex);
    m.lock(options);
    m.unlock();
  },
  /** `times` read-modify-write steps on cell[0], each under the lock, made slow on purpose. */
  increments: ({ mutex, cell, times }) => {
    const m = Mutex.from(mutex);
    for (let i = 0; i < times; i++) {
      m.lock();
      const v = cell[0]!;
      for (let spin = 0; spin < 50; spin++) cell[1] = spin; // widen the race window
      cell[0] = v + 1;
      m.unlock();
    }
  },
  allocate: ({ arena, sizes }) => {
    const a = SharedArena.from(arena);
    return sizes.map((size) => a.allocate(size).byteOffset);
  },
  clockNow: ({ clock }) => ManualClock.from(clock).now(),
  clockAdvance: ({ clock, ms }) => ManualClock.from(clock).advance(ms),
  isAlive: ({ id }) => ThreadRegistry.current.isAlive(id),
  /** One of each error class, built here, to be cloned back to the caller. */
  makeErrors: () => [
    new TimeoutError('t', { timeoutMs: 5 }),
    new AbortError('a'),
    new HandleError('h'),
    new InvalidArgumentError('i'),
    new CapacityError('c'),
    new NotOwnerError('n'),
    new DeadlockError('d'),
    new OwnerDiedError('o', { ownerThreadId: 3 }),
    new ConflictError('v', { expectedVersion: 1, actualVersion: 2 }),
    new AlreadyVotedError('av'),
    new CircuitOpenError('open', { retryAfterMs: 1500 }),
    new BulkheadFullError('b'),
    new CanceledError('x'),
  ],
  exit: ({ code }) => process.exit(code),
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-remote: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
