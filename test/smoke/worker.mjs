// Smoke-test worker: plain JavaScript, started with spawnWorker from the built
// package. It re-opens the primitives from their handles and increments under
// the lock; with `hold`, it takes the lock and exits without releasing it.
import { parentPort, workerData } from 'node:worker_threads';
import * as sabre from 'sabre';

const { mutex: mutexHandle, plain, atomic: atomicHandle, iterations, hold, start, parties } = workerData;
const mutex = sabre.Mutex.from(mutexHandle);

if (hold) {
  mutex.lock();
  parentPort.postMessage({ locked: true });
  // Return without unlocking: the thread ends holding the lock.
} else {
  // Start line: every worker begins incrementing at once, so they contend.
  Atomics.add(start, 0, 1);
  Atomics.notify(start, 0);
  for (let seen = Atomics.load(start, 0); seen < parties; seen = Atomics.load(start, 0)) Atomics.wait(start, 0, seen, 100);
  const atomic = sabre.AtomicCounter.from(atomicHandle);
  for (let i = 0; i < iterations; i++) {
    mutex.runExclusiveSync(() => {
      plain[0] = plain[0] + 1; // a plain read-modify-write: only the lock makes it safe
    });
    atomic.increment();
  }
  parentPort.postMessage({ done: iterations });
}
