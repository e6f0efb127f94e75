/**
 * Runs the yield-hook checks of test/memory/atomics-seam.test.ts in a thread
 * started with the hooked seam (SABRE_SEAM=hooks), and posts what it saw.
 */
import { parentPort } from 'node:worker_threads';
import { hooksEnabled, setYieldHook, type AtomicOp } from '../src/memory/atomics.js';
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
  };
}

parentPort!.postMessage(report());
