/**
 * Piscina tasks for the owner-death part of `examples/01-concurrency-control.ts`:
 *   - 'hold': lock the mutex, say so, then hang holding it (until terminated);
 *   - 'wait': block in `mutex.lock()` (the synchronous form) and report how it ended;
 *   - 'increment': the work that goes on once the poison is cleared.
 */
import { threadId } from 'node:worker_threads';
import { Mutex, isSabreError, type MutexHandle } from '../../src/index.js';

/** Int32 words of the `signals` array shared with the example. */
export const HOLDER = 0; //  threadId + 1 of the thread holding the lock (0: not yet)
export const WAITING = 1; // number of 'wait' tasks about to block in lock()
export const FOREVER = 2; // never changes: the holder sleeps on it
export const SIGNAL_WORDS = 3;

export type OwnerDeathTask =
  | { readonly role: 'hold'; readonly mutex: MutexHandle; readonly signals: Int32Array }
  | { readonly role: 'wait'; readonly mutex: MutexHandle; readonly signals: Int32Array; readonly timeoutMs: number }
  | { readonly role: 'increment'; readonly mutex: MutexHandle; readonly counter: Int32Array; readonly iterations: number };

export interface WaitOutcome {
  readonly threadId: number;
  /** The error code the wait ended with, or 'acquired'. */
  readonly outcome: string;
  /** `process.hrtime` in ms when lock() returned or threw. */
  readonly atMs: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export default function run(task: OwnerDeathTask): number | WaitOutcome {
  const mutex = Mutex.from(task.mutex);
  switch (task.role) {
    case 'hold': {
      mutex.lock();
      Atomics.store(task.signals, HOLDER, threadId + 1);
      Atomics.notify(task.signals, HOLDER);
      // Hang with the lock held, as a task stuck in a loop or a dead dependency
      // would. The example terminates this thread; nothing here unlocks.
      for (;;) Atomics.wait(task.signals, FOREVER, 0);
    }
    case 'wait': {
      Atomics.add(task.signals, WAITING, 1);
      Atomics.notify(task.signals, WAITING);
      try {
        mutex.lock({ timeoutMs: task.timeoutMs });
        mutex.unlock();
        return { threadId, outcome: 'acquired', atMs: nowMs() };
      } catch (e) {
        if (!isSabreError(e)) throw e;
        return { threadId, outcome: e.code, atMs: nowMs() };
      }
    }
    case 'increment': {
      const counter = task.counter;
      for (let i = 0; i < task.iterations; i++) {
        mutex.runExclusiveSync(() => {
          counter[0] = counter[0]! + 1;
        });
      }
      return task.iterations;
    }
    default:
      throw new TypeError(`unknown role ${JSON.stringify((task as { role?: unknown }).role)}`);
  }
}
