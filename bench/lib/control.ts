/**
 * The control block shared by `bench/` and its worker (`workers/bench/thread.ts`):
 * a start barrier, a stop flag, and one published op count per thread, each
 * word on its own 128-byte line so that the bookkeeping never shares a line
 * with what is measured (or with another thread's count).
 *
 * Protocol of one timed run:
 *   1. main posts a task to each worker, with a fresh control buffer;
 *   2. each worker sets up, then adds 1 to READY and parks on GO;
 *   3. once READY = threads, main stores GO = 1 and wakes them all;
 *   4. each worker loops until STOP ≠ 0, storing its op count in its COUNT
 *      word after every op (a plain store to its own line), which main samples
 *      every window to compute each thread's share;
 *   5. main stores STOP = 1 after the fixed duration; each worker replies with
 *      its op count.
 */
import type { MutexHandle } from '../../src/sync/mutex.js';
import type { StripedCounterHandle } from '../../src/atomic/striped-counter.js';
import type { RWLockHandle } from '../../src/sync/rwlock.js';
import type { SharedHashTableHandle } from '../../src/table/shared-hash-table.js';

export const WORDS_PER_LINE = 32; // 128 bytes of Int32
export const READY = 0,
  GO = WORDS_PER_LINE,
  STOP = 2 * WORDS_PER_LINE,
  COUNT0 = 3 * WORDS_PER_LINE;
export const MAX_THREADS = 8;
export const CONTROL_BYTES = (COUNT0 + MAX_THREADS * WORDS_PER_LINE) * 4;

/** The COUNT word of thread `slot`. */
export const countWord = (slot: number): number => COUNT0 + slot * WORDS_PER_LINE;

/**
 * How the contended Mutex spins before it parks, switched inside the worker
 * only (see `backoff-switch.ts`): the shipped `Backoff`, no spinning at all
 * (Go's NoSpin), or the same algorithm with other limits.
 */
export type BackoffMode = 'default' | 'nospin' | { readonly spinLimit: number; readonly yieldLimit: number };

/** What a worker measures; every task loops until STOP. */
export type Task =
  /** lock → increment `data[0]` (not atomically) → unlock, on a sabre Mutex. */
  | { readonly kind: 'mutex'; readonly handle: MutexHandle; readonly data: SharedArrayBuffer; readonly backoff: BackoffMode }
  /** The same loop on the Drepper futex mutex in word 0 of `lock`. */
  | { readonly kind: 'drepper'; readonly lock: SharedArrayBuffer; readonly data: SharedArrayBuffer }
  /** `await mutex.runExclusive(() => data[0]++)` in a loop. */
  | { readonly kind: 'runExclusive'; readonly handle: MutexHandle; readonly data: SharedArrayBuffer }
  /** `counter.increment()` on a StripedCounter. */
  | { readonly kind: 'striped'; readonly handle: StripedCounterHandle }
  /** `Atomics.add(cells, index, 1)`: the raw cell variants (padded, packed, shared). */
  | { readonly kind: 'add'; readonly cells: SharedArrayBuffer; readonly index: number }
  /**
   * A read-mostly loop: each op reads the 8 words of `data` (a consistency
   * check) under a read lock, and one op in `writeEvery` rewrites them under
   * the write lock; on an RWLock, or on a Mutex for both.
   */
  | {
      readonly kind: 'readMostly';
      readonly lock: { readonly rw: RWLockHandle } | { readonly mutex: MutexHandle };
      readonly data: SharedArrayBuffer;
      readonly writeEvery: number;
    }
  /**
   * SharedHashTable ops (string codec) on `keys` (its keys, `prefix` + i):
   * `get`, and one `set` in `writeEvery`.
   */
  | {
      readonly kind: 'table';
      readonly handle: SharedHashTableHandle;
      readonly prefix: string;
      readonly keys: number;
      readonly writeEvery: number;
    };

export interface TaskMessage<T = Task> {
  readonly task: T;
  readonly control: SharedArrayBuffer;
  readonly slot: number;
}

export interface TaskReply {
  readonly ops?: number;
  readonly error?: string;
}
