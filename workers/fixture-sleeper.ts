/**
 * A thread blocked in `Mutex.lock()` (role 'wait', started with the hooked
 * seam so it can count its parks), or one that holds the Mutex until it is
 * terminated (role 'hold'), for test/sync/sleepers.test.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hooksEnabled, setYieldHook } from '../src/memory/atomics.js';
import { Mutex, type MutexHandle } from '../src/sync/mutex.js';
import { isSabreError } from '../src/errors.js';

export interface SleeperReport {
  /** Parks (`Atomics.wait` calls) made while blocked in lock(). */
  readonly waits: number;
  /** 'ok', or the error code lock() threw. */
  readonly outcome: string;
  /** When lock() returned or threw, in ms since the epoch (performance.timeOrigin + now). */
  readonly at: number;
}

const { handle, role } = workerData as { handle: MutexHandle; role: 'wait' | 'hold' };
const m = Mutex.from(handle);
if (role === 'hold') {
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
