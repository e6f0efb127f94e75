/**
 * Mutex: mutual exclusion across every thread of the process.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { createRegion, openRegion, Region, regionBytes, type Handle, type RegionSpec } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { systemClock } from '../clock.js';
import { DeadlockError, HandleError, InvalidArgumentError, NotOwnerError, OwnerDiedError, TimeoutError } from '../errors.js';
import { plainObject, timeoutMs as checkTimeout } from '../validate.js';
import { parkAsync, parkSync, toDeadline } from './park.js';

const { add, compareExchange, load, notify, store, sub } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Words (Int32, in the region body):
 *   STATE     owner (threadId + 1) in the low OWNER_BITS, then the flags below
 *   STARVING  1 while some waiter has waited longer than STARVATION_MS (handoff mode)
 *   WAITERS   number of threads (or async tasks) between "about to park" and "woke"
 *
 * STATE, every legal combination (owner 0 = free):
 *   owner | POISONED | PARKED | HANDOFF | meaning                      | who moves it, to what
 *   0     | 0        | 0      | 0       | free, nobody parked          | lock: CAS → me (the fast path)
 *   t     | 0        | 0      | 0       | held by t, nobody parked     | t's unlock: CAS → 0 (the fast path)
 *   t     | p        | 1      | 0       | held, waiters may be parked  | t's unlock: → p (or p|PARKED|HANDOFF), notify(1)
 *   0     | p        | 1      | 0       | free, a woken waiter is due  | any locker: CAS → me|p|PARKED
 *   0     | p        | 1      | 1       | handed off                   | only a thread that has parked: CAS → me|p|PARKED
 *   0     | 1        | x      | 0       | poisoned (owner died)        | lock throws OwnerDiedError; clearPoison: → 0|x
 *   t     | 1        | x      | 0       | held with ignorePoison       | as "held"; the poison stays
 *   dead t| p        | x      | 0       | owner died holding it        | any waiter that proves t dead: CAS → 1|x, notify(all)
 * Invariant: HANDOFF implies owner 0 and PARKED; a parked thread's WAITERS
 * increment happens before its PARKED CAS is read by an unlocker.
 *
 * Linearization points: lock = the CAS that writes `me` into the owner field;
 * unlock = the CAS (or fast-path CAS) that clears it; recovery = the CAS that
 * replaces a dead owner with POISONED.
 *
 * Fairness policy (as Go's sync.Mutex): normally a newcomer may barge ahead of
 * a woken waiter (throughput: no context switch per handover). A waiter that
 * has waited longer than STARVATION_MS sets STARVING; unlock then hands the
 * lock to a parked waiter (HANDOFF) instead of freeing it, and newcomers park.
 * The taker ends handoff mode if it waited less than STARVATION_MS or no one
 * else waits. So no thread waits behind an unbounded stream of barging
 * newcomers; `bench/` reports the split per 150 ms window.
 *
 * Leaving: a waiter that has parked and then gives up (timeout, abort) may
 * have been counted in WAITERS by an unlock that handed off to "a parked
 * waiter" just as it left. Unlock writes STATE then re-reads WAITERS; a
 * leaver decrements WAITERS then re-reads STATE (Dekker): one of them sees
 * the other and turns the orphaned handoff back into a free lock, notifying a
 * waiter. Without this, the lock stayed free but unobtainable (tryLock false)
 * until some waiter's liveness slice ran out.
 *
 * Owner death: a dying thread can stop between any two lines, but every state
 * change is one CAS on STATE, so it leaves either "held by t" or not. Waiters
 * park in slices (park.ts) and check the owner's liveness when a slice times
 * out; `tryLock` and every lock attempt check the registry's dead bit. A thread
 * dying while parked leaves WAITERS one too high: that only makes one unlock
 * notify (or hand off to) nobody, which the slices repair within one slice.
 */

const OWNER_BITS = 28;
const OWNER_MASK = (1 << OWNER_BITS) - 1;
const POISONED = 1 << OWNER_BITS;
const PARKED = 1 << (OWNER_BITS + 1);
const HANDOFF = 1 << (OWNER_BITS + 2);

const STATE = 0, STARVING = 1, WAITERS = 2, WORDS = 4;

/** A waiter that has waited this long asks for handoff (Go's starvationThresholdNs). */
export const STARVATION_MS = 1;

export interface MutexOptions {
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
type MutexHandleOptions = Record<string, never>;
export type MutexHandle = Handle<'sabre.Mutex', MutexHandleOptions>;

export interface LockOptions {
  /** Milliseconds to wait (default: forever). 0 = try once. */
  readonly timeout?: number;
  /** Acquire even if a previous owner died holding the lock (the poison stays). */
  readonly ignorePoison?: boolean;
}
export interface LockAsyncOptions extends LockOptions {
  readonly signal?: AbortSignal;
}

const SPEC: RegionSpec<'sabre.Mutex', MutexHandleOptions> = {
  kind: 'sabre.Mutex',
  version: 1,
  bodyBytes: () => WORDS * 4,
};

function checkHandleOptions(raw: unknown): MutexHandleOptions {
  if (Object.keys(plainObject('options', raw)).length !== 0) throw new InvalidArgumentError('a Mutex handle has no options');
  return {};
}

const DEFAULT_LOCK = Object.freeze({ timeout: Infinity, ignorePoison: false });

function lockOptions(raw: number | LockOptions | undefined): { timeout: number; ignorePoison: boolean } {
  if (typeof raw === 'number' || raw === undefined) return { timeout: checkTimeout('timeout', raw), ignorePoison: false };
  const o = plainObject('options', raw) as LockOptions;
  return { timeout: checkTimeout('timeout', o.timeout), ignorePoison: o.ignorePoison === true };
}

/** Int32 words an embedded mutex takes (`Mutex.embedded`). @internal */
export const MUTEX_WORDS = WORDS;

/** Marks the words of a mutex embedded in another primitive's region. */
class EmbeddedMutexWords {
  constructor(readonly words: Int32Array) {}
}

const me = threadId + 1;
const registry = (): ThreadRegistry => ThreadRegistry.current;

/** Held lock; `using` / `await using` release it at the end of the scope. */
export class MutexGuard implements Disposable, AsyncDisposable {
  private held = true;
  /** @internal */
  constructor(private readonly mutex: Mutex) {}
  /** Releases the lock (once; later calls do nothing). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.mutex.unlock();
  }
  [Symbol.dispose](): void {
    this.release();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

/**
 * A mutual-exclusion lock shared by every thread that opens its handle.
 *
 * At most one thread holds it at a time. `unlock()` happens-before the next
 * successful `lock()` in any thread: everything the holder wrote to shared
 * memory is visible to the next holder. The owner is the thread
 * (`worker_threads.threadId`), not the async task: in one thread, concurrent
 * `runExclusive` calls queue, but any code of the owning thread may unlock.
 *
 * If the owner thread dies holding the lock, the lock is released and
 * *poisoned* (as in Rust's std): every later acquisition throws
 * `OwnerDiedError` until `clearPoison()`, or acquires anyway with
 * `{ ignorePoison: true }`. Waiters learn of the death within
 * `LIVENESS_SLICE_MS` of the thread stopping, whatever the dead thread's parent
 * is doing.
 *
 * @throws TimeoutError (`ERR_TIMEOUT`) when a wait passes its timeout
 * @throws AbortError (`ERR_ABORTED`) when an async wait's signal fires
 * @throws DeadlockError (`ERR_DEADLOCK`) when the owner thread calls a blocking `lock`
 * @throws NotOwnerError (`ERR_NOT_OWNER`) on `unlock` by a thread that does not hold it
 * @throws OwnerDiedError (`ERR_OWNER_DIED`) while the lock is poisoned
 *
 * @example
 * ```ts
 * const mutex = new Mutex();
 * const total = new Int32Array(new SharedArrayBuffer(4));
 * await pool.run({ mutex: mutex.handle, total });  // a worker: Mutex.from(handle)
 * await mutex.runExclusive(async () => { total[0] = total[0]! + 1; });
 * ```
 */
export class Mutex {
  private readonly ownHandle: MutexHandle | undefined;
  private readonly words: Int32Array;

  constructor(options: MutexOptions | Region<'sabre.Mutex', MutexHandleOptions> | EmbeddedMutexWords = {}) {
    if (options instanceof EmbeddedMutexWords) {
      this.ownHandle = undefined;
      this.words = options.words;
      return;
    }
    const region = options instanceof Region ? options : createRegion(SPEC, {}, plainObject('options', options).arena as SharedArena | undefined);
    this.ownHandle = region.handle;
    this.words = region.i32(0, WORDS);
  }

  /** The structured-cloneable handle; `Mutex.from(handle)` re-opens it in any thread. */
  get handle(): MutexHandle {
    if (this.ownHandle === undefined) throw new HandleError('this mutex is part of another primitive and has no handle of its own');
    return this.ownHandle;
  }

  /**
   * A mutex over `MUTEX_WORDS` zeroed Int32 words inside another primitive's
   * region (a table segment's lock), with the same algorithm and poisoning.
   * @internal
   */
  static embedded(words: Int32Array): Mutex {
    if (words.length !== WORDS) throw new InvalidArgumentError(`an embedded mutex takes ${WORDS} Int32 words, got ${words.length}`);
    return new Mutex(new EmbeddedMutexWords(words));
  }

  /** Re-opens a mutex from its handle, in any thread. @throws HandleError */
  static from(handle: MutexHandle): Mutex {
    return new Mutex(openRegion(SPEC, handle, checkHandleOptions));
  }

  /** Bytes a Mutex takes (in an arena, rounded up to 128). */
  static byteLength(_options: MutexOptions = {}): number {
    return regionBytes(SPEC, {});
  }

  /** True while some thread holds the lock (a snapshot). */
  get isLocked(): boolean {
    return (load(this.words, STATE) & OWNER_MASK) !== 0;
  }

  /** True after an owner died holding the lock, until `clearPoison()`. */
  get isPoisoned(): boolean {
    return (load(this.words, STATE) & POISONED) !== 0;
  }

  /** The threadId of the holder, or -1 when free (a snapshot, for diagnostics). */
  get ownerThreadId(): number {
    return (load(this.words, STATE) & OWNER_MASK) - 1;
  }

  /** Acknowledges a previous owner's death: later acquisitions succeed normally. */
  clearPoison(): void {
    for (;;) {
      const s = load(this.words, STATE);
      if ((s & POISONED) === 0 || compareExchange(this.words, STATE, s, s & ~POISONED) === s) return;
    }
  }

  /**
   * Takes the lock if it is free, without waiting. Returns false if another
   * thread (or this one) holds it.
   * @throws OwnerDiedError while poisoned (unless `ignorePoison`)
   */
  tryLock(options: { ignorePoison?: boolean } = {}): boolean {
    if (compareExchange(this.words, STATE, 0, me) === 0) return true;
    return this.tryLockSlow(options.ignorePoison === true);
  }

  /**
   * Blocks this thread until the lock is taken. Blocking the main thread
   * stalls its event loop: there, prefer `lockAsync` / `runExclusive`.
   * @param options a timeout in ms, or `{ timeout, ignorePoison }`
   */
  lock(options?: number | LockOptions): void {
    // Options are validated before the fast path: a bad timeout is an error even when the lock is free.
    const o = options === undefined ? DEFAULT_LOCK : lockOptions(options);
    if (compareExchange(this.words, STATE, 0, me) === 0) return;
    this.lockSlow(toDeadline(o.timeout), o.ignorePoison);
  }

  /** Waits without blocking the event loop. */
  async lockAsync(options?: LockAsyncOptions): Promise<void> {
    const o = options === undefined ? DEFAULT_LOCK : lockOptions(options);
    if (compareExchange(this.words, STATE, 0, me) === 0) return;
    await this.lockAsyncSlow(toDeadline(o.timeout), o.ignorePoison, options?.signal);
  }

  /**
   * Releases the lock and wakes one waiter.
   * @throws NotOwnerError if this thread does not hold it
   */
  unlock(): void {
    if (compareExchange(this.words, STATE, me, 0) === me) return;
    this.unlockSlow();
  }

  /** Takes the lock and returns a guard for `using` (`guard.release()` also works). */
  acquire(options?: number | LockOptions): MutexGuard {
    this.lock(options);
    return new MutexGuard(this);
  }

  /** The async form of `acquire`, for `await using`. */
  async acquireAsync(options?: LockAsyncOptions): Promise<MutexGuard> {
    await this.lockAsync(options);
    return new MutexGuard(this);
  }

  /** Runs synchronous `fn` under the lock (blocking to get it). */
  withLock<T>(fn: () => T, options?: number | LockOptions): T {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`withLock(fn): fn must be a function, got ${typeof fn}`);
    this.lock(options);
    let result: T;
    try {
      result = fn();
    } finally {
      this.unlock();
    }
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new InvalidArgumentError('withLock(fn): fn returned a promise, and the lock was released before it settled; use runExclusive for async work');
    }
    return result;
  }

  /**
   * Runs `fn` (sync or async) under the lock, never blocking the event loop.
   * The lock is released when `fn`'s result settles.
   */
  runExclusive<T>(fn: () => T | PromiseLike<T>, options?: LockAsyncOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new InvalidArgumentError(`runExclusive(fn): fn must be a function, got ${typeof fn}`));
    let o: { timeout: number; ignorePoison: boolean };
    try {
      o = options === undefined ? DEFAULT_LOCK : lockOptions(options);
    } catch (e) {
      return Promise.reject(e);
    }
    // Fast path: no await at all when the lock is free and fn is synchronous.
    if (compareExchange(this.words, STATE, 0, me) === 0) return this.runLocked(fn);
    return this.runExclusiveSlow(fn, o, options?.signal);
  }

  private async runExclusiveSlow<T>(fn: () => T | PromiseLike<T>, o: { timeout: number; ignorePoison: boolean }, signal: AbortSignal | undefined): Promise<T> {
    await this.lockAsyncSlow(toDeadline(o.timeout), o.ignorePoison, signal);
    return this.runLocked(fn);
  }

  /** Calls `fn` while holding the lock; unlocks when its result settles. */
  private runLocked<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (e) {
      this.unlock();
      return Promise.reject(e);
    }
    if (typeof (result as PromiseLike<T> | null)?.then !== 'function') {
      this.unlock();
      return Promise.resolve(result as T);
    }
    return Promise.resolve(result).then(
      (value) => {
        this.unlock();
        return value;
      },
      (error: unknown) => {
        this.unlock();
        throw error;
      },
    );
  }

  // ---- slow paths ------------------------------------------------------

  private tryLockSlow(ignorePoison: boolean): boolean {
    for (;;) {
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner !== 0 && owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner !== 0 || (s & HANDOFF) !== 0) return false;
      if (compareExchange(this.words, STATE, s, this.acquiredState(s)) === s) return true;
    }
  }

  private lockSlow(deadline: number, ignorePoison: boolean): void {
    const backoff = new Backoff();
    let parkedAt = 0; // systemClock time of the first park; 0 = never parked
    try {
      this.lockSlowLoop(deadline, ignorePoison, backoff, (t) => (parkedAt = t));
    } catch (e) {
      if (parkedAt !== 0) this.leave();
      throw e;
    }
  }

  private lockSlowLoop(deadline: number, ignorePoison: boolean, backoff: Backoff, parked: (at: number) => void): void {
    let parkedAt = 0;
    for (;;) {
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner === me) throw new DeadlockError('lock() of a mutex this thread already holds (it is not reentrant)');
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner === 0 && ((s & HANDOFF) === 0 || parkedAt !== 0)) {
        if (compareExchange(this.words, STATE, s, this.acquiredState(s)) === s) {
          if (parkedAt !== 0) this.tookAfterParking(parkedAt);
          return;
        }
        backoff.spin();
        continue;
      }
      if (parkedAt === 0 && !backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      // Before each park (not each spin): is the owner still alive?
      if (owner !== 0 && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError();
      const expected = this.markParked(s, parkedAt);
      if (expected === undefined) continue;
      add(this.words, WAITERS, 1);
      parkSync(this.words, STATE, expected, deadline);
      sub(this.words, WAITERS, 1);
      if (parkedAt === 0) parked((parkedAt = systemClock.now()));
    }
  }

  private async lockAsyncSlow(deadline: number, ignorePoison: boolean, signal: AbortSignal | undefined): Promise<void> {
    let parkedAt = 0;
    try {
      await this.lockAsyncSlowLoop(deadline, ignorePoison, signal, (t) => (parkedAt = t));
    } catch (e) {
      if (parkedAt !== 0) this.leave();
      throw e;
    }
  }

  private async lockAsyncSlowLoop(deadline: number, ignorePoison: boolean, signal: AbortSignal | undefined, parked: (at: number) => void): Promise<void> {
    const backoff = new Backoff();
    let parkedAt = 0;
    for (;;) {
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner === 0 && ((s & HANDOFF) === 0 || parkedAt !== 0)) {
        if (compareExchange(this.words, STATE, s, this.acquiredState(s)) === s) {
          if (parkedAt !== 0) this.tookAfterParking(parkedAt);
          return;
        }
        continue;
      }
      // owner === me is not a deadlock here: another task of this thread holds it
      // (and cannot release it while this task spins, so park at once).
      // Otherwise a short spin first: a lock held by another thread is usually
      // free again within nanoseconds, and an async park costs a microtask
      // round trip and a cross-thread notify. The spin blocks this event loop
      // for at most a few microseconds.
      if (owner !== me && parkedAt === 0 && !backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      if (owner !== 0 && owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError();
      const expected = this.markParked(s, parkedAt);
      if (expected === undefined) continue;
      add(this.words, WAITERS, 1);
      if (parkedAt === 0) parked(systemClock.now()); // from here on a handoff may be meant for this waiter
      try {
        await parkAsync(this.words, STATE, expected, deadline, signal);
      } finally {
        sub(this.words, WAITERS, 1);
      }
      if (parkedAt === 0) parkedAt = systemClock.now();
    }
  }

  /** Sets PARKED (and STARVING if this waiter is starving); returns the value to park on. */
  private markParked(s: number, parkedAt: number): number | undefined {
    if (parkedAt !== 0 && systemClock.now() - parkedAt > STARVATION_MS) store(this.words, STARVING, 1);
    if ((s & PARKED) !== 0) return s;
    return compareExchange(this.words, STATE, s, s | PARKED) === s ? s | PARKED : undefined;
  }

  /** The state after `me` takes a free lock found as `s`: keeps POISONED, keeps or sets PARKED. */
  private acquiredState(s: number): number {
    const parked = (s & PARKED) !== 0 || load(this.words, WAITERS) > 0 ? PARKED : 0;
    return me | (s & POISONED) | parked;
  }

  /** A waiter that got the lock ends handoff mode unless it, too, starved and others wait. */
  private tookAfterParking(parkedAt: number): void {
    if (systemClock.now() - parkedAt <= STARVATION_MS || load(this.words, WAITERS) === 0) store(this.words, STARVING, 0);
  }

  private unlockSlow(): void {
    for (;;) {
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner !== me) {
        throw new NotOwnerError(owner === 0 ? 'unlock of an unlocked mutex' : `unlock of a mutex held by thread ${owner - 1} (this is thread ${threadId})`);
      }
      const handoff = (s & PARKED) !== 0 && load(this.words, STARVING) !== 0 && load(this.words, WAITERS) > 0;
      const next = (s & POISONED) | (handoff ? PARKED | HANDOFF : 0);
      // Linearization point of a contended unlock.
      if (compareExchange(this.words, STATE, s, next) === s) {
        if ((s & PARKED) !== 0) notify(this.words, STATE, 1);
        // The WAITERS count read above may include a waiter that was already
        // leaving (timed out, aborted). Dekker with leave(): it decrements
        // WAITERS then reads STATE; this wrote STATE and now reads WAITERS,
        // so one of the two sees the other. If nobody is left, take the
        // handoff back.
        if (handoff && load(this.words, WAITERS) === 0) this.revokeHandoff();
        return;
      }
    }
  }

  /**
   * A waiter that has parked leaves without the lock (timeout, abort, poison):
   * a handoff may have been made to it after it stopped looking. Give it back
   * to the other waiters (or to anyone, if none is parked).
   */
  private leave(): void {
    if (load(this.words, WAITERS) === 0) store(this.words, STARVING, 0);
    this.revokeHandoff();
  }

  /** Turns a pending handoff (owner 0, HANDOFF) back into a free lock and wakes a waiter to take it. */
  private revokeHandoff(): void {
    for (;;) {
      const s = load(this.words, STATE);
      if ((s & OWNER_MASK) !== 0 || (s & HANDOFF) === 0) return;
      if (compareExchange(this.words, STATE, s, s & ~HANDOFF) === s) {
        notify(this.words, STATE, 1);
        return;
      }
    }
  }

  /** Replaces a dead owner with POISONED and wakes every waiter to see it. */
  private recover(s: number): void {
    // Linearization point of recovery; losing the CAS means someone else moved the state.
    if (compareExchange(this.words, STATE, s, POISONED | (s & PARKED)) === s) notify(this.words, STATE);
  }

  private poisonError(): OwnerDiedError {
    return new OwnerDiedError('mutex is poisoned: a previous owner died holding it; call clearPoison() once the protected state is repaired, or lock with { ignorePoison: true }');
  }

  private timeoutError(): TimeoutError {
    return new TimeoutError('timed out waiting for the mutex');
  }
}
