/**
 * CircuitBreaker: one breaker per dependency, shared by every thread, so that
 * the threads of a process stop calling a failing dependency together and
 * probe its recovery together.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, systemClock, type Clock } from '../clock.js';
import { AbortError, CircuitOpenError, InvalidArgumentError, TimeoutError } from '../errors.js';
import type { StripedCounter } from '../atomic/striped-counter.js';
import { counterSet, counterSetBytes } from '../atomic/counter-set.js';
import { breakerState } from '../observe/channels.js';
import { ThreadRegistry } from '../threads/registry.js';
import { toDeadline, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';
import { describeValue, oneOf, timeoutMs as timeoutArg, isThenable } from '../validate.js';
import { fn as fnField, integer, number, signal, timeout, withDefault } from '../options/field.js';
import { defineOptions, group } from '../options/schema.js';
import { deprecated } from '../options/deprecate.js';
import {
  CLOSED,
  HALF_OPEN,
  OPEN,
  nextWord,
  periodTag,
  seqOf,
  stateOf,
  STATE_CODES,
  STATE_MASK,
  STATE_NAMES,
  VALUE_MASK,
  type BreakerState,
  type StateCode,
} from './breaker-state.js';
import { LOG_BYTES, LOG_ENTRIES, TransitionLog, TransitionWatcher, type TransitionListener } from './breaker-events.js';
import { DEFAULT_BUCKETS, FailureWindow, MAX_BUCKETS } from './failure-window.js';
import { ConsecutiveFailures } from './consecutive-failures.js';
import { FailureRate } from './failure-rate.js';
import type { TripRule } from './trip-rule.js';
import { DeadlineQueue, TimedCall } from './call-timeouts.js';

export type { BreakerState } from './breaker-state.js';
export type { BreakerTransition, TransitionListener } from './breaker-events.js';

const { compareExchange, load, notify } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body (byte offsets; Int32 words unless said):
 *   0     STATE        the state word (breaker-state.ts: state, previous
 *                      state, transition count), read by every call
 *   8     BASE         Float64, the clock's time at creation (written once,
 *                      before the handle exists: plain reads)
 *   128   FAILS        the consecutive-failure rule's count, tagged with
 *                      its CLOSED period (consecutive-failures.ts)
 *   256   PROBES       MAX_PROBES words, one per HALF_OPEN probe slot: 0 free,
 *                      else bits 0-19 HOLDER (threadId + 1) and bits 20-30
 *                      PERIOD (the HALF_OPEN period it probes)
 *   512   LOG          the transition log (breaker-events.ts)
 *   2560  WINDOW       the failure-rate rule's buckets (failure-window.ts), if any
 *   then  STATS        four StripedCounters (successes, failures, timeouts,
 *                      rejections), each its own region placed in this one (StripedCounter.part)
 * Each hot group has its own 128-byte block: STATE is read by every call and
 * written only on a transition; FAILS is written on failures.
 *
 * Linearization points. A call is admitted at its load of STATE (CLOSED),
 * or at the CAS that takes a probe slot (HALF_OPEN) followed by a load that
 * finds STATE unchanged; a rejection at the load that finds OPEN (or no free
 * slot). A transition happens at its CAS of STATE, from the exact word the
 * deciding thread read: exactly one thread wins each, and a decision taken
 * on a stale word (another transition came in between) fails its CAS. A
 * failure is counted at its CAS of FAILS (or of its window bucket).
 *
 * Periods. Every counter is tagged with the period (transition count) that
 * admitted the call, so nothing is reset on a transition: a new period simply
 * ignores the old tags, and a call admitted in one period that completes in
 * another is dropped from the counts (it still counts in the statistics).
 * A recorder loads the counter, then checks STATE, then CASes: if the period
 * is still its own after that load, the counter cannot hold a later period's
 * count, and a later period writing it since makes the CAS fail (the
 * recorder then sees the new period and drops its result). Slow results
 * cannot reopen a breaker that has since closed, nor erase a later count.
 *
 * Probes. HALF_OPEN admits a call only into a free probe slot (CAS), so at
 * most halfOpenMaxCalls probe calls are in flight at once, whatever their
 * period; the first probe outcome moves the breaker (success: CLOSED,
 * failure: OPEN) and every probe frees its slot when it settles. A slot is
 * free when 0 or held by a thread the ThreadRegistry proves dead: a caller
 * that finds no free slot looks again with liveness, so a probe whose thread
 * died is replaced by the next caller (never left holding HALF_OPEN). A slot
 * of another period is never taken: a thread suspended since an old period
 * would otherwise take a live probe's slot, see its period gone and free it,
 * letting one probe too many in. A probe that hangs in a live thread holds
 * its slot until timeoutMs fails it: set timeoutMs.
 *
 * Trip rules. When a CLOSED breaker opens is decided by its trip rules
 * (trip-rule.ts): consecutive failures (FAILS) and the failure rate
 * (WINDOW), each told of every outcome of the period that admitted the
 * call; any one of them that says so opens it, by the transition's CAS.
 *
 * Plain loads. Two reads on the success path are plain typed-array loads,
 * not Atomics.load (a builtin call of ~10-25 ns on Node 20, a sixth of the
 * breaker's cost per call): `execute`'s read of STATE and a success's read
 * of FAILS. Aligned Int32 reads never tear (ECMAScript's no-tear rule), a
 * function's load is made afresh on each call, and the hardware reads the
 * coherent value, so what they can return is a value the word held an
 * instant before: an admission (or a success) linearized at that instant,
 * inside the call's own interval. Nothing else is read on the strength of
 * them: every decision that matters CASes or re-reads atomically (a
 * transition CASes STATE from the word, which fails if it is stale; a probe
 * re-reads STATE after taking its slot; a result is recorded only after an
 * atomic check of its period; a success CASes FAILS from the value it read,
 * which fails harmlessly if that was stale).
 *
 * Owner death between steps. A transition is CAS, then stamp of its log
 * entry, then notify: a thread dying after the CAS leaves the entry to the
 * next thread that needs it (which stamps it with its own clock reading: an
 * OPEN period measured from then) and subscribers waiting for a wake-up to
 * their next slice (breaker-events.ts). Dying between a call's admission and
 * its outcome leaves no trace in CLOSED (nothing is held) and a probe slot in
 * HALF_OPEN, reclaimed as above. Counters are single CASes: whole or absent.
 *
 * Source: M. Nygard, "Release It!" (the pattern); cockatiel's
 * CircuitBreakerPolicy and SamplingBreaker (states, rolling buckets);
 * Resilience4j (failure-rate threshold "equal or greater", minimum calls,
 * permitted calls in half-open).
 */

const STATE = 0;
const BASE_AT = 8;
const FAILS = CACHE_LINE_BYTES / 4;
const PROBES = (2 * CACHE_LINE_BYTES) / 4;
/** The most probe calls HALF_OPEN may admit at once. */
export const MAX_PROBES = 64;
const LOG_AT = 4 * CACHE_LINE_BYTES;
const WINDOW_AT = LOG_AT + LOG_BYTES;
const CONTROL_WORDS = WINDOW_AT / 4;

/** A probe holder whose threadId does not fit 20 bits: never reclaimed (treated as alive). */
const HOLDER_UNKNOWN = VALUE_MASK;
const HOLDER = Math.min(threadId + 1, HOLDER_UNKNOWN);

/** The most consecutive failures a threshold may name. */
export const MAX_FAILURE_THRESHOLD = 1_000_000;
/** The longest reset timeout, call timeout or window (the longest `setTimeout`). */
export const MAX_BREAKER_MS = 2 ** 31 - 1;

const COUNTERS = ['successes', 'failures', 'timeouts', 'rejections'] as const;

export interface FailureRateOptions {
  /** Open when failures / calls in the window reach this (a fraction in (0, 1]). */
  readonly threshold: number;
  /** …over at least this many calls in the window. */
  readonly minimumCalls: number;
  /** The window's length on the breaker's clock. */
  readonly windowMs: number;
  /** Buckets the window is counted in (default 10, at most 60). */
  readonly buckets?: number;
}

export interface CircuitBreakerOptions {
  /** Open after this many failures in a row (required unless `failureRate` is given; both may be). */
  readonly failureThreshold?: number;
  /** How long the breaker stays OPEN before it lets probes through, on its clock. */
  readonly resetTimeoutMs: number;
  /** Probe calls HALF_OPEN admits at once, across all threads (default 1, at most 64). */
  readonly halfOpenMaxCalls?: number;
  /** Also open when the failure rate over a rolling window reaches a threshold. */
  readonly failureRate?: FailureRateOptions;
  /** A call not settled after this many ms (real time) fails with TimeoutError and counts as a failure. */
  readonly timeoutMs?: number;
  /** Which errors count as failures (default: all). An error it refuses still reaches the caller, and counts as a success. */
  readonly isFailure?: (error: unknown) => boolean;
  /** The clock the reset timeout and the window run on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  readonly arena?: SharedArena;
}

/** What `from` takes besides the handle: the options that are functions, which cannot travel in a handle. */
export interface CircuitBreakerLocalOptions {
  readonly isFailure?: (error: unknown) => boolean;
}

/** What `fn` receives from `execute`. */
export interface BreakerCall {
  /** True for a HALF_OPEN probe: its outcome closes or reopens the breaker. */
  readonly probe: boolean;
  /** The breaker's transition count when the call was admitted (the period it belongs to). */
  readonly seq: number;
  /** With `timeoutMs`: aborted, with the TimeoutError as reason, when the call times out. */
  readonly signal: AbortSignal | undefined;
}

/** A snapshot of the breaker (separate reads: not atomic as a whole). */
export interface BreakerStats {
  readonly state: BreakerState;
  /** Transitions so far. */
  readonly transitions: number;
  /** When the current state began, on the breaker's clock (its creation for the first CLOSED). */
  readonly since: number;
  /** While OPEN, ms until probes are let through; otherwise 0. */
  readonly retryAfterMs: number;
  /** Failures in a row in the current CLOSED period. */
  readonly consecutiveFailures: number;
  /** Failure-rate mode: the current window (of the current CLOSED period). */
  readonly window: { readonly calls: number; readonly failures: number; readonly failureRate: number } | undefined;
  /** Probe calls in flight (HALF_OPEN). */
  readonly probesInFlight: number;
  /** Totals since creation, over all threads (LongAdder sums: exact when no call is completing). */
  readonly successes: number;
  /** Includes the timeouts. */
  readonly failures: number;
  readonly timeouts: number;
  /** Calls refused with CircuitOpenError. */
  readonly rejections: number;
}

export interface WaitForStateOptions {
  /** Milliseconds to wait (default: forever). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}

/** A call admitted: the state word it was admitted under, and its probe slot (-1: not a probe). */
interface Admission {
  readonly word: number;
  readonly slot: number;
}

/** A duration of the breaker: > 0 and at most the longest `setTimeout`. */
const breakerMs = (fallback?: number) => duration(fallback);
function duration(fallback?: number) {
  const f = number({ above: 0, max: MAX_BREAKER_MS, unit: 'milliseconds' });
  return fallback === undefined ? f : withDefault(f, fallback);
}

const FAILURE_RATE = defineOptions('failureRate', {
  threshold: number({ above: 0, max: 1 }),
  minimumCalls: integer({ max: 1_000_000 }),
  windowMs: breakerMs(),
  buckets: integer({ max: MAX_BUCKETS, default: DEFAULT_BUCKETS }),
});

const DEF = definePrimitive(
  'CircuitBreaker',
  1,
  {
    failureThreshold: withDefault(integer({ max: MAX_FAILURE_THRESHOLD }), undefined),
    resetTimeoutMs: breakerMs(),
    halfOpenMaxCalls: integer({ max: MAX_PROBES, default: 1 }),
    failureRate: withDefault(group(FAILURE_RATE), undefined),
    // Infinity: no call timeout.
    timeoutMs: withDefault(number({ above: 0, max: MAX_BREAKER_MS, infinite: true, unit: 'milliseconds' }), Infinity),
    isFailure: fnField<(error: unknown) => boolean>({ reopen: true }),
    clock: clock(),
  },
  {
    check: (o) => {
      if (o.failureThreshold === undefined && o.failureRate === undefined) {
        throw new InvalidArgumentError('new CircuitBreaker(options): give failureThreshold, failureRate or both (how else would it open?)');
      }
    },
    bodyBytes: (o) => WINDOW_AT + windowBytes(o.failureRate?.buckets) + counterSetBytes(COUNTERS.length),
  },
);
export type CircuitBreakerHandle = HandleOf<typeof DEF>;

const windowBytes = (buckets: number | undefined): number => (buckets === undefined ? 0 : padToCacheLine(buckets * 8));

const WAIT_OPTIONS = defineOptions(
  'breaker.waitUntilAsync(state, options)',
  { timeoutMs: timeout(), signal: signal() },
  {
    renamed: { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } },
  },
);

const badFn = (method: string, fn: unknown): InvalidArgumentError =>
  new InvalidArgumentError(`${method}(fn): fn must be a function, got ${describeValue(fn)}`);

/**
 * A circuit breaker whose state every thread shares: one thread's failures
 * open it for all, and all of them then fail fast until it has recovered.
 *
 * CLOSED: calls run; it opens after `failureThreshold` failures in a row, or
 * (with `failureRate`) when failures reach `threshold` of at least
 * `minimumCalls` calls in the rolling window. OPEN: `execute` rejects at once
 * with `CircuitOpenError`, whose `retryAfterMs` is the time left (for an HTTP
 * 503 with `Retry-After`). After `resetTimeoutMs` it is HALF_OPEN: at most
 * `halfOpenMaxCalls` probe calls are admitted across all threads (the others
 * get CircuitOpenError); a probe's success closes it, a failure reopens it.
 * Exactly one thread wins each transition. `timeoutMs` fails a call that has
 * not settled in time (rejecting its caller with TimeoutError and aborting
 * the `signal` it was given); `isFailure` picks which errors count. Whatever
 * `fn` throws (an Error or not) reaches the caller unchanged.
 *
 * `onStateChange(listener)` calls the listener in this thread once per
 * transition, in order, whichever thread made it (`onBreak`, `onReset` and
 * `onHalfOpen`, as cockatiel's, for the transitions into OPEN, CLOSED and
 * HALF_OPEN); `waitUntil` (blocking) and
 * `waitUntilAsync` wait for a state. An OPEN breaker becomes HALF_OPEN when the first thread looks after
 * the reset timeout (a call, `state`, `stats()`, a waiter): with no traffic
 * and no one looking, it stays OPEN.
 *
 * Memory synchronization: a transition happens-before every call admitted
 * under the state it produced, and before its delivery to each subscriber.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a threshold, timeout
 *   or window that is zero, negative, NaN or too large; a `fn` that is not a
 *   function; `executeSync` of a function that returns a promise
 * @throws CircuitOpenError (`ERR_CIRCUIT_OPEN`) when OPEN, or HALF_OPEN with
 *   every probe slot taken
 * @throws TimeoutError (`ERR_TIMEOUT`) when a call passes `timeoutMs`, or a
 *   wait its timeout
 * @throws AbortError (`ERR_ABORTED`) when a `waitUntilAsync` signal fires
 * @throws HandleError (`ERR_HANDLE`) from `from` for a handle that is not a breaker's
 *
 * @example
 * ```ts
 * const payments = new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 30_000, timeoutMs: 2_000 }); // pass payments.handle to workers
 * // in each worker:
 * const breaker = CircuitBreaker.from(workerData.payments);
 * try {
 *   return await breaker.execute(({ signal }) => fetch(url, { signal }));
 * } catch (e) {
 *   // from any thread: the guard gives a crossed error its class and fields back
 *   if (isSabreError(e, 'ERR_CIRCUIT_OPEN')) return reply(503, { 'Retry-After': Math.ceil(e.retryAfterMs / 1000) });
 *   throw e;
 * }
 * ```
 * @remarks Since 0.1
 */
export class CircuitBreaker {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: CircuitBreakerHandle;
  readonly clock: Clock;
  /** Failures in a row that open the breaker (0: consecutive mode off). */
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;
  readonly halfOpenMaxCalls: number;
  /** The call timeout (Infinity: none). */
  readonly timeoutMs: number;
  readonly failureRate: Readonly<Required<FailureRateOptions>> | undefined;
  /** The control words (STATE, FAILS, PROBES). @internal */
  private readonly words: Int32Array;
  private readonly log: TransitionLog;
  /** The trip rules this breaker was given (trip-rule.ts): each outcome goes to every one. */
  private readonly rules: readonly TripRule[];
  private readonly consecutive: ConsecutiveFailures | undefined;
  private readonly rate: FailureRate | undefined;
  private readonly watcher: TransitionWatcher;
  private readonly isFailure: ((error: unknown) => boolean) | undefined;
  private readonly counters: Record<(typeof COUNTERS)[number], StripedCounter>;
  /** The calls of this object under timeoutMs (undefined without one: CLOSED calls then take the fast path). */
  private readonly deadlines: DeadlineQueue<TimedCall<Admission>> | undefined;
  // The fast path's per-period values, rebuilt when the state word changes.
  private cachedWord = -1;
  private cachedCall!: BreakerCall;
  private onOk!: () => void;
  private onErr!: (error: unknown) => void;

  constructor(options: CircuitBreakerOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    this.isFailure = o.isFailure;
    if (created) new Float64Array(region.buffer, region.bodyOffset + BASE_AT, 1)[0] = this.clock.now(); // before the handle is published
    this.handle = region.handle;
    this.failureThreshold = o.failureThreshold ?? 0;
    this.resetTimeoutMs = o.resetTimeoutMs;
    this.halfOpenMaxCalls = o.halfOpenMaxCalls;
    this.timeoutMs = o.timeoutMs;
    this.failureRate = o.failureRate === undefined ? undefined : Object.freeze({ ...o.failureRate });
    this.words = region.i32(0, CONTROL_WORDS);
    const base = new Float64Array(region.buffer, region.bodyOffset + BASE_AT, 1)[0]!;
    this.log = new TransitionLog(region.i64(LOG_AT, LOG_ENTRIES), base, this.clock);
    const rate = o.failureRate;
    this.consecutive = this.failureThreshold > 0 ? new ConsecutiveFailures(this.words, STATE, FAILS, this.failureThreshold) : undefined;
    this.rate =
      rate === undefined
        ? undefined
        : new FailureRate(
            new FailureWindow(region.i64(WINDOW_AT, rate.buckets), rate.buckets, rate.windowMs, base, this.words, STATE),
            this.clock,
            rate.threshold,
            rate.minimumCalls,
          );
    this.rules = [this.consecutive, this.rate].filter((r) => r !== undefined);
    this.watcher = new TransitionWatcher(this.words, STATE, this.log);
    this.counters = counterSet(region, WINDOW_AT + windowBytes(rate?.buckets), COUNTERS, created ? 'create' : 'open');
    this.deadlines = this.timeoutMs === Infinity ? undefined : new DeadlineQueue<TimedCall<Admission>>(this.timeoutMs, this.expire);
  }

  /**
   * Re-opens a breaker from its handle, in any thread. `isFailure` is a
   * function and cannot travel in the handle: pass it here again.
   * @throws HandleError
   */
  static from(handle: CircuitBreakerHandle, local?: CircuitBreakerLocalOptions): CircuitBreaker {
    return new CircuitBreaker(DEF.open(handle, local));
  }

  /** Bytes a breaker of these options takes (in an arena, rounded up to 128); only `failureRate.buckets` changes it. */
  static byteLength(options: CircuitBreakerOptions): number {
    return DEF.byteLength(options);
  }

  /** The state now (an expired OPEN is moved to HALF_OPEN first). */
  get state(): BreakerState {
    return STATE_NAMES[stateOf(this.current())]!;
  }

  /**
   * Runs `fn` if the breaker admits it, and counts its outcome. Resolves or
   * rejects as `fn` does (a synchronous throw becomes a rejection).
   * Rejects with CircuitOpenError when OPEN (or HALF_OPEN with no probe slot
   * free), TimeoutError after `timeoutMs`.
   */
  execute<T>(fn: (call: BreakerCall) => T | PromiseLike<T>): Promise<T> {
    const word = this.words[STATE]!; // a plain load: see "Plain loads" in the notes
    if ((word & STATE_MASK) !== CLOSED || this.deadlines !== undefined || typeof fn !== 'function') return this.executeSlow(fn, word);
    // Fast path: CLOSED, no timeout. The outcome handlers are made once per
    // period, not per call.
    if (word !== this.cachedWord) this.cachePeriod(word);
    let result: T | PromiseLike<T>;
    try {
      result = fn(this.cachedCall);
    } catch (e) {
      this.onErr(e);
      return Promise.reject(e);
    }
    if (result instanceof Promise) {
      // The caller gets fn's own promise; this reaction is registered first,
      // so the outcome is counted before the caller's await resumes.
      result.then(this.onOk, this.onErr);
      return result;
    }
    if (isThenable(result)) {
      const p = Promise.resolve(result);
      p.then(this.onOk, this.onErr);
      return p;
    }
    this.onOk();
    return Promise.resolve(result);
  }

  /**
   * The synchronous form of `execute`, for CPU-bound work in worker threads.
   * With `timeoutMs`, a call that took longer counts as a failure and throws
   * TimeoutError (its value is discarded: a synchronous call cannot be cut short).
   * @throws InvalidArgumentError if `fn` returns a promise (use `execute`)
   */
  executeSync<T>(fn: (call: BreakerCall) => T): T {
    if (typeof fn !== 'function') throw badFn('executeSync', fn);
    const a = this.admit(load(this.words, STATE));
    const call: BreakerCall =
      a.slot < 0 && a.word === this.cachedWord ? this.cachedCall : { probe: a.slot >= 0, seq: seqOf(a.word), signal: undefined };
    const started = this.timeoutMs === Infinity ? 0 : systemClock.now();
    let value: T;
    try {
      value = fn(call);
    } catch (e) {
      this.settle(a, this.counts(e));
      throw e;
    }
    if (isThenable(value)) {
      Promise.resolve(value).catch(() => {}); // not ours to report
      if (a.slot >= 0) this.releaseProbe(a);
      throw new InvalidArgumentError('executeSync(fn): fn returned a promise; use execute(fn) for asynchronous work');
    }
    if (this.timeoutMs !== Infinity && systemClock.now() - started > this.timeoutMs) {
      this.counters.timeouts.increment();
      this.settle(a, true);
      throw new TimeoutError(`the call took longer than timeoutMs (${this.timeoutMs} ms)`, { timeoutMs: this.timeoutMs });
    }
    this.settle(a, false);
    return value;
  }

  /**
   * Calls `listener` in this thread for each transition from now on, once
   * and in order, whichever thread made it (asynchronously, on this thread's
   * event loop). A subscription does not keep the process or the worker
   * alive. Returns the unsubscribe function.
   */
  onStateChange(listener: TransitionListener): () => void {
    return this.subscribe('onStateChange', listener, undefined);
  }

  /** Calls `listener` for each transition into OPEN (cockatiel's `onBreak`), as `onStateChange` does. Returns the unsubscribe function. */
  onBreak(listener: TransitionListener): () => void {
    return this.subscribe('onBreak', listener, 'OPEN');
  }

  /** Calls `listener` for each transition into CLOSED (cockatiel's `onReset`), as `onStateChange` does. Returns the unsubscribe function. */
  onReset(listener: TransitionListener): () => void {
    return this.subscribe('onReset', listener, 'CLOSED');
  }

  /** Calls `listener` for each transition into HALF_OPEN (cockatiel's `onHalfOpen`), as `onStateChange` does. Returns the unsubscribe function. */
  onHalfOpen(listener: TransitionListener): () => void {
    return this.subscribe('onHalfOpen', listener, 'HALF_OPEN');
  }

  private subscribe(method: string, listener: TransitionListener, to: BreakerState | undefined): () => void {
    if (typeof listener !== 'function')
      throw new InvalidArgumentError(`${method}(listener): listener must be a function, got ${describeValue(listener)}`);
    if (to === undefined) return this.watcher.subscribe(listener);
    return this.watcher.subscribe((t) => {
      if (t.to === to) listener(t);
    });
  }

  /**
   * Blocks this thread until the breaker is in `state` (at once if it is),
   * for worker threads; the main thread should use `waitUntilAsync`.
   * @param timeoutMs how long to wait (default: forever)
   */
  waitUntil(state: BreakerState, timeoutMs?: number): void {
    const target = STATE_CODES[oneOf('state', state, STATE_NAMES)];
    const t = timeoutArg('timeoutMs', timeoutMs);
    runBlocking(this.untilPath(state, target, t));
  }

  /** Resolves when the breaker is in `state` (at once if it is). */
  async waitUntilAsync(state: BreakerState, options?: WaitForStateOptions): Promise<void> {
    const target = STATE_CODES[oneOf('state', state, STATE_NAMES)];
    const o = WAIT_OPTIONS.parse(options);
    if (o.signal?.aborted) throw new AbortError('aborted before waiting', o.signal.reason);
    await runAsync(this.untilPath(state, target, o.timeoutMs), o.signal);
  }

  /** The wait for a state, for both forms (slow-path.ts): parks on STATE until it is `target`, or `timeoutMs` pass. */
  private *untilPath(state: BreakerState, target: number, timeoutMs: number): SlowPath<void> {
    const deadline = toDeadline(timeoutMs);
    // The ticker's check: the state may change by time alone (OPEN → HALF_OPEN), with no write to wake on.
    const watch: Watch = () => stateOf(this.current()) === target;
    for (;;) {
      const word = this.current();
      if (stateOf(word) === target) return;
      if (systemClock.now() >= deadline) throw new TimeoutError(`timed out waiting for the breaker to be ${state}`, { timeoutMs });
      yield { word: this.words, index: STATE, expected: word, deadline, watch };
    }
  }

  /** @deprecated Use `waitUntilAsync` (`SABRE_DEP_WAIT_FOR_STATE`). */
  waitForState(state: BreakerState, options?: WaitForStateOptions): Promise<void> {
    deprecated('SABRE_DEP_WAIT_FOR_STATE', 'CircuitBreaker#waitForState');
    return this.waitUntilAsync(state, options);
  }

  /** @deprecated Use `waitUntil` (`SABRE_DEP_WAIT_FOR_STATE`). */
  waitForStateSync(state: BreakerState, timeoutMs?: number): void {
    deprecated('SABRE_DEP_WAIT_FOR_STATE', 'CircuitBreaker#waitForStateSync');
    this.waitUntil(state, timeoutMs);
  }

  /** A snapshot of the state, the current counts and the totals. */
  stats(): BreakerStats {
    const word = this.current();
    const state = stateOf(word);
    const now = this.clock.now();
    const entry = word === 0 ? undefined : this.log.stamp(word);
    const tag = periodTag(word);
    let probes = 0;
    if (state === HALF_OPEN) {
      for (let i = 0; i < this.halfOpenMaxCalls; i++) {
        const v = load(this.words, PROBES + i);
        if (v !== 0 && (v & ~VALUE_MASK) === tag) probes++;
      }
    }
    const counts = this.rate !== undefined && state === CLOSED ? this.rate.counts(word) : undefined;
    return {
      state: STATE_NAMES[state]!,
      transitions: seqOf(word),
      since: entry?.at ?? this.log.base,
      retryAfterMs: state === OPEN ? this.openWait(word, now) : 0,
      consecutiveFailures: state === CLOSED ? (this.consecutive?.count(word) ?? 0) : 0,
      window:
        this.rate === undefined
          ? undefined
          : {
              calls: counts?.calls ?? 0,
              failures: counts?.failures ?? 0,
              failureRate: counts === undefined || counts.calls === 0 ? 0 : counts.failures / counts.calls,
            },
      probesInFlight: probes,
      successes: this.counters.successes.sum(),
      failures: this.counters.failures.sum(),
      timeouts: this.counters.timeouts.sum(),
      rejections: this.counters.rejections.sum(),
    };
  }

  // ---- admission ----------------------------------------------------------

  private executeSlow<T>(fn: (call: BreakerCall) => T | PromiseLike<T>, word: number): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(badFn('execute', fn));
    let a: Admission;
    try {
      a = this.admit(word);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.run(fn, a);
  }

  /** Admits a call under the state starting from `word`, or throws CircuitOpenError. */
  private admit(word: number): Admission {
    for (;;) {
      const state = stateOf(word);
      if (state === CLOSED) return { word, slot: -1 };
      if (state === OPEN) {
        const wait = this.openWait(word, this.clock.now());
        if (wait > 0) {
          this.counters.rejections.increment();
          throw new CircuitOpenError(`circuit open: calls fail fast until the reset timeout; retry after ${wait} ms`, {
            retryAfterMs: wait,
          });
        }
        this.transition(word, HALF_OPEN); // won or lost, the next round sees HALF_OPEN (or later)
      } else {
        const slot = this.takeProbe(word);
        if (slot >= 0) {
          if (load(this.words, STATE) === word) return { word, slot };
          this.releaseProbe({ word, slot }); // the period ended meanwhile: start over
        } else if (load(this.words, STATE) === word) {
          this.counters.rejections.increment();
          const wait = Math.ceil(this.timeoutMs === Infinity ? this.resetTimeoutMs : this.timeoutMs);
          throw new CircuitOpenError(
            `circuit half-open: all ${this.halfOpenMaxCalls} probe call(s) are in flight; retry after ${wait} ms`,
            { retryAfterMs: wait },
          );
        }
      }
      word = load(this.words, STATE);
    }
  }

  /** OPEN period of `word`: whole ms until probes may pass (0: now, or the word is stale). */
  private openWait(word: number, now: number): number {
    const entry = this.log.stamp(word);
    // At most resetTimeoutMs: the stamp is kept in whole ms, rounded up, so the sum may pass it by under 1 ms.
    return entry === undefined ? 0 : Math.max(0, Math.min(this.resetTimeoutMs, Math.ceil(entry.at + this.resetTimeoutMs - now)));
  }

  /** The state word, with an expired OPEN moved to HALF_OPEN. */
  private current(): number {
    let word = load(this.words, STATE);
    while (stateOf(word) === OPEN && this.openWait(word, this.clock.now()) === 0) {
      this.transition(word, HALF_OPEN);
      word = load(this.words, STATE);
    }
    return word;
  }

  /**
   * Takes a probe slot for the HALF_OPEN period `word`; -1 if none is free.
   * A slot is free when 0 (every probe frees its slot when it settles, in
   * whatever period) or, on a second look, when its holder is dead. A slot
   * tagged with another period is not free: its probe may still be running,
   * and this thread's `word` may be the stale one.
   */
  private takeProbe(word: number): number {
    const mine = periodTag(word) | HOLDER;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < this.halfOpenMaxCalls; i++) {
        const v = load(this.words, PROBES + i);
        const free = v === 0 || (pass === 1 && this.isDeadHolder(v & VALUE_MASK));
        // Linearization point of a probe's admission (with the load of STATE after it).
        if (free && compareExchange(this.words, PROBES + i, v, mine) === v) return i;
      }
    }
    return -1;
  }

  private isDeadHolder(holder: number): boolean {
    return holder !== HOLDER_UNKNOWN && holder !== HOLDER && !ThreadRegistry.current.isAlive(holder - 1);
  }

  private releaseProbe(a: Admission): void {
    compareExchange(this.words, PROBES + a.slot, periodTag(a.word) | HOLDER, 0);
  }

  // ---- running and outcomes -----------------------------------------------

  private run<T>(fn: (call: BreakerCall) => T | PromiseLike<T>, a: Admission): Promise<T> {
    if (this.deadlines !== undefined) return this.runTimed(fn, a, this.deadlines);
    let result: T | PromiseLike<T>;
    try {
      result = fn({ probe: a.slot >= 0, seq: seqOf(a.word), signal: undefined });
    } catch (e) {
      this.settle(a, this.counts(e));
      return Promise.reject(e);
    }
    if (!isThenable(result)) {
      this.settle(a, false);
      return Promise.resolve(result);
    }
    const p = Promise.resolve(result);
    p.then(
      () => this.settle(a, false),
      (e: unknown) => this.settle(a, this.counts(e)),
    );
    return p;
  }

  /** A call under timeoutMs: the caller gets a promise of its own, rejected at the deadline (call-timeouts.ts). */
  private runTimed<T>(
    fn: (call: BreakerCall) => T | PromiseLike<T>,
    a: Admission,
    deadlines: DeadlineQueue<TimedCall<Admission>>,
  ): Promise<T> {
    const call = new TimedCall<Admission>(a.slot >= 0, seqOf(a.word), a);
    deadlines.add(call);
    let result: T | PromiseLike<T>;
    try {
      result = fn(call);
    } catch (e) {
      deadlines.finish(call);
      this.settle(a, this.counts(e));
      return Promise.reject(e);
    }
    if (!isThenable(result)) {
      deadlines.finish(call);
      this.settle(a, false);
      return Promise.resolve(result);
    }
    return new Promise<T>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
      Promise.resolve(result).then(
        (value) => {
          if (!deadlines.finish(call)) return;
          this.settle(a, false);
          resolve(value);
        },
        (e: unknown) => {
          if (!deadlines.finish(call)) return;
          this.settle(a, this.counts(e));
          reject(e);
        },
      );
    });
  }

  /** A call passed its deadline: it fails, its caller gets TimeoutError, its signal aborts. */
  private readonly expire = (call: TimedCall<Admission>): void => {
    const error = new TimeoutError(`the call did not settle within timeoutMs (${this.timeoutMs} ms)`, { timeoutMs: this.timeoutMs });
    this.counters.timeouts.increment();
    this.settle(call.admission, true);
    call.abort(error);
    call.reject(error);
  };

  /** Whether a thrown value counts as a failure (isFailure; a throwing filter counts it). */
  private counts(error: unknown): boolean {
    if (this.isFailure === undefined) return true;
    try {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- a JavaScript filter may return any truthy value
      return Boolean(this.isFailure(error));
    } catch {
      return true;
    }
  }

  private cachePeriod(word: number): void {
    const a: Admission = { word, slot: -1 };
    this.cachedWord = word;
    this.cachedCall = Object.freeze({ probe: false, seq: seqOf(word), signal: undefined });
    this.onOk = () => {
      this.counters.successes.increment();
      this.recordSuccess(word);
    };
    this.onErr = (e: unknown) => this.settle(a, this.counts(e));
  }

  /** Counts a call's outcome and moves the breaker if it decides a transition. */
  private settle(a: Admission, failed: boolean): void {
    (failed ? this.counters.failures : this.counters.successes).increment();
    if (a.slot >= 0) {
      this.transition(a.word, failed ? OPEN : CLOSED);
      this.releaseProbe(a);
    } else if (failed) {
      if (this.recordFailure(a.word)) this.transition(a.word, OPEN);
    } else {
      this.recordSuccess(a.word);
    }
  }

  /** A success of the CLOSED period `word`, told to every trip rule. */
  private recordSuccess(word: number): void {
    for (const rule of this.rules) rule.success(word);
  }

  /** A failure of the CLOSED period `word`, told to every trip rule; true if any says the breaker should open. */
  private recordFailure(word: number): boolean {
    let trip = false;
    for (const rule of this.rules) if (rule.failure(word)) trip = true;
    return trip;
  }

  /**
   * Moves the breaker out of the period `word` into `to`. Returns false if
   * another thread moved it first (the word is stale).
   */
  private transition(word: number, to: StateCode): boolean {
    if (word !== 0) this.log.stamp(word); // the current period's entry first: the log never has holes
    const next = nextWord(word, to);
    // Linearization point of every transition: exactly one thread's CAS from `word` succeeds.
    if (compareExchange(this.words, STATE, word, next) !== word) return false;
    this.log.stamp(next);
    if (to === CLOSED) for (const rule of this.rules) rule.closed(next);
    notify(this.words, STATE);
    if (breakerState.hasSubscribers) breakerState.publish({ breaker: this, from: STATE_NAMES[stateOf(word)]!, to: STATE_NAMES[to]! });
    return true;
  }
}
