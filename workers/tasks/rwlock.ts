/**
 * Piscina task for part 4 of `examples/01-concurrency-control.ts`: one
 * thread's share of a read-heavy workload on a shared price table.
 *
 * For `windowMs` the thread loops: 1 op in `writeEvery` is a write (every
 * entry set to the next generation number, all under the lock), the others
 * are reads (sum the table and check every entry holds the same generation).
 * A read that sees two generations is *torn*: it overlapped a write, which
 * the lock exists to prevent. The same loop runs under a Mutex (reads exclude
 * each other too), an RWLock (reads share the lock, writes exclude them), or
 * no lock at all (to show that the torn-read check does find tearing).
 *
 * The sync forms (`readLock` / `readUnlock`, `lock` / `unlock`) are used: the
 * loop never awaits, and a worker thread may block.
 */
import { threadId } from 'node:worker_threads';
import { Mutex, RWLock, type MutexHandle, type RWLockHandle } from '../../src/index.js';
import { startLine } from '../start-line.js';

/** Int32 words of the start line. */
export { START_WORDS } from '../start-line.js';

export type TableLock =
  | { readonly kind: 'mutex'; readonly handle: MutexHandle }
  | { readonly kind: 'rwlock'; readonly handle: RWLockHandle }
  | { readonly kind: 'none' };

export interface ReadHeavyTask {
  readonly lock: TableLock;
  /** The shared table: every entry holds the generation of the last write. */
  readonly prices: Float64Array;
  /** The start line (START_WORDS Int32 words, zeroed by the caller for each run). */
  readonly start: Int32Array;
  /** Threads taking part in this run. */
  readonly parties: number;
  /** How long the thread keeps reading and writing once past the start line. */
  readonly windowMs: number;
  /** 1 op in `writeEvery` is a write. */
  readonly writeEvery: number;
}

export interface ReadHeavyResult {
  readonly threadId: number;
  readonly reads: number;
  readonly writes: number;
  /** Reads that saw more than one generation. */
  readonly torn: number;
  /** `process.hrtime` in ms (one monotonic clock for all threads) when the thread left the start line. */
  readonly startedMs: number;
  readonly finishedMs: number;
  /** Sum of every read's total, returned so the reads cannot be optimized away. */
  readonly checksum: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
/** Ops between two looks at the clock (a clock read costs about as much as a read). */
const CLOCK_EVERY = 64;

/** A reader's critical section: sums the table; the sum is NaN if the read was torn. */
function readSection(prices: Float64Array): number {
  const generation = prices[0]!;
  let sum = 0;
  for (const price of prices) {
    if (price !== generation) return NaN;
    sum += price;
  }
  return sum;
}

/** A writer's critical section: every entry moves to the next generation together. */
function writeSection(prices: Float64Array): void {
  const next = prices[0]! + 1;
  for (let i = 0; i < prices.length; i++) prices[i] = next;
}

export default function run(task: ReadHeavyTask): ReadHeavyResult {
  const { prices, writeEvery } = task;
  const lock = task.lock;
  const rw = lock.kind === 'rwlock' ? RWLock.from(lock.handle) : null;
  const mutex = lock.kind === 'mutex' ? Mutex.from(lock.handle) : null;
  // One shape for the three variants: the Mutex takes the same lock for both.
  const [lockRead, unlockRead, lockWrite, unlockWrite] = rw
    ? [() => rw.readLock(), () => rw.readUnlock(), () => rw.writeLock(), () => rw.writeUnlock()]
    : mutex
      ? [() => mutex.lock(), () => mutex.unlock(), () => mutex.lock(), () => mutex.unlock()]
      : [() => {}, () => {}, () => {}, () => {}];

  startLine(task.start, task.parties);
  const startedMs = nowMs();
  const deadline = startedMs + task.windowMs;
  let reads = 0,
    writes = 0,
    torn = 0,
    checksum = 0;
  for (let op = 1; op % CLOCK_EVERY !== 0 || nowMs() < deadline; op++) {
    if (op % writeEvery === 0) {
      lockWrite();
      try {
        writeSection(prices);
      } finally {
        unlockWrite();
      }
      writes++;
    } else {
      let sum: number;
      lockRead();
      try {
        sum = readSection(prices);
      } finally {
        unlockRead();
      }
      if (Number.isNaN(sum)) torn++;
      else checksum += sum;
      reads++;
    }
  }
  return { threadId, reads, writes, torn, startedMs, finishedMs: nowMs(), checksum };
}
