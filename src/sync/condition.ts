/**
 * Condition: a condition variable over a Mutex, across every thread of the process.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { systemClock } from '../clock.js';
import { AbortError, InvalidArgumentError, NotOwnerError, isSabreError } from '../errors.js';
import { describeValue, isInstance, nonNegativeInteger } from '../validate.js';
import { boolean } from '../options/field.js';
import { waitAsyncOptions, waitOptions } from '../options/wait.js';
import { Mutex } from './mutex.js';
import { seenStamp, seenWithin, uncount } from './waiter-count.js';
import { LIVENESS_SLICE_MS, toDeadline, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';

const { add, compareExchange, load, notify, store } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Words (Int32, in the region body):
 *   SEQ      bumped by every notify that finds a waiter (futex-style condvar)
 *   WAITERS  threads (or async tasks) between registering in wait and leaving it
 *
 * wait(m): add WAITERS, read SEQ, unlock m, park on SEQ (in slices) until SEQ
 * differs from what it read or the deadline passes, sub WAITERS, re-lock m.
 * notify(n): if WAITERS > 0, add 1 to SEQ, then Atomics.notify(SEQ, n).
 *
 * No lost wake-up: SEQ is read while the mutex is still held. A notifier that
 * runs after the unlock (it takes the mutex, changes the predicate, notifies)
 * reads WAITERS after the waiter's add (which preceded the unlock), so it
 * bumps SEQ after the waiter's read: the waiter either is parked and gets the
 * notify, or parks later on a stale SEQ and returns at once ('not-equal').
 * A notify with WAITERS = 0 has no waiter that registered before it: skipping
 * it loses nothing.
 *
 * Linearization points: wait registers at its read of SEQ and is notified by
 * the first SEQ bump after it; notify = its add on SEQ.
 *
 * "Notified" means "SEQ moved": a waiter re-checks SEQ after every slice
 * (LIVENESS_SLICE_MS), not only after an 'ok'. That is what bounds the loss
 * when a wake-up reaches a waiter that cannot use it:
 *   - an async waiter that timed out or was aborted: park.ts passes the
 *     wake-up on (notify(1) again), at once;
 *   - a waiter thread that dies while parked: V8 removes a terminated thread's
 *     futex waiter (measured on Node 20: notify(1) after terminate() wakes the
 *     live waiter), so nothing is lost;
 *   - a waiter thread that dies after the notify woke it, before it returned:
 *     that wake-up is gone; every other waiter that was waiting when it
 *     happened returns within one slice, because it sees SEQ moved.
 * The price: `notify(1)` wakes one waiter at once and may let the others that
 * were waiting at that moment return within a slice (spurious wake-ups, which
 * condition variables allow: always wait in a loop).
 * A notifier dying between its SEQ bump and its Atomics.notify: waiters return
 * within a slice, as above.
 *
 * A waiter dying between its WAITERS add and sub leaves WAITERS too high
 * (later notifies would bump SEQ and call Atomics.notify for nobody, and
 * `waiters` would count it, for good). Repaired by liveness, as the Mutex's
 * dead waiters are: every live waiter writes SEEN (a ms stamp, never 0)
 * before it counts itself and again at least once per slice (a blocked one
 * when its slice ends, an async one from its thread's ticker). A count with
 * SEEN older than three slices belongs to dead waiters only: whoever finds it
 * (a notify, `waiters`) zeroes it, reading WAITERS before SEEN, so a waiter
 * counted later (which wrote SEEN first) is never erased. A live waiter that
 * was only slow for three slices loses its count: a notify may then skip it,
 * and it returns at the end of its slice (seeing SEQ moved, if it did); the
 * count never goes below 0.
 */

const SEQ = 0,
  WAITERS = 1,
  SEEN = 2,
  WORDS = 3;
/** A count whose waiters have not been seen running for this long is a dead waiters' count. */
const STALE_MS = 3 * LIVENESS_SLICE_MS;

export interface ConditionOptions {
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

/** Options of `wait`. */
export interface ConditionWaitOptions {
  /** Milliseconds to wait for a notification (default: forever). */
  readonly timeoutMs?: number;
  /** Do not throw OwnerDiedError when the re-acquired mutex is poisoned. */
  readonly ignorePoison?: boolean;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
/** Options of `waitAsync`. */
export interface ConditionWaitAsyncOptions extends ConditionWaitOptions {
  readonly signal?: AbortSignal;
}

const DEF = definePrimitive('Condition', 2, {}, { bodyBytes: () => WORDS * 4 });
export type ConditionHandle = HandleOf<typeof DEF>;

const WAIT = waitOptions('condition.wait(mutex, options)', { ignorePoison: boolean() });
const WAIT_ASYNC = waitAsyncOptions('condition.waitAsync(mutex, options)', { ignorePoison: boolean() });

function checkMutex(mutex: unknown): Mutex {
  if (!isInstance(mutex, Mutex))
    throw new InvalidArgumentError(`mutex must be a Mutex (open a handle with Mutex.from), got ${describeValue(mutex)}`);
  if (mutex.ownerThreadId !== threadId) {
    const owner = mutex.ownerThreadId;
    throw new NotOwnerError(
      owner < 0
        ? 'Condition wait with a mutex that is not locked: lock it first'
        : `Condition wait with a mutex held by thread ${owner} (this is thread ${threadId})`,
    );
  }
  return mutex;
}

/**
 * A condition variable: threads wait, with a Mutex held, until another thread
 * changes the state the mutex protects and notifies them.
 *
 * `wait(mutex)` atomically releases `mutex` and waits; it re-acquires the
 * mutex before it returns or throws, always (as Java's `Condition.await`), so
 * `finally { mutex.unlock() }` is always right. It returns true when notified
 * and false when its timeout passed. Spurious wake-ups happen (as with
 * pthread and Java condition variables): **always wait in a loop** on the
 * predicate.
 *
 * `notify(n)` wakes up to n waiters that were waiting when it was called;
 * `notifyAll()` wakes them all. A notify reaches every wait that released its
 * mutex before it: a wait never misses a notify that follows its unlock (no
 * lost wake-up). Notify while holding the mutex to make the wake-up order
 * predictable; it is allowed without.
 *
 * Owner death and abandoned waits: a waiter that times out, is aborted, or
 * dies does not swallow a `notify(1)` meant for a live waiter for longer than
 * `LIVENESS_SLICE_MS` (usually not at all). The cost: after a `notify(1)`,
 * other waiters of that moment may wake within that time too (a spurious
 * wake-up). If the mutex is poisoned when wait re-acquires it (an owner died
 * holding it), wait re-acquires it anyway and throws `OwnerDiedError`, as a
 * pthread robust mutex returns EOWNERDEAD with the mutex held (as Rust's
 * `Condvar::wait`, it does so for as long as the poison stays;
 * `ignorePoison`: return normally).
 *
 * Memory synchronization: what a thread wrote before `notify` is visible to a
 * waiter it wakes once that waiter returns (the waiter re-acquires the mutex).
 *
 * @throws NotOwnerError (`ERR_NOT_OWNER`) from `wait` when this thread does not hold the mutex
 * @throws AbortError (`ERR_ABORTED`) from `waitAsync` when its signal fires (mutex re-acquired)
 * @throws OwnerDiedError (`ERR_OWNER_DIED`) when the re-acquired mutex is poisoned (mutex held)
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a bad timeout, count or mutex
 *
 * @example
 * ```ts
 * const mutex = new Mutex(), nonEmpty = new Condition();
 * // consumer (any thread):
 * mutex.lock();
 * try {
 *   while (queue.length === 0) nonEmpty.wait(mutex);
 *   take(queue);
 * } finally {
 *   mutex.unlock();
 * }
 * // producer:
 * await mutex.runExclusive(() => { put(queue, item); nonEmpty.notify(); });
 * ```
 */
export class Condition {
  readonly handle: ConditionHandle;
  private readonly words: Int32Array;

  constructor(options?: ConditionOptions | OpenedOf<typeof DEF>) {
    const { region } = DEF.resolve(options);
    this.handle = region.handle;
    this.words = region.i32(0, WORDS);
  }

  /** Re-opens a condition from its handle, in any thread. @throws HandleError */
  static from(handle: ConditionHandle): Condition {
    return new Condition(DEF.open(handle));
  }

  /** Bytes a Condition takes (in an arena, rounded up to 128). */
  static byteLength(options?: ConditionOptions): number {
    return DEF.byteLength(options);
  }

  /** A snapshot of its state, for metrics. */
  stats(): { readonly waiters: number } {
    return { waiters: this.liveWaiters() };
  }

  /** Threads (and async tasks) waiting now (a snapshot; a waiter that died stops counting within three slices). */
  get waiters(): number {
    return this.liveWaiters();
  }

  /** WAITERS, after zeroing it if its waiters have not been seen running for STALE_MS (see the notes). */
  private liveWaiters(): number {
    const n = load(this.words, WAITERS);
    if (n <= 0) return 0;
    if (seenWithin(load(this.words, SEEN), STALE_MS)) return n;
    compareExchange(this.words, WAITERS, n, 0);
    return Math.max(0, load(this.words, WAITERS));
  }

  /**
   * Releases `mutex`, blocks this thread until notified or `timeoutMs` pass,
   * re-acquires `mutex`. Returns true when notified, false on timeout.
   * @param options a timeout in ms, or `{ timeoutMs, ignorePoison }`
   */
  wait(mutex: Mutex, options?: number | ConditionWaitOptions): boolean {
    const o = WAIT.parse(options);
    const m = checkMutex(mutex);
    const notified = runBlocking(this.sleepPath(m, toDeadline(o.timeoutMs)));
    this.relockSync(m, o.ignorePoison);
    return notified;
  }

  /**
   * The sleep of a wait, for both forms (slow-path.ts): counts itself a
   * waiter, reads SEQ while `m` is held, releases `m`, and parks until SEQ
   * moves (true) or the deadline passes (false). The caller re-acquires `m`.
   */
  private *sleepPath(m: Mutex, deadline: number): SlowPath<boolean> {
    store(this.words, SEEN, seenStamp()); // before the count: a repair that sees the count sees this too
    add(this.words, WAITERS, 1);
    const seq = load(this.words, SEQ); // linearization point: read while the mutex is held
    try {
      m.unlock();
      for (;;) {
        yield { word: this.words, index: SEQ, expected: seq, deadline, watch: this.watch };
        store(this.words, SEEN, seenStamp()); // alive: at least once per slice
        if (load(this.words, SEQ) !== seq) return true;
        if (deadline !== Infinity && systemClock.now() >= deadline) return false;
      }
    } finally {
      uncount(this.words, WAITERS);
    }
  }

  /**
   * The async form of `wait`: never blocks the event loop. Rejects with
   * AbortError when `signal` fires (after re-acquiring the mutex; an
   * already-aborted signal rejects without releasing it).
   */
  /** SEQ at the ticker's last look: a change since wakes every parked async waiter to look, as a slice did. */
  private seenByTicker = 0;
  private readonly watch: Watch = () => {
    store(this.words, SEEN, seenStamp()); // this thread's parked async waiters are alive
    const seq = load(this.words, SEQ);
    const moved = seq !== this.seenByTicker;
    this.seenByTicker = seq;
    return moved;
  };

  async waitAsync(mutex: Mutex, options?: number | ConditionWaitAsyncOptions): Promise<boolean> {
    const o = WAIT_ASYNC.parse(options);
    const m = checkMutex(mutex);
    const signal = o.signal;
    if (signal?.aborted) throw new AbortError('aborted before waiting', signal.reason);
    let notified = false;
    let failure: { readonly thrown: unknown } | undefined; // boxed: whatever was thrown, even undefined
    try {
      notified = await runAsync(this.sleepPath(m, toDeadline(o.timeoutMs)), signal);
    } catch (e) {
      failure = { thrown: e };
    }
    await this.relockAsync(m, o.ignorePoison);
    if (failure !== undefined) throw failure.thrown;
    return notified;
  }

  /**
   * Wakes up to `n` (default 1) of the threads waiting now. Waiters that
   * start waiting after this call are not woken by it.
   */
  notify(n = 1): void {
    nonNegativeInteger('n', n);
    if (n === 0 || this.liveWaiters() === 0) return;
    add(this.words, SEQ, 1); // linearization point
    notify(this.words, SEQ, n);
  }

  /** Wakes every thread waiting now. */
  notifyAll(): void {
    if (this.liveWaiters() === 0) return;
    add(this.words, SEQ, 1); // linearization point
    notify(this.words, SEQ);
  }

  private relockSync(m: Mutex, ignorePoison: boolean): void {
    try {
      m.lock();
    } catch (e) {
      if (!isSabreError(e, 'ERR_OWNER_DIED')) throw e;
      m.lock({ ignorePoison: true });
      if (!ignorePoison) throw e;
    }
  }

  private async relockAsync(m: Mutex, ignorePoison: boolean): Promise<void> {
    try {
      await m.lockAsync();
    } catch (e) {
      if (!isSabreError(e, 'ERR_OWNER_DIED')) throw e;
      await m.lockAsync({ ignorePoison: true });
      if (!ignorePoison) throw e;
    }
  }
}
