/**
 * Test fixture: a worker that runs Semaphore, Latch and Once operations when
 * asked (driven by `test/sync/sync-remote.ts`). Each request `{ id, op, arg }`
 * gets `{ id, ok: true, value }` or `{ id, ok: false, error }`.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { Semaphore, type SemaphoreHandle } from '../src/sync/semaphore.js';
import { Latch, type LatchHandle } from '../src/sync/latch.js';
import { Once, type OnceHandle } from '../src/sync/once.js';

/** Cells of `onceRun`: RUNS counts fn calls, STARTED is set (and notified) when fn starts, PARK is never written. */
export const RUNS = 0,
  STARTED = 1,
  PARK = 2;

/** What `fn` does in `onceRun`: return, throw, or block forever (until the worker is terminated). */
type OnceMode = 'ok' | 'throw' | 'hang';
function onceFn(cell: Int32Array, mode: OnceMode): () => void {
  return () => {
    Atomics.add(cell, RUNS, 1);
    Atomics.store(cell, STARTED, 1);
    Atomics.notify(cell, STARTED);
    if (mode === 'throw') throw new Error('fn failed');
    if (mode === 'hang') Atomics.wait(cell, PARK, 0);
  };
}

interface Arg {
  sem: SemaphoreHandle;
  latch: LatchHandle;
  once: OnceHandle;
  mode: OnceMode;
  n?: number;
  timeout?: number;
  times: number;
  cell: Int32Array;
  code: number;
  /** `latchWait`, `onceRun`: word 0 set to 1 (and notified) just before the wait, so a test can wait for it. */
  arrived?: Int32Array;
}

/** Tells a waiting test that this thread is about to wait (a handshake, not a guarantee that it has parked). */
function arrive(arrived: Int32Array | undefined): void {
  if (arrived === undefined) return;
  Atomics.store(arrived, 0, 1);
  Atomics.notify(arrived, 0);
}

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  // The guards stay in the worker (they hold the Semaphore object, which does not clone); release by count.
  acquire: ({ sem, n, timeout }) => void Semaphore.from(sem).acquire(n, timeout),
  acquireAsync: async ({ sem, n, timeout }) => {
    await Semaphore.from(sem).acquireAsync(n, { timeoutMs: timeout });
  },
  tryAcquire: ({ sem, n }) => Semaphore.from(sem).tryAcquire(n),
  release: ({ sem, n }) => Semaphore.from(sem).release(n),
  /** Blocks this worker until cell[0] is non-zero, then releases n: a release at the moment the caller picks. */
  releaseWhen: ({ sem, n, cell }) => {
    while (Atomics.load(cell, 0) === 0) Atomics.wait(cell, 0, 0, 1000);
    Semaphore.from(sem).release(n);
  },
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
  countDown: ({ latch, n }) => Latch.from(latch).countDown(n),
  latchCount: ({ latch }) => Latch.from(latch).count,
  latchWait: ({ latch, timeout, arrived }) => {
    const l = Latch.from(latch);
    arrive(arrived);
    l.wait(timeout);
  },
  latchWaitAsync: ({ latch, timeout }) => Latch.from(latch).waitAsync({ timeoutMs: timeout }),
  onceRun: ({ once, cell, mode, timeout, arrived }) => {
    const o = Once.from(once);
    arrive(arrived);
    return o.run(onceFn(cell, mode), timeout);
  },
  onceRunAsync: ({ once, cell, mode, timeout }) => Once.from(once).runAsync(onceFn(cell, mode), { timeoutMs: timeout }),
  /** Starts a run whose fn blocks forever, and answers once fn has started. */
  onceRunHang: ({ once, cell }) => {
    setImmediate(() => Once.from(once).run(onceFn(cell, 'hang')));
  },
  exit: ({ code }) => process.exit(code),
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-sync: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
