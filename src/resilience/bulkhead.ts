/**
 * Bulkhead: at most `maxConcurrent` calls at once across every thread, a
 * bounded queue behind them, and a fast refusal beyond.
 */
import { padToCacheLine } from '../memory/cache-line.js';
import { createRegion, openRegion, Region, regionBytes, type Handle, type RegionSpec } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { AbortError, BulkheadFullError, InvalidArgumentError } from '../errors.js';
import { DEFAULT_SEMAPHORE_THREADS, MAX_PERMITS, Semaphore } from '../sync/semaphore.js';
import { describeValue, integerIn, plainObject, positiveInteger, timeoutMs as checkTimeout } from '../validate.js';
import { partAt, partHandle } from './parts.js';

/*
 * Implementation notes
 *
 * Two Semaphores (parts of this region, parts.ts), each of which returns the
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
interface BulkheadHandleOptions {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly maxThreads: number;
}
export type BulkheadHandle = Handle<'sabre.Bulkhead', BulkheadHandleOptions>;

export interface BulkheadExecuteOptions {
  /** Longest wait in the queue, in ms (default: forever); then TimeoutError. */
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

const semaphoreBytes = (o: BulkheadHandleOptions): number => padToCacheLine(Semaphore.byteLength({ maxThreads: o.maxThreads }));
const RUN_AT = 0;
const admitAt = (o: BulkheadHandleOptions): number => semaphoreBytes(o);

const SPEC: RegionSpec<'sabre.Bulkhead', BulkheadHandleOptions> = {
  kind: 'sabre.Bulkhead',
  version: 1,
  bodyBytes: (o) => 2 * semaphoreBytes(o),
};

function checkOptions(o: Record<string, unknown>): BulkheadHandleOptions {
  const maxConcurrent = positiveInteger('maxConcurrent', o.maxConcurrent, MAX_PERMITS);
  const maxQueue = integerIn('maxQueue', o.maxQueue ?? 0, 0, MAX_PERMITS - maxConcurrent);
  const maxThreads = positiveInteger('maxThreads', o.maxThreads ?? DEFAULT_SEMAPHORE_THREADS, 4096);
  return { maxConcurrent, maxQueue, maxThreads };
}

function checkHandleOptions(raw: unknown): BulkheadHandleOptions {
  const o = plainObject('options', raw);
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'maxConcurrent,maxQueue,maxThreads') throw new InvalidArgumentError(`a Bulkhead handle has options { maxConcurrent, maxQueue, maxThreads }, got keys [${keys}]`);
  return checkOptions(o);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

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
 * @throws TimeoutError (`ERR_TIMEOUT`) when a queued call waits past `timeout`
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
 * const pdf = await reports.execute(() => renderReport(id), { timeout: 5_000 });
 * ```
 * @remarks Since 0.1
 */
export class Bulkhead {
  readonly handle: BulkheadHandle;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private readonly run: Semaphore;
  private readonly admit: Semaphore;

  constructor(options: BulkheadOptions | Region<'sabre.Bulkhead', BulkheadHandleOptions>) {
    let region: Region<'sabre.Bulkhead', BulkheadHandleOptions>;
    if (options instanceof Region) {
      region = options;
      const o = region.options;
      const open = (at: number, permits: number): Semaphore =>
        Semaphore.from(partHandle(region, at, 'sabre.Semaphore', Semaphore.byteLength({ maxThreads: o.maxThreads }), { permits, maxThreads: o.maxThreads }) as never);
      this.run = open(RUN_AT, o.maxConcurrent);
      this.admit = open(admitAt(o), o.maxConcurrent + o.maxQueue);
    } else {
      const raw = plainObject('options', options);
      const o = checkOptions(raw);
      region = createRegion(SPEC, o, raw.arena as SharedArena | undefined);
      const make = (at: number, permits: number): Semaphore =>
        new Semaphore(permits, { maxThreads: o.maxThreads, arena: partAt(region, at, semaphoreBytes(o)) as unknown as SharedArena });
      this.run = make(RUN_AT, o.maxConcurrent);
      this.admit = make(admitAt(o), o.maxConcurrent + o.maxQueue);
    }
    this.handle = region.handle;
    this.maxConcurrent = region.options.maxConcurrent;
    this.maxQueue = region.options.maxQueue;
  }

  /** Re-opens a bulkhead from its handle, in any thread. @throws HandleError */
  static from(handle: BulkheadHandle): Bulkhead {
    return new Bulkhead(openRegion(SPEC, handle, checkHandleOptions));
  }

  /** Bytes a bulkhead takes (in an arena, rounded up to 128). */
  static byteLength(options: Pick<BulkheadOptions, 'maxThreads'> = {}): number {
    return regionBytes(SPEC, checkOptions({ maxConcurrent: 1, maxThreads: plainObject('options', options).maxThreads }));
  }

  /**
   * Runs `fn` in a slot: at once if one is free, after a wait in the queue
   * if not, or rejects with BulkheadFullError if the queue is full too. The
   * slot is freed when fn's result settles.
   */
  execute<T>(fn: () => T | PromiseLike<T>, options?: BulkheadExecuteOptions): Promise<T> {
    let timeout: number;
    try {
      if (typeof fn !== 'function') throw new InvalidArgumentError(`execute(fn): fn must be a function, got ${describeValue(fn)}`);
      timeout = options === undefined ? Infinity : checkTimeout('timeout', plainObject('options', options).timeout);
      if (options?.signal?.aborted) throw new AbortError('aborted before entering the bulkhead', options.signal.reason);
      this.enter();
    } catch (e) {
      return Promise.reject(e);
    }
    // Linearization point of a call's start: its RUN acquisition.
    if (this.run.tryAcquire()) return this.runHeld(fn);
    return this.executeQueued(fn, timeout, options?.signal);
  }

  /**
   * The blocking form, for worker threads doing CPU-bound work: waits in the
   * queue with `Atomics.wait` (`timeout` ms at most), runs `fn`, frees the slot.
   * @throws InvalidArgumentError if `fn` returns a promise (use `execute`)
   */
  executeSync<T>(fn: () => T, timeout?: number): T {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`executeSync(fn): fn must be a function, got ${describeValue(fn)}`);
    const t = checkTimeout('timeout', timeout);
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
    throw new BulkheadFullError(`bulkhead full: ${this.maxConcurrent} call(s) running and ${this.maxQueue} waiting`);
  }

  private leave(): void {
    this.run.release();
    this.admit.release();
  }

  private async executeQueued<T>(fn: () => T | PromiseLike<T>, timeout: number, signal: AbortSignal | undefined): Promise<T> {
    try {
      await this.run.acquireAsync(1, { timeout, signal });
    } catch (e) {
      this.admit.release();
      throw e;
    }
    return this.runHeld(fn);
  }

  private runHeld<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (e) {
      this.leave();
      return Promise.reject(e);
    }
    if (!isThenable(result)) {
      this.leave();
      return Promise.resolve(result);
    }
    return Promise.resolve(result).then(
      (value) => {
        this.leave();
        return value;
      },
      (error: unknown) => {
        this.leave();
        throw error;
      },
    );
  }
}
