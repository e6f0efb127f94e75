/**
 * Latch: a one-shot countdown; waiters are released when it reaches zero.
 */
import * as seam from '../memory/atomics.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { systemClock } from '../clock.js';
import { AbortError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { positiveInteger } from '../validate.js';
import { integer, local } from '../options/field.js';
import { waitAsyncOptions, waitOptions } from '../options/wait.js';
import { toDeadline, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';

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

const COUNT = 0,
  WORDS = 1;
const OPEN = 0;

/** The largest initial count (an Int32 word holds it). */
export const MAX_LATCH_COUNT = 0x7fffffff;

export interface LatchOptions {
  /** The count to start from (an integer >= 1); also accepted as the first argument: `new Latch(3)`. */
  readonly count?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

export interface LatchWaitOptions {
  /** Milliseconds to wait (default: forever). 0 = check once. */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
export interface LatchWaitAsyncOptions extends LatchWaitOptions {
  readonly signal?: AbortSignal;
}

const DEF = definePrimitive(
  'Latch',
  1,
  {
    // Written into COUNT at creation; not part of the handle (the count moves).
    count: local(integer({ max: MAX_LATCH_COUNT })),
  },
  { positional: 'count', bodyBytes: () => WORDS * 4 },
);
export type LatchHandle = HandleOf<typeof DEF>;

const WAIT = waitOptions('latch.wait(options)');
const WAIT_ASYNC = waitAsyncOptions('latch.waitAsync(options)');

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
 * await ready.waitAsync({ timeoutMs: 5000 });
 * ```
 */
export class Latch {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: LatchHandle;
  private readonly words: Int32Array;

  constructor(count: number, options?: Omit<LatchOptions, 'count'>);
  constructor(options: LatchOptions & { readonly count: number });
  /** @internal */
  constructor(opened: OpenedOf<typeof DEF>);
  constructor(count: number | LatchOptions | OpenedOf<typeof DEF>, options?: Omit<LatchOptions, 'count'>) {
    const { region, options: o, created } = DEF.resolve(count, options);
    this.handle = region.handle;
    this.words = region.i32(0, WORDS);
    if (created) this.words[COUNT] = o.count; // before the handle is published
  }

  /** Re-opens a latch from its handle, in any thread. @throws HandleError */
  static from(handle: LatchHandle): Latch {
    return new Latch(DEF.open(handle));
  }

  /** Bytes a Latch takes (in an arena, rounded up to 128); the same for every count. */
  static byteLength(count?: number | LatchOptions, options?: Omit<LatchOptions, 'count'>): number {
    return DEF.byteLength(count ?? 1, options);
  }

  /** A snapshot of its state, for metrics. */
  stats(): { readonly count: number; readonly open: boolean } {
    const count = load(this.words, COUNT);
    return { count, open: count === 0 };
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
        throw new InvalidArgumentError(
          c === OPEN
            ? `countDown(${n}) of an open latch (its count is already 0)`
            : `countDown(${n}) would take the count below zero: it is ${c}`,
        );
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
   * @param options ms (default: forever; 0 = check once), or `{ timeoutMs }`
   */
  wait(options?: number | LatchWaitOptions): void {
    const o = WAIT.parse(options);
    if (load(this.words, COUNT) === OPEN) return;
    runBlocking(this.waitPath(toDeadline(o.timeoutMs)));
  }

  /** Waits for the count to reach zero without blocking the event loop. */
  async waitAsync(options?: number | LatchWaitAsyncOptions): Promise<void> {
    const o = WAIT_ASYNC.parse(options);
    if (o.signal?.aborted) throw new AbortError('aborted before waiting', o.signal.reason);
    if (load(this.words, COUNT) === OPEN) return;
    await runAsync(this.waitPath(toDeadline(o.timeoutMs)), o.signal);
  }

  /** The wait, for both forms (slow-path.ts): park on COUNT until it is zero or the deadline passes. */
  private *waitPath(deadline: number): SlowPath<void> {
    for (;;) {
      const c = load(this.words, COUNT);
      if (c === OPEN) return;
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError(c);
      yield { word: this.words, index: COUNT, expected: c, deadline, watch: this.watch };
    }
  }

  /** The ticker's check for parked async waiters: open (its notify went astray). */
  private readonly watch: Watch = () => load(this.words, COUNT) === OPEN;

  private timeoutError(c: number): TimeoutError {
    return new TimeoutError(`timed out waiting for the latch (count still ${c})`);
  }
}
