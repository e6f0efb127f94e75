/**
 * Test fixture: a worker that runs Semaphore, Latch and Once operations when
 * asked (driven by `test/sync/sync-remote.ts`). Each request `{ id, op, arg }`
 * gets `{ id, ok: true, value }` or `{ id, ok: false, error }`.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { Semaphore, type SemaphoreHandle } from '../src/sync/semaphore.js';

type Arg = {
  sem: SemaphoreHandle;
  n?: number;
  timeout?: number;
  times: number;
  cell: Int32Array;
  code: number;
};

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  acquire: ({ sem, n, timeout }) => Semaphore.from(sem).acquire(n, timeout),
  acquireAsync: ({ sem, n, timeout }) => Semaphore.from(sem).acquireAsync(n, { timeout }),
  tryAcquire: ({ sem, n }) => Semaphore.from(sem).tryAcquire(n),
  release: ({ sem, n }) => Semaphore.from(sem).release(n),
  held: ({ sem }) => Semaphore.from(sem).heldByCurrentThread,
  /** Takes n permits and gives them back: proves the semaphore works for this thread. */
  acquireRelease: ({ sem, n, timeout }) => {
    const s = Semaphore.from(sem);
    s.acquire(n, timeout);
    s.release(n);
  },
  /**
   * `times` sections holding n permits: counts occupancy in cell[0], the
   * highest seen in cell[1] (kept with a CAS loop).
   */
  occupy: ({ sem, n = 1, times, cell }) => {
    const s = Semaphore.from(sem);
    for (let i = 0; i < times; i++) {
      s.acquire(n);
      const inside = Atomics.add(cell, 0, n) + n;
      for (let seen = Atomics.load(cell, 1); inside > seen; seen = Atomics.load(cell, 1)) {
        if (Atomics.compareExchange(cell, 1, seen, inside) === seen) break;
      }
      for (let spin = 0; spin < 50; spin++) Atomics.load(cell, 2);
      Atomics.sub(cell, 0, n);
      s.release(n);
    }
  },
  /** Takes n permits, then exits the thread (code 0) without releasing them. */
  acquireThenExit: ({ sem, n, code }) => {
    Semaphore.from(sem).acquire(n, 5000);
    process.exit(code);
  },
  exit: ({ code }) => process.exit(code),
};

parentPort!.on('message', async (request: { id: number; op: string; arg: Arg }) => {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-sync: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
});
parentPort!.postMessage({ ready: true, threadId });
