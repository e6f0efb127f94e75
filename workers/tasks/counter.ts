/**
 * Piscina task for `examples/01-concurrency-control.ts`: one thread's share of
 * the increments of one strategy. Every thread of a run waits at a start line
 * first, so the threads really do overlap instead of running one after another
 * while the pool warms up.
 *
 * The handles (and plain SharedArrayBuffer views) arrive in the task argument;
 * Piscina clones the handle objects, and the SharedArrayBuffers inside stay shared.
 */
import { threadId } from 'node:worker_threads';
import {
  AtomicCounter,
  Mutex,
  StripedCounter,
  VersionedCell,
  type AtomicCounterHandle,
  type MutexHandle,
  type StripedCounterHandle,
  type VersionedCellHandle,
} from '../../src/index.js';
import { startLine } from '../start-line.js';

/** Int32 words of the start line. */
export { START_WORDS } from '../start-line.js';

/** What every strategy's task carries. */
interface Base {
  /** Increments this thread performs. */
  readonly iterations: number;
  /** The start line (START_WORDS Int32 words, zeroed by the caller for each run). */
  readonly start: Int32Array;
  /** Threads taking part in this run. */
  readonly parties: number;
}

export type CounterTask =
  /** (a) a plain read then write of an Int32Array element. */
  | (Base & { readonly strategy: 'plain'; readonly counter: Int32Array })
  /** (b) read, await some "work", write back what was read plus one. */
  | (Base & { readonly strategy: 'await-unsafe'; readonly counter: Int32Array })
  /** (c) one atomic add per increment. */
  | (Base & { readonly strategy: 'atomic'; readonly counter: AtomicCounterHandle<32> })
  /** (d) the same read-await-write body as (b), inside `Mutex.runExclusive`. */
  | (Base & { readonly strategy: 'mutex'; readonly counter: Int32Array; readonly mutex: MutexHandle })
  /** (e) optimistic: read the value and its version, write back only if the version is unchanged. */
  | (Base & { readonly strategy: 'versioned'; readonly cell: VersionedCellHandle })
  /** (f) one padded stripe per thread, summed by the reader. */
  | (Base & { readonly strategy: 'striped'; readonly counter: StripedCounterHandle });

export interface CounterResult {
  readonly threadId: number;
  /** `process.hrtime` in ms (one monotonic clock for all threads) when the thread left the start line. */
  readonly startedMs: number;
  readonly finishedMs: number;
  /** Optimistic updates that lost a race and were retried. */
  readonly conflicts: number;
}

/** Stands for the I/O a request handler awaits between reading and writing. */
const processData = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export default async function run(task: CounterTask): Promise<CounterResult> {
  startLine(task.start, task.parties);
  const startedMs = nowMs();
  let conflicts = 0;
  switch (task.strategy) {
    case 'plain': {
      const counter = task.counter;
      for (let i = 0; i < task.iterations; i++) {
        const current = counter[0]!; // a plain load …
        counter[0] = current + 1; //    … and a plain store: another thread's increment in between is lost
      }
      break;
    }
    case 'await-unsafe': {
      const counter = task.counter;
      for (let i = 0; i < task.iterations; i++) {
        const current = counter[0]!;
        await processData(); // other threads write meanwhile …
        counter[0] = current + 1; // … and this overwrites their increments
      }
      break;
    }
    case 'atomic': {
      const counter = AtomicCounter.from(task.counter);
      for (let i = 0; i < task.iterations; i++) counter.increment(); // one Atomics.add: nothing in between
      break;
    }
    case 'mutex': {
      const counter = task.counter;
      const mutex = Mutex.from(task.mutex);
      for (let i = 0; i < task.iterations; i++) {
        await mutex.runExclusive(async () => {
          const current = counter[0]!;
          await processData(); // the lock is held across the await: nobody else writes
          counter[0] = current + 1;
        });
      }
      break;
    }
    case 'versioned': {
      const cell = VersionedCell.from<number>(task.cell);
      for (let i = 0; i < task.iterations; i++) {
        // update() reads { value, version }, calls write(value + 1, version), and on
        // ConflictError (another thread wrote that version first) reads again and retries.
        const { attempts } = cell.update((value) => value + 1, { retries: Infinity });
        conflicts += attempts - 1;
      }
      break;
    }
    case 'striped': {
      const counter = StripedCounter.from(task.counter);
      for (let i = 0; i < task.iterations; i++) counter.increment(); // touches only this thread's stripe
      break;
    }
    default:
      throw new TypeError(`unknown strategy ${JSON.stringify((task as { strategy?: unknown }).strategy)}`);
  }
  return { threadId, startedMs, finishedMs: nowMs(), conflicts };
}
