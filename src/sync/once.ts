/**
 * Once: run a function exactly once (per success) across every thread.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { systemClock } from '../clock.js';
import { AbortError, DeadlockError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { waitAsyncOptions, waitOptions } from '../options/wait.js';
import { toDeadline, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';
import { isThenable } from '../validate.js';

const { compareExchange, load, notify } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Words (Int32, region body):
 *   STATE   IDLE (0), a runner's threadId + 1 (below DONE), or DONE
 *
 * STATE, every legal value:
 *   value | meaning                        | who moves it, to what
 *   IDLE  | never run, or every run failed | any caller: CAS → me (it will run fn)
 *   t + 1 | thread t is running fn         | t: CAS → DONE on success, → IDLE on a throw;
 *         |                                | any waiter that proves t dead: CAS → IDLE
 *   DONE  | fn succeeded once              | reset(): CAS → IDLE
 * Every change is followed by notify(all): waiters park on STATE.
 *
 * Linearization points: the run that counts is the CAS IDLE → me, and its
 * success the CAS me → DONE; a call that returns false linearizes at its
 * load of DONE. Only the thread in STATE may end a run, so fn succeeds at
 * most once between resets.
 *
 * Owner death: a runner that dies leaves STATE = t + 1. Waiters ask the
 * registry whether t is alive before each park (each liveness slice), and
 * the first to prove it dead CASes STATE back to IDLE: one of them runs fn
 * next. A runner dying after fn's effects but before its CAS to DONE means fn
 * runs again: exactly-once holds per *recorded* success, so fn should be
 * idempotent in its shared effects or record them itself.
 */

const STATE = 0,
  WORDS = 1;
const IDLE = 0;
const DONE = 1 << 30;

export interface OnceOptions {
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

export interface OnceRunOptions {
  /** Milliseconds to wait for another thread's run (default: forever). */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
export interface OnceRunAsyncOptions extends OnceRunOptions {
  readonly signal?: AbortSignal;
}

const DEF = definePrimitive('Once', 1, {}, { bodyBytes: () => WORDS * 4 });
export type OnceHandle = HandleOf<typeof DEF>;

const RUN = waitOptions('once.run(fn, options)');
const RUN_ASYNC = waitAsyncOptions('once.runAsync(fn, options)');

function checkFn(name: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`${name}(fn): fn must be a function, got ${typeof fn}`);
}

const me = threadId + 1;
const registry = (): ThreadRegistry => ThreadRegistry.current;

/**
 * Runs a function exactly once across every thread that opens its handle
 * (Go's `sync.Once`, with retries as in `std::sync::Once`'s poisoning-free
 * `call_once`): the first caller runs `fn`, concurrent callers wait until it
 * finishes. If `fn` throws, the error goes to its caller only, and the next
 * caller (a waiter or a later one) runs its own `fn` in turn. If the running
 * thread dies, another caller runs it, within `LIVENESS_SLICE_MS` of looking.
 *
 * Results cannot cross threads in general, so `run` answers `true` in the one
 * call that ran `fn` to success and `false` in every other call (which found
 * it done, possibly after waiting); share a result through shared memory.
 * Everything the successful `fn` wrote happens-before the return of every
 * call that answers `false`.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a non-function, a bad
 *   timeout, or a sync `run` whose `fn` returns a promise (use `runAsync`)
 * @throws DeadlockError (`ERR_DEADLOCK`) for a sync `run` while this thread
 *   is running fn (recursively, or in a pending `runAsync`)
 * @throws TimeoutError (`ERR_TIMEOUT`) when waiting passes its timeout
 * @throws AbortError (`ERR_ABORTED`) when an async wait's signal fires
 *
 * @example
 * ```ts
 * const init = Once.from(handle);            // in every worker
 * init.run(() => buildSharedTable(table));   // one of them builds it; all return after it is built
 * ```
 */
export class Once {
  readonly handle: OnceHandle;
  private readonly words: Int32Array;

  constructor(options?: OnceOptions | OpenedOf<typeof DEF>) {
    const { region } = DEF.resolve(options);
    this.handle = region.handle;
    this.words = region.i32(0, WORDS);
  }

  /** Re-opens a Once from its handle, in any thread. @throws HandleError */
  static from(handle: OnceHandle): Once {
    return new Once(DEF.open(handle));
  }

  /** Bytes a Once takes (in an arena, rounded up to 128). */
  static byteLength(options?: OnceOptions): number {
    return DEF.byteLength(options);
  }

  /** A snapshot of its state, for metrics. */
  stats(): { readonly done: boolean } {
    return { done: this.done };
  }

  /** True once a run has succeeded (and until `reset()`). */
  get done(): boolean {
    return load(this.words, STATE) === DONE;
  }

  /**
   * Runs synchronous `fn` unless a run already succeeded; waits (blocking
   * this thread) while another thread runs it. Returns true if this call ran
   * `fn` to success, false if it was (or became) done by another run.
   * Rethrows what `fn` throws (and the next caller runs it).
   * @param options ms to wait for another thread's run (default: forever), or `{ timeoutMs }`
   */
  run(fn: () => unknown, options?: number | OnceRunOptions): boolean {
    checkFn('run', fn);
    const o = RUN.parse(options);
    if (load(this.words, STATE) === DONE) return false;
    return this.runSlow(fn, toDeadline(o.timeoutMs));
  }

  /** The async form of `run`: `fn` may return a promise; waiting never blocks the event loop. */
  async runAsync(fn: () => unknown, options?: number | OnceRunAsyncOptions): Promise<boolean> {
    checkFn('runAsync', fn);
    const o = RUN_ASYNC.parse(options);
    if (load(this.words, STATE) === DONE) return false;
    if (o.signal?.aborted) throw new AbortError('aborted before running', o.signal.reason);
    return this.runAsyncSlow(fn, toDeadline(o.timeoutMs), o.signal);
  }

  /**
   * Makes a done Once runnable again (the next `run` runs its fn). Returns
   * false, changing nothing, if it was not done (idle, or a run in progress:
   * a reset never races a running fn).
   */
  reset(): boolean {
    // Linearization point of reset.
    if (compareExchange(this.words, STATE, DONE, IDLE) !== DONE) return false;
    notify(this.words, STATE);
    return true;
  }

  // ---- slow paths ------------------------------------------------------

  private runSlow(fn: () => unknown, deadline: number): boolean {
    if (runBlocking(this.claimPath(deadline, true)) === DONE) return false;
    let result: unknown;
    try {
      result = fn();
    } catch (e) {
      this.finish(IDLE);
      throw e;
    }
    if (isThenable(result)) {
      this.finish(IDLE);
      throw new InvalidArgumentError('run(fn): fn returned a promise, and a run ends when fn returns; use runAsync for async work');
    }
    this.finish(DONE);
    return true;
  }

  private async runAsyncSlow(fn: () => unknown, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    const claimed = runAsync(this.claimPath(deadline, false), signal); // claimed at once: fn runs inside this call
    if ((claimed instanceof Promise ? await claimed : claimed) === DONE) return false;
    try {
      await fn();
    } catch (e) {
      this.finish(IDLE);
      throw e;
    }
    this.finish(DONE);
    return true;
  }

  /**
   * The wait for a run, for both forms (slow-path.ts): returns DONE once the
   * Once is done, or `me` once this thread has claimed the run (STATE = me).
   * While this thread itself runs it, a blocking caller would wait for
   * itself (DeadlockError); an async one waits: the other task of this thread
   * can finish meanwhile.
   */
  private *claimPath(deadline: number, blocking: boolean): SlowPath<number> {
    for (;;) {
      const s = load(this.words, STATE);
      if (s === DONE) return DONE;
      if (s === IDLE) {
        if (compareExchange(this.words, STATE, IDLE, me) === IDLE) return me;
        continue;
      }
      if (s === me && blocking)
        throw new DeadlockError(
          'run() while this thread is running the Once (a recursive run, or a pending runAsync of this thread): it would wait for itself',
        );
      if (s !== me && this.recovered(s)) continue;
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError();
      yield { word: this.words, index: STATE, expected: s, deadline, watch: this.watch };
    }
  }

  /** Ends this thread's run: DONE (success) or IDLE (fn threw). */
  private finish(next: number /* DONE or IDLE */): void {
    // Linearization point of a run's end (the CAS to DONE is the success that counts).
    compareExchange(this.words, STATE, me, next);
    notify(this.words, STATE);
  }

  /** If runner `s` is proved dead, puts STATE back to IDLE (returns true: look again). */
  /** The ticker's check for parked async callers: the run ended (its notify went astray) or its thread died. */
  private readonly watch: Watch = () => {
    const s = load(this.words, STATE);
    return s === DONE || s === IDLE || (s !== me && !registry().isAlive(s - 1));
  };

  private recovered(s: number): boolean {
    if (registry().isAlive(s - 1)) return false;
    // Linearization point of recovery.
    if (compareExchange(this.words, STATE, s, IDLE) === s) notify(this.words, STATE);
    return true;
  }

  private timeoutError(): TimeoutError {
    return new TimeoutError('timed out waiting for another thread to run the Once');
  }
}
