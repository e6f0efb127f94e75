// Smoke-test Piscina task: plain JavaScript from the built package. It
// re-opens its primitives with `fromTaskArgs` (sabre/piscina) and increments
// under the lock. Named .js so that `piscinaTask(import.meta.url, …)` from a
// JavaScript module finds it.
import { threadId } from 'node:worker_threads';
import { fromTaskArgs } from 'sabre/piscina';

export default function count(args) {
  const { mutex, counter, plain, iterations } = fromTaskArgs(args);
  for (let i = 0; i < iterations; i++) {
    mutex.runExclusiveSync(() => {
      plain[0] = plain[0] + 1; // a plain read-modify-write: only the lock makes it safe
    });
    counter.increment();
  }
  return { threadId, mutex: mutex.constructor.name, counter: counter.constructor.name };
}
