/**
 * Latch: a one-shot countdown; waiters are released when it reaches zero.
 */
import * as seam from '../memory/atomics.js';
import { createRegion, openRegion, Region, regionBytes, type Handle, type RegionSpec } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { systemClock } from '../clock.js';
import { AbortError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { plainObject, positiveInteger, timeoutMs as checkTimeout } from '../validate.js';
import { parkAsync, parkSync, toDeadline } from './park.js';

const { compareExchange, load, notify } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Words (Int32, region body):
 *   COUNT   the count: from `count` down to 0 (OPEN), never below, never up again
 *
 * countDown linearizes at its CAS of COUNT from c to c - n (refused, with
 * nothing changed, when n > c); the CAS that reaches OPEN is followed by
 * notify(all). Waiters park on COUNT with the value they read: a countDown
 * that does not reach zero wakes nobody, and the notify at zero wakes every
 * waiter parked on COUNT whatever value it expected (one that reads COUNT
 * after the CAS sees 0, or gets 'not-equal'). wait linearizes at its load of
 * COUNT that reads 0.
 *
 * Owner death: a latch has no owner. A thread that dies before counting down
 * leaves the count above zero forever; that is the caller's protocol to
 * handle (wait with a timeout). A thread dying inside countDown either did
 * its CAS or did not; if it did and reached zero but died before notify,
 * waiters see zero within one liveness slice.
 */

const COUNT = 0, WORDS = 1;
const OPEN = 0;

/** The largest initial count (an Int32 word holds it). */
export const MAX_LATCH_COUNT = 0x7fffffff;

export interface LatchOptions {
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
type LatchHandleOptions = Record<string, never>;
export type LatchHandle = Handle<'sabre.Latch', LatchHandleOptions>;

export interface LatchWaitOptions {
  /** Milliseconds to wait (default: forever). 0 = check once. */
  readonly timeout?: number;
}
export interface LatchWaitAsyncOptions extends LatchWaitOptions {
  readonly signal?: AbortSignal;
}

const SPEC: RegionSpec<'sabre.Latch', LatchHandleOptions> = {
  kind: 'sabre.Latch',
  version: 1,
  bodyBytes: () => WORDS * 4,
};

function checkHandleOptions(raw: unknown): LatchHandleOptions {
  if (Object.keys(plainObject('options', raw)).length !== 0) throw new InvalidArgumentError('a Latch handle has no options');
  return {};
}

function timeoutOf(raw: number | LatchWaitOptions | undefined): number {
  if (typeof raw === 'number' || raw === undefined) return checkTimeout('timeout', raw);
  return checkTimeout('timeout', (plainObject('options', raw) as LatchWaitOptions).timeout);
}

/**
 * A countdown latch shared by every thread that opens its handle (Java's
 * `CountDownLatch`). `wait` blocks until `countDown` has been called enough
 * times to bring the count from `count` to zero; from then on the latch stays
 * open and every `wait` returns at once. Everything a thread wrote before its
 * `countDown` happens-before the return of any `wait` that sees the latch open.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a count or `n` that is
 *   not a positive integer, or a `countDown(n)` that would go below zero
 *   (nothing is counted then)
 * @throws TimeoutError (`ERR_TIMEOUT`) when a wait passes its timeout
 * @throws AbortError (`ERR_ABORTED`) when an async wait's signal fires
 *
 * @example
 * ```ts
 * const ready = new Latch(workers.length);   // each worker: Latch.from(handle).countDown()
 * await ready.waitAsync({ timeout: 5000 });
 * ```
 */
export class Latch {
  readonly handle: LatchHandle;
  private readonly words: Int32Array;

  constructor(count: number, options?: LatchOptions);
  /** @internal */
  constructor(region: Region<'sabre.Latch', LatchHandleOptions>);
  constructor(count: number | Region<'sabre.Latch', LatchHandleOptions>, options: LatchOptions = {}) {
    let region: Region<'sabre.Latch', LatchHandleOptions>;
    if (count instanceof Region) {
      region = count;
    } else {
      const initial = positiveInteger('count', count, MAX_LATCH_COUNT);
      region = createRegion(SPEC, {}, plainObject('options', options).arena as SharedArena | undefined);
      region.i32(0, WORDS)[COUNT] = initial; // before the handle is published
    }
    this.handle = region.handle;
    this.words = region.i32(0, WORDS);
  }

  /** Re-opens a latch from its handle, in any thread. @throws HandleError */
  static from(handle: LatchHandle): Latch {
    return new Latch(openRegion(SPEC, handle, checkHandleOptions));
  }

  /** Bytes a Latch takes (in an arena, rounded up to 128). */
  static byteLength(_countOrOptions?: number | LatchOptions, _options?: LatchOptions): number {
    return regionBytes(SPEC, {});
  }

  /** The count now (a snapshot; 0 = open). */
  get count(): number {
    return load(this.words, COUNT);
  }

  /**
   * Counts down by `n`; at zero, releases every waiter. Returns the count left.
   * @throws InvalidArgumentError if `n` is more than the count left (nothing changes)
   */
  countDown(n = 1): number {
    if (n !== 1) positiveInteger('n', n, MAX_LATCH_COUNT);
    for (;;) {
      const c = load(this.words, COUNT);
      if (n > c) {
        throw new InvalidArgumentError(c === OPEN ? `countDown(${n}) of an open latch (its count is already 0)` : `countDown(${n}) would take the count below zero: it is ${c}`);
      }
      // Linearization point of countDown.
      if (compareExchange(this.words, COUNT, c, c - n) === c) {
        if (c - n === OPEN) notify(this.words, COUNT);
        return c - n;
      }
    }
  }

  /**
   * Blocks this thread until the count is zero. Blocking the main thread
   * stalls its event loop: there, prefer `waitAsync`.
   * @param timeout ms (default: forever; 0 = check once), or `{ timeout }`
   */
  wait(timeout?: number | LatchWaitOptions): void {
    const t = timeoutOf(timeout);
    if (load(this.words, COUNT) === OPEN) return;
    this.waitSlow(toDeadline(t));
  }

  /** Waits for the count to reach zero without blocking the event loop. */
  async waitAsync(options?: LatchWaitAsyncOptions): Promise<void> {
    const t = timeoutOf(options);
    if (options?.signal?.aborted) throw new AbortError('aborted before waiting', options.signal.reason);
    if (load(this.words, COUNT) === OPEN) return;
    await this.waitAsyncSlow(toDeadline(t), options?.signal);
  }

  private waitSlow(deadline: number): void {
    for (;;) {
      const c = load(this.words, COUNT);
      if (c === OPEN) return;
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError(c);
      parkSync(this.words, COUNT, c, deadline);
    }
  }

  private async waitAsyncSlow(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const c = load(this.words, COUNT);
      if (c === OPEN) return;
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError(c);
      await parkAsync(this.words, COUNT, c, deadline, signal);
    }
  }

  private timeoutError(c: number): TimeoutError {
    return new TimeoutError(`timed out waiting for the latch (count still ${c})`);
  }
}
