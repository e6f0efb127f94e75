/**
 * A thread blocked in `Mutex.lock()` (role 'wait', started with the hooked
 * seam so it can count its parks), or one that holds the Mutex until it is
 * terminated (role 'hold'), or one that starts such a holder and, when told,
 * terminates it and blocks its own event loop at once, so that no 'exit'
 * event reports the holder's death (role 'parent'), for
 * test/threads/sleepers.test.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hooksEnabled, setYieldHook } from '../src/memory/atomics.js';
import { Mutex, type MutexHandle } from '../src/sync/mutex.js';
import { isSabreError } from '../src/errors.js';
import { spawnWorker } from '../src/threads/spawn.js';

export interface SleeperReport {
  /** Parks (`Atomics.wait` calls) made while blocked in lock(). */
  readonly waits: number;
  /** 'ok', or the error code lock() threw. */
  readonly outcome: string;
  /** When lock() returned or threw, in ms since the epoch (performance.timeOrigin + now). */
  readonly at: number;
}

const { handle, role } = workerData as { handle: MutexHandle; role: 'wait' | 'hold' | 'parent' };
const m = Mutex.from(handle);
if (role === 'parent') {
  const holder = spawnWorker(new URL(import.meta.url), { workerData: { handle, role: 'hold' } });
  holder.once('message', () => parentPort!.postMessage({ holder: holder.threadId }));
  parentPort!.once('message', () => {
    void holder.terminate();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000); // its 'exit' never reaches this thread's loop
  });
} else if (role === 'hold') {
  m.lock();
  parentPort!.postMessage('held');
  setInterval(() => {}, 1 << 30);
} else {
  if (!hooksEnabled) throw new Error('fixture-sleeper: start it with SABRE_SEAM=hooks');
  let waits = 0;
  setYieldHook((op) => {
    if (op === 'wait') waits++;
  });
  parentPort!.postMessage('blocking');
  let outcome = 'ok';
  try {
    m.lock();
  } catch (e) {
    outcome = isSabreError(e) ? e.code : String(e);
  }
  const at = performance.timeOrigin + performance.now();
  setYieldHook(null);
  parentPort!.postMessage({ waits, outcome, at } satisfies SleeperReport);
}
