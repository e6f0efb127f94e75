/**
 * Bulkhead: at most `maxConcurrent` calls at once across every thread, a
 * bounded queue behind them, and a fast refusal beyond.
 */
import { padToCacheLine } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { AbortError, BulkheadFullError, InvalidArgumentError } from '../errors.js';
import { DEFAULT_SEMAPHORE_THREADS, MAX_PERMITS, Semaphore } from '../sync/semaphore.js';
import { describeValue, timeoutMs as checkTimeout, isThenable } from '../validate.js';
import { integer, signal, timeout } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { runHolding } from '../sync/holding.js';
import { bulkheadRejected } from '../observe/channels.js';

/*
 * Implementation notes
 *
 * Two Semaphores (regions placed in this one: Semaphore.part), each returning the
 * permits of a thread that died holding them:
 *   ADMIT  maxConcurrent + maxQueue permits: one per call running or queued
 *   RUN    maxConcurrent permits: one per call running
 * A call takes an ADMIT permit without waiting (none free: BulkheadFullError,
 * after ADMIT has reclaimed any dead thread's permits), then a RUN permit,
 * waiting for it (the queue: the semaphore's fair waiters), runs, and
 * releases RUN, then ADMIT. So running ≤ maxConcurrent (RUN's bound) and
 * running + queued ≤ maxConcurrent + maxQueue (ADMIT's), hence queued ≤
 * maxQueue, across all threads. The linearization points are the
 * semaphores': a call is admitted at its ADMIT acquisition, starts at its RUN
 * acquisition, and leaves at its RUN release.
 *
 * Owner death: a thread that dies while queued or running holds an ADMIT
 * permit (and a RUN permit if running); the semaphores give them back when
 * the next thread lacks permits (a refused newcomer, or a waiter's liveness
 * slice), so a dead thread's slots are not lost. Between RUN's release and
 * ADMIT's, a dead thread holds only its ADMIT permit: returned the same way.
 *
 * Source: the bulkhead of M. Nygard's "Release It!"; Resilience4j's
 * SemaphoreBulkhead (maxConcurrentCalls, a bounded wait) and cockatiel's
 * BulkheadPolicy (limit, queue).
 */

export interface BulkheadOptions {
  /** Calls that may run at once across all threads. */
  readonly maxConcurrent: number;
  /** Calls that may wait for a slot across all threads (default 0: refuse at once when full). */
  readonly maxQueue?: number;
  /** How many threads may hold slots at the same time (default 64). */
  readonly maxThreads?: number;
  readonly arena?: SharedArena;
}
export interface BulkheadExecuteOptions {
  /** Longest wait in the queue, in ms (default: forever); then TimeoutError. */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
  /** Leaves the queue with AbortError. */
  readonly signal?: AbortSignal;
}

/**
 * A snapshot (separate reads). Slots of a thread that died count as running
 * until a call that needs them takes them back.
 */
export interface BulkheadStats {
  /** Calls running now. */
  readonly running: number;
  /** Calls waiting for a slot. */
  readonly queued: number;
  /** Slots free now. */
  readonly available: number;
}

const semaphoreBytes = (maxThreads: number): number => padToCacheLine(Semaphore.byteLength({ maxThreads }));
const RUN_AT = 0;

const DEF = definePrimitive(
  'Bulkhead',
  1,
  {
    maxConcurrent: integer({ max: MAX_PERMITS }),
    maxQueue: integer({ min: 0, max: MAX_PERMITS, default: 0 }),
    maxThreads: integer({ max: 4096, default: DEFAULT_SEMAPHORE_THREADS }),
  },
  {
    check: (o) => {
      if (o.maxConcurrent + o.maxQueue > MAX_PERMITS) {
        throw new InvalidArgumentError(`maxConcurrent + maxQueue must be at most ${MAX_PERMITS}, got ${o.maxConcurrent} + ${o.maxQueue}`);
      }
    },
    bodyBytes: (o) => 2 * semaphoreBytes(o.maxThreads),
  },
);
export type BulkheadHandle = HandleOf<typeof DEF>;

const EXECUTE_OPTIONS = defineOptions(
  'bulkhead.execute(fn, options)',
  { timeoutMs: timeout(), signal: signal() },
  {
    renamed: { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } },
  },
);

/**
 * A bulkhead shared by every thread: at most `maxConcurrent` calls run at
 * once, across all threads together; up to `maxQueue` more wait for a slot
 * (fairly: the oldest waiter is served first); any call beyond is refused at
 * once with BulkheadFullError. Slots held by a thread that dies are given
 * back. `execute` never blocks the event loop; `executeSync` blocks its
 * thread while queued (for CPU-bound workers).
 *
 * Memory synchronization: a call's end happens-before the start of the call
 * that takes its slot.
 *
 * @throws BulkheadFullError (`ERR_BULKHEAD_FULL`) when every slot and every
 *   queue place is taken
 * @throws TimeoutError (`ERR_TIMEOUT`) when a queued call waits past `timeoutMs`
 * @throws AbortError (`ERR_ABORTED`) when a queued call's signal fires
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a zero, negative or
 *   fractional bound, a `fn` that is not a function, `executeSync` of a
 *   function returning a promise
 * @throws CapacityError (`ERR_CAPACITY`) when more than `maxThreads` live threads hold slots
 * @throws HandleError (`ERR_HANDLE`) from `from` for a handle that is not a bulkhead's
 *
 * @example
 * ```ts
 * const reports = new Bulkhead({ maxConcurrent: 4, maxQueue: 16 });   // pass reports.handle to workers
 * // in a worker: Bulkhead.from(workerData.reports)
 * const pdf = await reports.execute(() => renderReport(id), { timeoutMs: 5_000 });
 * ```
 * @remarks Since 0.1
 */
export class Bulkhead {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: BulkheadHandle;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private readonly run: Semaphore;
  private readonly admit: Semaphore;

  constructor(options: BulkheadOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    const room = semaphoreBytes(o.maxThreads);
    const part = (at: number, permits: number): Semaphore =>
      Semaphore.part(region, at, room, { permits, maxThreads: o.maxThreads }, created ? 'create' : 'open');
    this.run = part(RUN_AT, o.maxConcurrent);
    this.admit = part(room, o.maxConcurrent + o.maxQueue);
    this.handle = region.handle;
    this.maxConcurrent = o.maxConcurrent;
    this.maxQueue = o.maxQueue;
  }

  /** Re-opens a bulkhead from its handle, in any thread. @throws HandleError */
  static from(handle: BulkheadHandle): Bulkhead {
    return new Bulkhead(DEF.open(handle));
  }

  /** Bytes a bulkhead of these options takes (in an arena, rounded up to 128). */
  static byteLength(options: BulkheadOptions): number {
    return DEF.byteLength(options);
  }

  /**
   * Runs `fn` in a slot: at once if one is free, after a wait in the queue
   * if not, or rejects with BulkheadFullError if the queue is full too. The
   * slot is freed when fn's result settles.
   */
  execute<T>(fn: () => T | PromiseLike<T>, options?: BulkheadExecuteOptions): Promise<T> {
    let o: ReturnType<typeof EXECUTE_OPTIONS.parse>;
    try {
      if (typeof fn !== 'function') throw new InvalidArgumentError(`execute(fn): fn must be a function, got ${describeValue(fn)}`);
      o = EXECUTE_OPTIONS.parse(options);
      if (o.signal?.aborted) throw new AbortError('aborted before entering the bulkhead', o.signal.reason);
      this.enter();
    } catch (e) {
      return Promise.reject(e);
    }
    // Linearization point of a call's start: its RUN acquisition.
    if (this.run.tryAcquire()) return this.runHeld(fn);
    return this.executeQueued(fn, o.timeoutMs, o.signal);
  }

  /**
   * The blocking form, for worker threads doing CPU-bound work: waits in the
   * queue with `Atomics.wait` (`timeoutMs` at most), runs `fn`, frees the slot.
   * @throws InvalidArgumentError if `fn` returns a promise (use `execute`)
   */
  executeSync<T>(fn: () => T, timeoutMs?: number): T {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`executeSync(fn): fn must be a function, got ${describeValue(fn)}`);
    const t = checkTimeout('timeoutMs', timeoutMs);
    this.enter();
    try {
      this.run.acquire(1, t);
    } catch (e) {
      this.admit.release();
      throw e;
    }
    try {
      const value = fn();
      if (isThenable(value)) {
        Promise.resolve(value).catch(() => {}); // not ours to report
        throw new InvalidArgumentError('executeSync(fn): fn returned a promise; use execute(fn) for asynchronous work');
      }
      return value;
    } finally {
      this.leave();
    }
  }

  stats(): BulkheadStats {
    const running = Math.max(0, this.maxConcurrent - this.run.available);
    const admitted = Math.max(0, this.maxConcurrent + this.maxQueue - this.admit.available);
    return { running, queued: Math.max(0, admitted - running), available: this.maxConcurrent - running };
  }

  /** Takes a place (running or queued), or throws BulkheadFullError. */
  private enter(): void {
    // Linearization point of admission (ADMIT reclaims dead threads' places before refusing).
    if (this.admit.tryAcquire()) return;
    if (bulkheadRejected.hasSubscribers) bulkheadRejected.publish({ bulkhead: this });
    throw new BulkheadFullError(`bulkhead full: ${this.maxConcurrent} call(s) running and ${this.maxQueue} waiting`);
  }

  private leave(): void {
    this.run.release();
    this.admit.release();
  }

  private async executeQueued<T>(fn: () => T | PromiseLike<T>, timeout: number, signal: AbortSignal | undefined): Promise<T> {
    try {
      await this.run.acquireAsync(1, { timeoutMs: timeout, signal });
    } catch (e) {
      this.admit.release();
      throw e;
    }
    return this.runHeld(fn);
  }

  /** Calls `fn` in its slot; leaves the slot when `fn`'s result settles. Always a promise (a throw rejects it). */
  private runHeld<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    try {
      return Promise.resolve(runHolding(fn, () => this.leave()));
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
