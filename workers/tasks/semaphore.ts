/**
 * Part 3 of examples/01-concurrency-control.ts: a job that holds a scarce
 * resource for `workMs` (say, one of a few database connections), counted in
 * shared words so the example can see how many threads held it at once.
 */
import { Semaphore, type SemaphoreHandle } from '../../src/index.js';

export const INSIDE = 0,
  MAX_INSIDE = 1,
  WORDS = 2;

export interface SemaphoreTask {
  /** The shared Semaphore, or null to run the jobs with no limit at all. */
  readonly semaphore: SemaphoreHandle | null;
  /** [INSIDE, MAX_INSIDE] */
  readonly words: Int32Array;
  readonly jobs: number;
  readonly workMs: number;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

export default function job({ semaphore, words, jobs, workMs }: SemaphoreTask): number {
  const sem = semaphore === null ? null : Semaphore.from(semaphore);
  for (let j = 0; j < jobs; j++) {
    sem?.acquire();
    try {
      const inside = Atomics.add(words, INSIDE, 1) + 1;
      for (let max = Atomics.load(words, MAX_INSIDE); inside > max; max = Atomics.load(words, MAX_INSIDE)) {
        if (Atomics.compareExchange(words, MAX_INSIDE, max, inside) === max) break;
      }
      Atomics.wait(pause, 0, 0, workMs); // the work: this thread holds the resource meanwhile
      Atomics.sub(words, INSIDE, 1);
    } finally {
      sem?.release();
    }
  }
  return jobs;
}
