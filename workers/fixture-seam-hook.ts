/**
 * Runs the yield-hook checks of test/memory/atomics-seam.test.ts in a thread
 * started with the hooked seam (SABRE_SEAM=hooks), and posts what it saw.
 */
import { parentPort } from 'node:worker_threads';
import { compareExchange, hooksEnabled, setYieldHook, tearCompareExchange, type AtomicOp } from '../src/memory/atomics.js';
import { Mutex } from '../src/sync/mutex.js';

export interface SeamHookReport {
  readonly hooksEnabled: boolean;
  /** Steps seen during lock(), during lock()+unlock(), and after the hook was removed. */
  readonly afterLock: number;
  readonly afterUnlock: number;
  readonly afterRemoval: number;
  readonly lockOps: AtomicOp[];
  /** Per-op counts over a failing tryLock, an unlock and an unlock of an unlocked mutex. */
  readonly slowPath: Partial<Record<AtomicOp, number>>;
  /** A hook that throws stops the step: the error reaches the caller and the mutex stays free. */
  readonly throwingHook: { readonly message: string; readonly lockedAfter: boolean };
  /**
   * A torn compare-exchange (tearCompareExchange) with a write by "another
   * thread" (the hook) at its yield point: what it found, the word after it,
   * and the word after a later compare-exchange once restored.
   */
  readonly torn: { readonly found: number; readonly after: number; readonly restored: number };
}

function tornReport(): SeamHookReport['torn'] {
  const w = new Int32Array(new SharedArrayBuffer(4));
  tearCompareExchange(w);
  setYieldHook((op, a) => {
    if (op === 'store' && a === w) Atomics.store(w, 0, 7); // the other thread's write lands between the load and the store
  });
  const found = compareExchange(w, 0, 0, 1);
  const after = w[0]!;
  tearCompareExchange(null);
  compareExchange(w, 0, 1, 2); // atomic again: the hook never sees a 'store' step inside it
  setYieldHook(null);
  return { found, after, restored: w[0]! };
}

function report(): SeamHookReport {
  const seen: AtomicOp[] = [];
  const m = new Mutex();
  setYieldHook((op) => seen.push(op));
  m.lock();
  const afterLock = seen.length;
  m.unlock();
  const afterUnlock = seen.length;
  setYieldHook(null);
  m.lock();
  m.unlock();
  const afterRemoval = seen.length;

  const slowPath: Partial<Record<AtomicOp, number>> = {};
  const held = new Mutex();
  held.lock();
  setYieldHook((op) => (slowPath[op] = (slowPath[op] ?? 0) + 1));
  const tried = held.tryLock();
  held.unlock();
  let unlockedTwice = false;
  try {
    held.unlock();
  } catch {
    unlockedTwice = true;
  }
  setYieldHook(null);
  if (tried || !unlockedTwice) throw new Error('fixture: unexpected mutex behaviour');

  const free = new Mutex();
  let message = '';
  setYieldHook(() => {
    throw new Error('stop');
  });
  try {
    free.tryLock();
  } catch (e) {
    message = (e as Error).message;
  }
  setYieldHook(null);
  return {
    hooksEnabled,
    afterLock,
    afterUnlock,
    afterRemoval,
    lockOps: seen,
    slowPath,
    throwingHook: { message, lockedAfter: free.isLocked },
    torn: tornReport(),
  };
}

parentPort!.postMessage(report());
