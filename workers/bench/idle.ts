/**
 * Benchmark 22's threads. `hold`: takes the primitives it is given (the Mutex,
 * every permit of the Semaphore, the RWLock's write lock), says so, and keeps
 * them until it is terminated. `wait`: blocks in a synchronous `lock()` of
 * the Mutex and reports, on systemClock (process-wide, unlike performance.now), when it ended and
 * how (an owner death, normally).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { Semaphore, type SemaphoreHandle } from '../../src/sync/semaphore.js';
import { RWLock, type RWLockHandle } from '../../src/sync/rwlock.js';
import { isSabreError } from '../../src/errors.js';
import { systemClock } from '../../src/clock.js';

export interface IdleTask {
  readonly role: 'hold' | 'wait';
  readonly mutex: MutexHandle;
  readonly semaphore: SemaphoreHandle;
  readonly rwlock: RWLockHandle;
  readonly permits: number;
}

const task = workerData as IdleTask;
const mutex = Mutex.from(task.mutex);
if (task.role === 'hold') {
  mutex.lock();
  Semaphore.from(task.semaphore).acquire(task.permits);
  RWLock.from(task.rwlock).writeLock();
  parentPort!.postMessage({ held: true });
  setInterval(() => {}, 1 << 30); // idle until terminated
} else {
  parentPort!.postMessage({ waiting: true });
  let outcome: string;
  try {
    mutex.lock();
    outcome = 'ok';
    mutex.unlock();
  } catch (e) {
    outcome = isSabreError(e) ? e.code : String(e);
  }
  parentPort!.postMessage({ endedAt: systemClock.now(), outcome });
}
