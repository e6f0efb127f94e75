/**
 * Watching workers: every worker a sabre-using thread starts is watched
 * (`process.on('worker')` sees each one, right after its construction), and
 * its real 'exit' records the death in the `ThreadRegistry`.
 *
 * The id is read when watching starts: inside 'exit' `worker.threadId` is
 * already -1. Piscina's `workerDestroy` fires before the thread has stopped,
 * so pools are watched through their real `Worker` objects, never that event.
 */
import type { Worker } from 'node:worker_threads';
import { ThreadRegistry } from './registry.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

const watched = new WeakSet<Worker>();

/** Records `worker`'s death in the registry when it exits. Idempotent; returns the worker. */
export function watchWorker<W extends Worker>(worker: W): W {
  const id = (worker as Partial<Worker> | null)?.threadId;
  if (typeof id !== 'number' || typeof (worker as Partial<Worker>).once !== 'function') {
    throw new InvalidArgumentError(`watchWorker(worker): worker must be a worker_threads Worker, got ${describeValue(worker)}`);
  }
  if (watched.has(worker)) return worker;
  if (id < 0) {
    throw new InvalidArgumentError('watchWorker(worker): the worker has already exited (its threadId is -1); watch it before it can exit');
  }
  watched.add(worker);
  worker.once('exit', () => ThreadRegistry.current.markDead(id));
  return worker;
}

/** The part of a Piscina pool that `watchPool` uses. */
export interface WatchablePool {
  readonly threads: readonly Worker[];
}

/**
 * Watches every thread of a Piscina pool, present and future (future ones
 * are seen by `process.on('worker')` in the thread that owns the pool).
 * Returns the pool.
 */
export function watchPool<P extends WatchablePool>(pool: P): P {
  for (const worker of pool.threads) if (worker.threadId >= 0) watchWorker(worker);
  return pool;
}

process.on('worker', (worker: Worker) => {
  if (worker.threadId >= 0) watchWorker(worker);
});
