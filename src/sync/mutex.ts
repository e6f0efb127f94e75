/**
 * Mutex: mutual exclusion across every thread of the process.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { systemClock } from '../clock.js';
import { AbortError, DeadlockError, HandleError, InvalidArgumentError, NotOwnerError, OwnerDiedError, TimeoutError } from '../errors.js';
import { boolean } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { deprecated } from '../options/deprecate.js';
import { waitAsyncOptions, waitOptions } from '../options/wait.js';
import { uncount } from './waiter-count.js';
import { Guard } from './guard.js';
import { localQueue, PRIORITY, type LocalQueue, type WaitForUnlockOptions } from './local-queue.js';
import { LIVENESS_SLICE_MS, toDeadline, type Waker, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';
import { isThenable } from '../validate.js';
import { runHolding } from './holding.js';
import { ownerDied } from '../observe/channels.js';

const { add, compareExchange, load, notify, store } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Words (Int32, in the region body):
 *   STATE       owner (threadId + 1) in the low OWNER_BITS, then the flags below
 *   STARVING    0, or while handoff mode is on: a stamp (as WAIT_SINCE's, never 0) of
 *               the last time a counted waiter was seen alive (see Dead waiters)
 *   WAITERS     waiters, from their decision to park until they take the lock or leave
 *               (parked or awake between parks): blocking lockers, and the async drivers
 *               (one per queue of a thread, below) while another thread holds
 *   WAIT_SINCE  when the longest-waiting registered waiter began to wait: a stamp in
 *               1/16 ms that wraps (compared by wrapping difference); 0 = none
 *
 * STATE, every legal combination (owner 0 = free; k = TASK, p = POISONED, x = any):
 *   owner | TASK | POISONED | PARKED | HANDOFF | meaning                     | who moves it, to what
 *   0     | 0    | 0        | 0      | 0       | free, nobody parked         | lock: CAS → me (the fast path); async: → me|TASK
 *   t     | 0    | 0        | 0      | 0       | held by t's synchronous code| t's unlock: CAS → 0 (the fast path)
 *   t     | 1    | p        | x      | 0       | held by an async task of t  | t's unlock: to t's next queued task, STATE
 *         |      |          |        |         |                             | unchanged (unless another thread starves); else below
 *   t     | k    | p        | 1      | 0       | held, waiters may be parked | t's unlock: → p (or p|PARKED|HANDOFF), notify(1)
 *   0     | 0    | p        | 1      | 0       | free, a woken waiter is due | any locker: CAS → me|k|p|PARKED
 *   0     | 0    | p        | 1      | 1       | handed off                  | a counted waiter: CAS → me|k|p|PARKED;
 *         |      |          |        |         |                             | a leaving waiter or the unlocker: → p|PARKED, notify(1)
 *   0     | 0    | 1        | x      | 0       | poisoned (owner died)       | lock throws OwnerDiedError; clearPoison: → 0|x
 *   dead t| k    | p        | x      | 0       | owner died holding it       | a waiter that proves t dead: CAS → 1|x, notify(all)
 * Invariants: HANDOFF implies owner 0 and PARKED; TASK implies owner ≠ 0. A
 * waiter's WAITERS increment happens before the PARKED it set is read by an
 * unlocker, and it stays counted across its parks: an unlock never misses a
 * starving waiter because it was awake between two parks. A waiter counts
 * itself only when it decides to park (after its spin), so a newcomer that
 * finds HANDOFF parks before it may take one. The sync fast paths never see
 * TASK: a task's unlock always takes the slow path, where the thread's queue
 * is served.
 *
 * Linearization points: lock = the CAS that writes an owner into STATE (or,
 * for a task served by its own thread's release, that release: STATE keeps
 * the owner); unlock = the CAS that clears the owner; recovery = the CAS that
 * replaces a dead owner with POISONED.
 *
 * Fairness policy (as Go's sync.Mutex): a newcomer may barge ahead of a woken
 * waiter (no context switch per handover). A waiter's starvation clock starts
 * when it first decides to park. It registers its start in WAIT_SINCE (the
 * oldest wins), parks no longer than until its STARVATION_MS is up, and sets
 * STARVING when it runs after that. An unlock that finds a parked waiter and
 * STARVING set, or WAIT_SINCE older than STARVATION_MS, hands the lock to a
 * counted waiter (HANDOFF) instead of freeing it, and newcomers park: so the
 * unlock itself enforces the threshold, even for a waiter whose thread the
 * OS has not run since. The handoff is the oldest registered waiter's (as
 * Go's goes to the head of its queue): a counted waiter with a later stamp
 * leaves it alone for HANDOFF_GRACE_MS from when it first finds it, passing
 * the unlock's notify(1) on once (it may have been the one woken; FIFO wait
 * lists bring the wake-up to the oldest within one hop per waiter), and then
 * takes it and drops that registration: the oldest was not run in all that
 * time, or is dead. Without this, a thread whose waiter had just counted
 * itself took the handoff whenever the oldest was slow to wake (1 ms). The taker ends handoff mode if it waited less than
 * STARVATION_MS or no one else waits; a registered waiter that takes the lock
 * or leaves clears WAIT_SINCE, and the others register again when they next
 * run (at the latest when their own threshold wakes them).
 *
 * This thread's async tasks: acquisitions (lockAsync, acquireAsync,
 * runExclusive) and waitForUnlock calls that cannot proceed at once wait in
 * the thread's LocalQueue for this mutex (local-queue.ts): priority, then
 * FIFO. One driver per queue runs while the queue is not empty: it contends
 * for STATE as one waiter and, when it takes the lock (me|TASK), grants it to
 * the head task. A task's unlock hands the lock to the next task of its
 * object's queue without touching STATE (isLocked stays true, as async-mutex
 * users expect), unless a waiter of another thread is starving: then it
 * releases STATE (with handoff) and the driver queues like any other waiter.
 * While this thread holds the lock, its drivers wait off the lock word (not
 * in WAITERS) for a slow-path unlock of the thread, which wakes them all (a
 * queue of another object on the same memory may be among them; a
 * synchronous hold is made to unlock by the slow path by setting PARKED).
 * So priority, cancel() and timeouts are exact within a queue, and across
 * threads the order is the fairness policy's; a thread cannot keep the lock
 * from a starving thread by queueing.
 *
 * Leaving: a waiter that has decided to park and then gives up (timeout,
 * abort, an emptied queue) may have been counted in WAITERS by an unlock that
 * handed off to "a parked waiter" just as it left. Unlock writes STATE then
 * re-reads WAITERS; a leaver decrements WAITERS then re-reads STATE (Dekker):
 * one of them sees the other and turns the orphaned handoff back into a free
 * lock, notifying a waiter. (Before this, the lock stayed free but tryLock
 * failed until some waiter's liveness slice ran out.)
 *
 * Owner death: a dying thread can stop between any two lines, but every state
 * change is one CAS on STATE, so it leaves either "held by t" or not. Waiters
 * park in slices (park.ts) and check the owner's liveness when a slice times
 * out; `tryLock` and every lock attempt check the registry's dead bit. Tasks
 * queued in a dead thread die with it; they never touched STATE.
 *
 * Dead waiters (repaired, not prevented): a thread dying while it waits
 * leaves WAITERS one too high, and perhaps its WAIT_SINCE registration and
 * STARVING. Left alone, that kept handoff mode on for good: every unlock
 * handed the lock to "a parked waiter" that was dead, and every later lock
 * waited STARVATION_MS for it (measured: 100 lock/unlock pairs took 113 ms,
 * for ever). The waiters' identities are not kept (the words have no room),
 * so the repair goes by liveness: in handoff mode STARVING holds the stamp of
 * the last time a counted waiter was seen running, and every live counted
 * waiter refreshes it at least once per slice (a blocked one when its slice
 * ends, an async driver from its thread's ticker). An unlock that finds it
 * older than STALE_STAMPS (twenty slices), or a registration that starved
 * that long without ever setting it, knows every counted waiter is dead: it
 * zeroes WAITERS (read before STARVING, so a waiter counted later survives),
 * STARVING and WAIT_SINCE. A count with no registration is registered by the
 * unlock as a probe, so it goes stale too if nobody is behind it, and the
 * last waiter to leave clears any registration. The cost of a death is one
 * stale window (1 s) of slow handovers. A live waiter that was not run for
 * that long may lose its count: it then misses at most one wake-up (and its
 * handoff) and finds out at the end of its slice; the count never goes below 0.
 */

/**
 * Owner field width: threadIds up to 2^27 - 2 (Node never reuses them; a
 * process would have to start 134 million threads). The flags stay below the
 * sign bit so that every STATE value is a small integer to V8: with TASK in
 * the sign bit, each CAS of a task's hold returned a heap number, which
 * measured 40-70 ns more per `lockAsync` + `unlock`.
 */
const OWNER_BITS = 27;
const OWNER_MASK = (1 << OWNER_BITS) - 1;
const POISONED = 1 << OWNER_BITS;
const PARKED = 1 << (OWNER_BITS + 1);
const HANDOFF = 1 << (OWNER_BITS + 2);
/** The holder is an async task of the owner thread. */
const TASK = 1 << (OWNER_BITS + 3);

const STATE = 0,
  STARVING = 1,
  WAITERS = 2,
  WAIT_SINCE = 3,
  WORDS = 4;

/** A waiter that has waited this long gets the lock at the next unlock (Go's starvationThresholdNs). */
export const STARVATION_MS = 1;
/**
 * How long a waiter leaves a pending handoff to an older registered waiter
 * before taking it itself: the older one was woken (directly, or by a
 * waiter passing the wake-up on), so it is descheduled or dead by then.
 */
const HANDOFF_GRACE_MS = LIVENESS_SLICE_MS;
/** WAIT_SINCE resolution: stamps per millisecond (wraps every 3 days; a wait is compared by wrapping difference). */
const STAMPS_PER_MS = 16;
const STARVATION_STAMPS = STARVATION_MS * STAMPS_PER_MS;
/**
 * Handoff mode with no counted waiter seen alive for this long means every
 * counted waiter is dead: a live one refreshes STARVING at least once per
 * slice (a blocked waiter when its slice ends, an async driver from its
 * thread's ticker). Twenty slices (1 s): a live waiter that a loaded machine
 * does not run for three slices is not rare, and taking it for dead costs it
 * its handoff, while a dead one's residue costs only this window.
 */
const STALE_STAMPS = 20 * LIVENESS_SLICE_MS * STAMPS_PER_MS;

/** A nonzero Int32 stamp of `ms` (systemClock time). */
function stampOf(ms: number): number {
  const t = Math.floor(ms * STAMPS_PER_MS) | 0;
  return t === 0 ? 1 : t;
}
/** True if stamp `a` is earlier than stamp `b`. */
const earlier = (a: number, b: number): boolean => ((a - b) | 0) < 0;

export interface MutexOptions {
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

export interface LockOptions {
  /** Milliseconds to wait (default: forever). 0 = try once. */
  readonly timeoutMs?: number;
  /** Acquire even if a previous owner died holding the lock (the poison stays). */
  readonly ignorePoison?: boolean;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
export interface LockAsyncOptions extends LockOptions {
  readonly signal?: AbortSignal;
}
/** Options of a Mutex's async acquisitions (`lockAsync`, `acquireAsync`, `runExclusive`). */
export interface MutexAsyncOptions extends LockAsyncOptions {
  /**
   * Order among this thread's queued acquisitions: higher first, FIFO within
   * a priority (default 0; any finite number). It does not order threads.
   */
  readonly priority?: number;
}
export type { WaitForUnlockOptions } from './local-queue.js';

const DEF = definePrimitive('Mutex', 1, {}, { bodyBytes: () => WORDS * 4 });
/** What `Mutex#stats()` reports: a snapshot of the lock's word. */
export interface MutexStats {
  readonly locked: boolean;
  /** An owner died holding it, and no one has called `clearPoison()` since. */
  readonly poisoned: boolean;
  /** The holder's threadId, or -1 when free. */
  readonly ownerThreadId: number;
  /** Threads waiting now (a thread's queued tasks count as one). */
  readonly waiters: number;
}

export type MutexHandle = HandleOf<typeof DEF>;

const LOCK = waitOptions('mutex.lock(options)', { ignorePoison: boolean() });
const TRY_LOCK = defineOptions('mutex.tryLock(options)', { ignorePoison: boolean() });
/** lockAsync, acquireAsync and runExclusive: an already-aborted signal is an AbortError even when the lock is free (as the Web Locks API). */
const LOCK_ASYNC = waitAsyncOptions('mutex.lockAsync(options)', { ignorePoison: boolean(), priority: PRIORITY });
const WAIT_FOR_UNLOCK = waitAsyncOptions('mutex.waitForUnlock(options)', { priority: PRIORITY });
type AsyncLock = ReturnType<typeof LOCK_ASYNC.parse>;

function asyncOptions(raw: number | MutexAsyncOptions | undefined): AsyncLock {
  const o = LOCK_ASYNC.parse(raw);
  if (o.signal?.aborted) throw new AbortError('aborted before acquiring', o.signal.reason);
  return o;
}

/** Int32 words an embedded mutex takes (`Mutex.embedded`). @internal */
export const MUTEX_WORDS = WORDS;

/** Marks the words of a mutex embedded in another primitive's region. */
class EmbeddedMutexWords {
  constructor(readonly words: Int32Array) {}
}

/** `options instanceof EmbeddedMutexWords`, false for anything that cannot even be asked (a hostile Proxy: the constructor then reports it). */
function isEmbedded(options: unknown): options is EmbeddedMutexWords {
  try {
    return options instanceof EmbeddedMutexWords;
  } catch {
    return false;
  }
}

const me = threadId + 1;
const ME_TASK = me | TASK;
/** What `contend` answers instead of a free state word (state words are never negative). */
const OWN = -1,
  STOP = -2;
const RESOLVED = Promise.resolve();
const registry = (): ThreadRegistry => ThreadRegistry.current;

/**
 * This thread's drivers that wait for the thread itself to release a mutex
 * (it holds the one they want). Every slow-path unlock of the thread wakes
 * them all to look again: a release through one Mutex object must reach the
 * queues of other objects on the same memory, which cannot be told apart.
 */
const releaseWaiters = new Set<() => void>();

/** Resolves at this thread's next release of any mutex, or when `waker` is woken. */
function releasedHere(waker: Waker): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = (): void => {
      releaseWaiters.delete(wake);
      waker.set(undefined);
      resolve();
    };
    releaseWaiters.add(wake);
    waker.set(wake);
  });
}

function announceRelease(): void {
  if (releaseWaiters.size === 0) return;
  for (const wake of [...releaseWaiters]) wake();
}

/** One waiter's progress through a slow path: a blocking locker, or this thread's async driver. */
class Waiting {
  readonly backoff = new Backoff();
  /** systemClock time when it first decided to park (its starvation clock); 0 = not yet. */
  startedAt = 0;
  /** `startedAt` as a WAIT_SINCE stamp. */
  stamp = 0;
  /** True while it is counted in WAITERS (from its decision to park until it takes the lock or leaves): a handoff may be meant for it. */
  counted = false;
  /** The older registration (a WAIT_SINCE stamp) whose pending handoff it leaves alone until `deferUntil`; 0 = none. */
  deferTo = 0;
  /** systemClock time until which it defers to `deferTo`. */
  deferUntil = 0;
}

/** Held lock; `using` / `await using` release it at the end of the scope. */
export class MutexGuard extends Guard {
  /** @internal */
  constructor(private readonly mutex: Mutex) {
    super();
  }
  protected unlock(): void {
    this.mutex.unlock();
  }
}

/**
 * A mutual-exclusion lock shared by every thread that opens its handle.
 *
 * At most one thread holds it at a time. `unlock()` happens-before the next
 * successful `lock()` in any thread: everything the holder wrote to shared
 * memory is visible to the next holder. The owner is the thread
 * (`worker_threads.threadId`): any code of the owning thread may unlock.
 *
 * Within one thread, the async acquisitions (`lockAsync`, `acquireAsync`,
 * `runExclusive`) behave as async-mutex's: each waits for the previous
 * holder's release, in `priority` order (higher first, FIFO within a
 * priority); a release hands the lock straight to the thread's next queued
 * task, so `isLocked` stays true in between; `cancel()` rejects the queued
 * ones with `CanceledError`; `waitForUnlock()` waits until the lock could be
 * taken. `runExclusive` always calls `fn` in a later microtask, never inside
 * the call. Across threads, `priority` does not apply: threads are served by
 * the fairness policy below, and a thread's queue waits as one waiter. The
 * queue is shared by every Mutex object of the thread on this mutex, however
 * many times its handle was received (see `LocalQueue`).
 *
 * Re-entry by the holding thread: a blocking `lock()` (and `acquire`,
 * `withLock`) by the thread that holds the mutex throws `DeadlockError` (the
 * blocked thread could never release it). An async acquisition or
 * `waitForUnlock` by that thread throws `DeadlockError` too if the hold is
 * synchronous (taken by `lock`, `tryLock`, `acquire` or `withLock`: such a
 * hold belongs to synchronous code and is released by it), and queues behind
 * the holder if the hold is an async task's (`lockAsync`, `acquireAsync`,
 * `runExclusive`), as in async-mutex. `tryLock()` by the holder returns false.
 *
 * Fairness: a newcomer may take a just-released lock ahead of a woken waiter
 * (throughput), but an unlock that comes after a waiter has waited more than
 * `STARVATION_MS` (counted from when it started to wait) hands the lock to a
 * waiter instead, and newcomers queue, until a waiter gets it without having
 * starved.
 *
 * If the owner thread dies holding the lock, the lock is released and
 * *poisoned* (as in Rust's std): every later acquisition throws
 * `OwnerDiedError` until `clearPoison()`, or acquires anyway with
 * `{ ignorePoison: true }`. Waiters learn of the death within
 * `LIVENESS_SLICE_MS` of the thread stopping, whatever the dead thread's parent
 * is doing.
 *
 * @throws TimeoutError (`ERR_TIMEOUT`) when a wait passes its timeout
 * @throws AbortError (`ERR_ABORTED`) when an async wait's signal fires (or had fired)
 * @throws CanceledError (`ERR_CANCELED`) when `cancel()` withdraws a queued async acquisition
 * @throws DeadlockError (`ERR_DEADLOCK`) on re-entry by the holding thread, as above
 * @throws NotOwnerError (`ERR_NOT_OWNER`) on `unlock` by a thread that does not hold it
 * @throws OwnerDiedError (`ERR_OWNER_DIED`) while the lock is poisoned
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a bad timeout, priority or option
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
  /** A waiter that has waited this long (ms) switches the Mutex to handoff: newcomers can no longer take the lock ahead of it (Go's starvation threshold). */
  static readonly starvationMs = STARVATION_MS;
  private readonly ownHandle: MutexHandle | undefined;
  private readonly words: Int32Array;
  /** This thread's queued async acquisitions of this mutex (shared by every Mutex object of the thread on the same memory). */
  private readonly queue: LocalQueue;
  /** The ticker's check for this thread's parked drivers: the lock is free (a wake-up went astray) or its owner died. */
  private readonly watch: Watch = () => {
    // A driver of this thread is parked and counted: it vouches for a live waiter in handoff mode.
    if (load(this.words, STARVING) !== 0) store(this.words, STARVING, stampOf(systemClock.now()));
    const owner = load(this.words, STATE) & OWNER_MASK;
    return owner === 0 || (owner !== me && !registry().isAlive(owner - 1));
  };

  constructor(options?: MutexOptions | OpenedOf<typeof DEF> | EmbeddedMutexWords) {
    if (isEmbedded(options)) {
      this.ownHandle = undefined;
      this.words = options.words;
      this.queue = localQueue(this.words);
    } else {
      const { region } = DEF.resolve(options);
      this.ownHandle = region.handle;
      this.words = region.i32(0, WORDS);
      this.queue = localQueue(this.words, region.id);
    }
  }

  /** The structured-cloneable handle; `Mutex.from(handle)` re-opens it in any thread. */
  get handle(): MutexHandle {
    if (this.ownHandle === undefined) throw new HandleError('this mutex is part of another primitive and has no handle of its own');
    return this.ownHandle;
  }

  /**
   * A mutex over `MUTEX_WORDS` zeroed Int32 words inside another primitive's
   * region (a table segment's lock), with the same algorithm and poisoning.
   *
   * The one embedding without a region header: composites place whole
   * primitives with `definePrimitive`'s `part()` (a header each, checked on
   * open), but a lock per key or per segment (SlidingWindow's per-key locks,
   * the table's segments, a limiter's sweep) would pay 32 header bytes per
   * 16 bytes of lock. Its parent's region, validated whole, vouches for it.
   * @internal
   */
  static embedded(words: Int32Array): Mutex {
    if (words.length !== WORDS) throw new InvalidArgumentError(`an embedded mutex takes ${WORDS} Int32 words, got ${words.length}`);
    return new Mutex(new EmbeddedMutexWords(words));
  }

  /** Re-opens a mutex from its handle, in any thread. @throws HandleError */
  static from(handle: MutexHandle): Mutex {
    return new Mutex(DEF.open(handle));
  }

  /** Bytes a Mutex takes (in an arena, rounded up to 128). */
  static byteLength(options?: MutexOptions): number {
    return DEF.byteLength(options);
  }

  /** True while some thread holds the lock (a snapshot); stays true while a release hands it to a queued task of the same thread. */
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

  /** Waiters now, over all threads, counted from their decision to park (a snapshot; a thread's queued tasks count as one). @internal */
  get waiterCount(): number {
    return load(this.words, WAITERS);
  }

  /** A snapshot of its state, for metrics (the getters above, at once). */
  stats(): MutexStats {
    const state = load(this.words, STATE);
    return {
      locked: (state & OWNER_MASK) !== 0,
      poisoned: (state & POISONED) !== 0,
      ownerThreadId: (state & OWNER_MASK) - 1,
      waiters: load(this.words, WAITERS),
    };
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
  tryLock(options?: { readonly ignorePoison?: boolean }): boolean {
    const o = TRY_LOCK.parse(options);
    if (compareExchange(this.words, STATE, 0, me) === 0) return true;
    return this.tryTake(o.ignorePoison, 0);
  }

  /**
   * Blocks this thread until the lock is taken. Blocking the main thread
   * stalls its event loop: there, prefer `lockAsync` / `runExclusive`.
   * @param options a timeout in ms, or `{ timeoutMs, ignorePoison }`
   * @throws DeadlockError if this thread holds the lock (by any means)
   */
  lock(options?: number | LockOptions): void {
    // Options are validated before the fast path: a bad timeout is an error even when the lock is free.
    const o = LOCK.parse(options);
    if (compareExchange(this.words, STATE, 0, me) === 0) return;
    this.lockSlow(toDeadline(o.timeoutMs), o.ignorePoison);
  }

  /**
   * `lock({ ignorePoison: true })` with no options to read: for the
   * primitives that embed a Mutex and repair their state when it is
   * poisoned (a table segment, the Semaphore's internal lock), on their hot
   * paths. @internal
   */
  lockIgnoringPoison(): void {
    if (compareExchange(this.words, STATE, 0, me) === 0) return;
    this.lockSlow(Infinity, true);
  }

  /**
   * Waits for the lock without blocking the event loop; the hold is this
   * thread's async task's (see the class comment for re-entry).
   * @param options `{ timeoutMs, ignorePoison, signal, priority }` (a number is a timeout)
   */
  async lockAsync(options?: number | MutexAsyncOptions): Promise<void> {
    const o = asyncOptions(options);
    if (this.queue.acquirers.length === 0 && compareExchange(this.words, STATE, 0, ME_TASK) === 0) return;
    await this.lockAsyncSlow(o);
  }

  /**
   * Releases the lock: to this thread's next queued task if any (unless a
   * waiter of another thread is starving), else to the other threads.
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
  async acquireAsync(options?: number | MutexAsyncOptions): Promise<MutexGuard> {
    await this.lockAsync(options);
    return new MutexGuard(this);
  }

  /**
   * Runs synchronous `fn` under the lock, blocking this thread to get it (the
   * blocking form of `runExclusive`).
   * @throws InvalidArgumentError if `fn` returns a promise (the lock is released first: use `runExclusive`)
   */
  runExclusiveSync<T>(fn: () => T, options?: number | LockOptions): T {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`runExclusiveSync(fn): fn must be a function, got ${typeof fn}`);
    this.lock(options);
    let result: T;
    try {
      result = fn();
    } finally {
      this.unlock();
    }
    if (isThenable(result)) {
      throw new InvalidArgumentError(
        'runExclusiveSync(fn): fn returned a promise, and the lock was released before it settled; use runExclusive for async work',
      );
    }
    return result;
  }

  /** @deprecated Use `runExclusiveSync` (`SABRE_DEP_WITH_LOCK`). */
  withLock<T>(fn: () => T, options?: number | LockOptions): T {
    deprecated('SABRE_DEP_WITH_LOCK', 'Mutex#withLock');
    return this.runExclusiveSync(fn, options);
  }

  /**
   * Runs `fn` (sync or async) under the lock, never blocking the event loop
   * and never calling `fn` before this call has returned (even when the lock
   * is free, `fn` runs in a later microtask). The lock is released when
   * `fn`'s result settles.
   */
  runExclusive<T>(fn: () => T | PromiseLike<T>, options?: number | MutexAsyncOptions): Promise<T> {
    if (typeof fn !== 'function')
      return Promise.reject(new InvalidArgumentError(`runExclusive(fn): fn must be a function, got ${typeof fn}`));
    try {
      const o = asyncOptions(options);
      // Fast path: the lock is taken now; fn runs in the next microtask.
      if (this.queue.acquirers.length === 0 && compareExchange(this.words, STATE, 0, ME_TASK) === 0)
        return RESOLVED.then(() => this.runLocked(fn));
      return this.lockAsyncSlow(o).then(() => this.runLocked(fn));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Resolves once the lock could be taken by this thread: it is free and no
   * queued acquisition of this thread of equal or higher `priority` comes
   * first (as async-mutex's `waitForUnlock`). It does not take the lock, and
   * by the time the caller runs another thread may have taken it. A poisoned
   * lock counts as free.
   * @throws DeadlockError if this thread holds the lock through a synchronous acquisition
   * @throws TimeoutError after `timeoutMs` (0 = look once)
   */
  waitForUnlock(options?: number | WaitForUnlockOptions): Promise<void> {
    try {
      const o = WAIT_FOR_UNLOCK.parse(options);
      if (o.signal?.aborted) throw new AbortError('aborted before waiting', o.signal.reason);
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner === me && (s & TASK) === 0) throw this.reentryError('waitForUnlock()');
      if (owner === 0 && (s & HANDOFF) === 0 && this.queue.topPriority < o.priority) return RESOLVED;
      if (o.timeoutMs === 0) throw new TimeoutError('timed out waiting for the mutex to be free');
      const waiting = this.queue.enqueue(
        {
          priority: o.priority,
          n: 1,
          ignorePoison: true,
          timeoutMs: o.timeoutMs,
          signal: o.signal,
          timeoutMessage: 'timed out waiting for the mutex to be free',
        },
        true,
      );
      this.drive();
      return waiting;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Rejects this thread's queued async acquisitions of this mutex (from
   * `lockAsync`, `acquireAsync`, `runExclusive`, whose `fn` then never runs)
   * with `CanceledError`. The current holder keeps the lock; `waitForUnlock`
   * callers and other threads' waiters are not affected.
   */
  cancel(): void {
    this.queue.cancel('a queued acquisition of the mutex was');
  }

  /** Calls `fn` while holding the lock; unlocks when its result settles. */
  private runLocked<T>(fn: () => T | PromiseLike<T>): T | Promise<T> {
    return runHolding(fn, this.unlockNow);
  }
  private readonly unlockNow = (): void => this.unlock();

  // ---- slow paths ------------------------------------------------------

  /** One attempt to take the lock (`task`: TASK for an async task's hold, else 0), recovering from a dead owner. */
  private tryTake(ignorePoison: boolean, task: number): boolean {
    for (;;) {
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner !== 0 && owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner !== 0 || (s & HANDOFF) !== 0) return false;
      if (compareExchange(this.words, STATE, s, this.acquiredState(s, task, undefined)) === s) return true;
    }
  }

  private lockSlow(deadline: number, ignorePoison: boolean): void {
    const w = new Waiting();
    try {
      for (;;) {
        const s = runBlocking(this.contend(w, deadline, true, ignorePoison, undefined));
        if (compareExchange(this.words, STATE, s, this.acquiredState(s, 0, w)) === s) {
          this.took(w);
          return;
        }
        w.backoff.spin();
      }
    } catch (e) {
      this.left(w);
      throw e;
    }
  }

  /**
   * One waiter's contention for STATE, for both forms (slow-path.ts): spins,
   * recovers a dead owner, and parks while another thread holds the lock or
   * a handoff is another waiter's. Returns the state word found free for
   * `w` (the caller CASes it), OWN when this thread holds the lock (a
   * blocking locker throws DeadlockError instead), or STOP when `stop()`
   * (the async driver's empty queue) says so. A poisoned lock throws unless
   * `ignorePoison` (the driver judges poison per task).
   */
  private *contend(
    w: Waiting,
    deadline: number,
    blocking: boolean,
    ignorePoison: boolean,
    queue: LocalQueue | undefined,
  ): SlowPath<number> {
    for (;;) {
      if (queue?.empty === true) return STOP;
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner === me) {
        if (!blocking) return OWN;
        throw new DeadlockError(
          (s & TASK) !== 0
            ? 'lock() while an async task of this thread holds the mutex: blocking this thread would keep that task from ever releasing it'
            : 'lock() of a mutex this thread already holds (it is not reentrant)',
        );
      }
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner === 0 && ((s & HANDOFF) === 0 || this.mayTakeHandoff(w))) return s;
      // Held by another thread, or handed off to another waiter: a short spin first.
      if (w.startedAt === 0 && !w.backoff.isCompleted()) {
        w.backoff.snooze();
        continue;
      }
      // Before each park (not each spin): is the owner still alive?
      if (owner !== 0 && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError();
      const expected = this.prepareToPark(w, s);
      if (expected === undefined) continue;
      yield {
        word: this.words,
        index: STATE,
        expected,
        deadline: this.parkDeadline(w, deadline),
        holder: owner - 1, // owner 0 (a handoff): -1, unknown
        watch: this.watch,
        ...(queue === undefined ? {} : { waker: queue.waker }),
      };
    }
  }

  /** An async acquisition that could not take the lock in the fast path: barge if allowed, else queue. */
  private lockAsyncSlow(o: AsyncLock): Promise<void> {
    const s = load(this.words, STATE);
    if ((s & OWNER_MASK) === me && (s & TASK) === 0) throw this.reentryError('an async acquisition');
    // A newcomer that outranks every queued task of this thread may take a free lock at once (as in async-mutex).
    if (this.queue.topPriority < o.priority && this.tryTake(o.ignorePoison, TASK)) return RESOLVED;
    if (o.timeoutMs === 0) throw this.timeoutError();
    const granted = this.queue.enqueue(
      {
        priority: o.priority,
        n: 1,
        ignorePoison: o.ignorePoison,
        timeoutMs: o.timeoutMs,
        signal: o.signal,
        timeoutMessage: 'timed out waiting for the mutex',
      },
      false,
    );
    this.drive();
    return granted;
  }

  /** Starts this thread's driver for its queue, or wakes the running one to look again. */
  private drive(): void {
    this.queue.drive(this.runDriver);
  }
  private readonly runDriver = (q: LocalQueue): Promise<void> => this.driveLoop(q);

  /**
   * The driver: runs while this thread's queue is not empty. While another
   * thread holds the lock it contends for STATE as one waiter; when the lock
   * is free for it, it serves the watchers and grants the lock to the head
   * task. While this thread holds the lock (a task, or its synchronous code)
   * it waits, off the lock word, for this thread's next release: a task's
   * release may hand the lock straight to the next task of its queue, and
   * any slow-path unlock of the thread wakes the drivers to look again.
   * `q.driving` is cleared in the same turn as the decision to end, so an
   * enqueue never finds a driver that is not running.
   */
  private async driveLoop(q: LocalQueue): Promise<void> {
    let w = new Waiting();
    try {
      for (;;) {
        const found = runAsync(this.contend(w, Infinity, false, true, q)); // the same turn when it need not park
        const free = found instanceof Promise ? await found : found;
        if (q.empty) return; // decided in the turn that clears q.driving (finally)
        if (free === STOP) continue;
        if (free === OWN) {
          const s = load(this.words, STATE);
          if ((s & OWNER_MASK) !== me) continue;
          // A synchronous hold's unlock must take the slow path, which announces it: PARKED makes sure.
          if ((s & (TASK | PARKED)) === 0 && compareExchange(this.words, STATE, s, s | PARKED) !== s) continue;
          this.left(w); // not a waiter of another thread while it waits for its own thread: off WAITERS and WAIT_SINCE
          w = new Waiting();
          await releasedHere(q.waker);
          continue;
        }
        // Free for this thread.
        if ((free & POISONED) !== 0)
          q.rejectAcquirers(
            () => this.poisonError(),
            (p) => p.ignorePoison,
          );
        q.releaseWatchers(1);
        if (q.acquirers.length === 0) continue;
        if (compareExchange(this.words, STATE, free, this.acquiredState(free, TASK, w)) === free) {
          this.took(w);
          w = new Waiting(); // the next wait, if any, is a new one
          q.grantHead();
          continue;
        }
        w.backoff.spin();
      }
    } catch (e) {
      // Not expected (the steps above do not throw): fail the queued tasks rather than strand them.
      q.rejectAcquirers(() => e);
      q.rejectWatchers(() => e);
    } finally {
      q.driving = false;
      this.left(w);
    }
  }

  /**
   * Before a park: the first time, starts the waiter's starvation clock and
   * counts it in WAITERS (until it takes the lock or leaves, awake or not);
   * registers it in WAIT_SINCE if it is the oldest; sets STARVING once it has
   * waited too long; sets PARKED. Returns the value to park on, or undefined
   * if STATE moved.
   */
  private prepareToPark(w: Waiting, s: number): number | undefined {
    if (!w.counted) {
      if (w.startedAt === 0) {
        w.startedAt = systemClock.now();
        w.stamp = stampOf(w.startedAt);
      }
      add(this.words, WAITERS, 1); // before the PARKED below can be read by an unlocker
      w.counted = true;
    } else {
      // A counted waiter that runs is alive: it starts handoff mode once it has starved, and keeps it fresh.
      const now = systemClock.now();
      if (now - w.startedAt > STARVATION_MS || load(this.words, STARVING) !== 0) store(this.words, STARVING, stampOf(now));
    }
    const since = load(this.words, WAIT_SINCE);
    if (since === 0 || earlier(w.stamp, since)) compareExchange(this.words, WAIT_SINCE, since, w.stamp);
    if ((s & PARKED) !== 0) return s;
    return compareExchange(this.words, STATE, s, s | PARKED) === s ? s | PARKED : undefined;
  }

  /**
   * Until when to park: the caller's deadline, but no later than the moment
   * the waiter starts to starve (to flag it), nor than the end of its
   * deference to an older waiter's handoff (to take it then).
   */
  private parkDeadline(w: Waiting, deadline: number): number {
    const now = systemClock.now();
    const starvesAt = w.startedAt + STARVATION_MS;
    if (now < starvesAt) deadline = Math.min(deadline, starvesAt);
    return now < w.deferUntil ? Math.min(deadline, w.deferUntil) : deadline;
  }

  /**
   * May the waiter `w` take the pending handoff (owner 0, HANDOFF)? Only a
   * counted waiter may, and first the oldest registered one: a waiter that
   * began to wait later defers to that registration for HANDOFF_GRACE_MS
   * from when it first finds it (passing the unlock's wake-up on once, in
   * case it was the one woken), then takes the handoff anyway: the oldest is
   * not running, or is dead (see Fairness policy).
   */
  private mayTakeHandoff(w: Waiting): boolean {
    if (!w.counted) return false;
    const since = load(this.words, WAIT_SINCE);
    if (since === 0 || !earlier(since, w.stamp)) return true;
    const now = systemClock.now();
    if (w.deferTo !== since) {
      w.deferTo = since;
      w.deferUntil = now + HANDOFF_GRACE_MS;
      notify(this.words, STATE, 1); // it is awake, so this reaches another parked waiter: toward the oldest
      return false;
    }
    return now >= w.deferUntil;
  }

  /** The state after `me` (the waiter `w`, if it is one) takes a free lock found as `s`: keeps POISONED, keeps or sets PARKED for the other waiters. */
  private acquiredState(s: number, task: number, w: Waiting | undefined): number {
    const others = load(this.words, WAITERS) - (w?.counted ? 1 : 0);
    const parked = (s & PARKED) !== 0 || others > 0 ? PARKED : 0;
    return me | task | (s & POISONED) | parked;
  }

  /** A waiter got the lock: it leaves WAITERS and WAIT_SINCE, and ends handoff mode unless it, too, starved and others wait. */
  private took(w: Waiting): void {
    if (!w.counted) return;
    w.counted = false;
    uncount(this.words, WAITERS);
    compareExchange(this.words, WAIT_SINCE, w.stamp, 0);
    // Took a handoff after deferring to an older registration: that waiter did not come; it registers again if it runs.
    if (w.deferTo !== 0) compareExchange(this.words, WAIT_SINCE, w.deferTo, 0);
    const last = load(this.words, WAITERS) <= 0;
    if (last) store(this.words, WAIT_SINCE, 0); // nobody counted: no registration may outlive them (a probe's, a dead waiter's)
    if (systemClock.now() - w.startedAt <= STARVATION_MS || last) store(this.words, STARVING, 0);
  }

  /**
   * A waiter that decided to park leaves without the lock (timeout, abort,
   * poison, an emptied queue): it leaves WAIT_SINCE, and a handoff that may
   * have been made to it after it stopped looking goes back to the others.
   */
  private left(w: Waiting): void {
    if (!w.counted) return;
    w.counted = false;
    uncount(this.words, WAITERS); // then look at STATE: Dekker with the unlock's handoff
    compareExchange(this.words, WAIT_SINCE, w.stamp, 0);
    if (load(this.words, WAITERS) <= 0) {
      store(this.words, WAIT_SINCE, 0);
      store(this.words, STARVING, 0);
    }
    this.revokeHandoff();
  }

  /**
   * True if a live waiter is starving: STARVING fresh, or a registered wait
   * older than STARVATION_MS (which then sets STARVING to when it began to
   * starve). Called by an unlock that found WAITERS > 0. Repairs what dead
   * waiters left (see Dead waiters): handoff mode nobody has refreshed for
   * STALE_STAMPS, and a count with no registration (which it registers as a
   * probe, so that it goes stale too if nobody is behind it).
   */
  private starving(): boolean {
    const now = stampOf(systemClock.now());
    const st = load(this.words, STARVING);
    if (st !== 0) {
      if (((now - st) | 0) <= STALE_STAMPS) return true;
      this.repairDeadWaiters(st);
      return false;
    }
    const since = load(this.words, WAIT_SINCE);
    if (since === 0) {
      compareExchange(this.words, WAIT_SINCE, 0, now); // counted, but nobody registered: a probe
      return false;
    }
    if (((now - since) | 0) <= STARVATION_STAMPS) return false;
    const began = (since + STARVATION_STAMPS) | 0 || 1;
    if (((now - began) | 0) > STALE_STAMPS) {
      this.repairDeadWaiters(0); // starved this long and never ran to say so: its waiter is dead
      return false;
    }
    compareExchange(this.words, STARVING, 0, began);
    return true;
  }

  /**
   * No counted waiter has run for STALE_STAMPS in handoff mode: every one of
   * them is dead. Zeroes the count (WAITERS read first: a waiter counted
   * after that read is not erased), ends handoff mode and drops the
   * registration. A live waiter that was only slow is re-counted by nothing:
   * it may miss one wake-up and finds out at the end of its slice.
   */
  private repairDeadWaiters(staleStarving: number): void {
    const n = load(this.words, WAITERS);
    const since = load(this.words, WAIT_SINCE);
    if (compareExchange(this.words, STARVING, staleStarving, 0) !== staleStarving) return; // someone ran: not stale after all
    if (n > 0) compareExchange(this.words, WAITERS, n, 0);
    if (since !== 0) compareExchange(this.words, WAIT_SINCE, since, 0);
  }

  private unlockSlow(): void {
    const q = this.queue;
    // A task's release with nothing of this thread waiting and nobody parked: one CAS, as a synchronous unlock's.
    if (q.acquirers.length === 0 && releaseWaiters.size === 0 && compareExchange(this.words, STATE, ME_TASK, 0) === ME_TASK) return;
    for (;;) {
      const s = load(this.words, STATE);
      const owner = s & OWNER_MASK;
      if (owner !== me) {
        throw new NotOwnerError(
          owner === 0 ? 'unlock of an unlocked mutex' : `unlock of a mutex held by thread ${owner - 1} (this is thread ${threadId})`,
        );
      }
      const handoff = (s & PARKED) !== 0 && load(this.words, WAITERS) > 0 && this.starving();
      // A task's release goes to the next queued task of this thread (STATE unchanged) unless another thread starves.
      if ((s & TASK) !== 0 && !handoff && q.acquirers.length > 0 && this.passToNextTask(s)) return;
      const next = (s & POISONED) | (handoff ? PARKED | HANDOFF : 0);
      // Linearization point of a contended unlock.
      if (compareExchange(this.words, STATE, s, next) === s) {
        if ((s & PARKED) !== 0) notify(this.words, STATE, 1);
        // The WAITERS count read above may include a waiter that was already
        // leaving: Dekker with left() (see the notes). If nobody is left, take the handoff back.
        if (handoff && load(this.words, WAITERS) === 0) this.revokeHandoff();
        announceRelease(); // this thread's queues (of any Mutex object on this memory) look again
        return;
      }
    }
  }

  /** A task of this thread releases to the next queued one; false if none may take a lock in this state. */
  private passToNextTask(s: number): boolean {
    const q = this.queue;
    if ((s & POISONED) !== 0)
      q.rejectAcquirers(
        () => this.poisonError(),
        (p) => p.ignorePoison,
      );
    if (q.acquirers.length === 0) return false;
    q.releaseWatchers(1); // watchers that outrank the next task see the lock free first
    q.grantHead();
    return true;
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
    if (compareExchange(this.words, STATE, s, POISONED | (s & PARKED)) !== s) return;
    notify(this.words, STATE);
    if (ownerDied.hasSubscribers) ownerDied.publish({ lock: this, owner: (s & OWNER_MASK) - 1 });
  }

  private reentryError(what: string): DeadlockError {
    return new DeadlockError(
      `${what} by the thread that holds the mutex through a synchronous lock()/tryLock()/acquire()/withLock(): that hold is released by synchronous code, so a task of the same thread would wait for it forever; unlock first, or take the first hold with lockAsync()/runExclusive() so that later tasks queue behind it`,
    );
  }

  private poisonError(): OwnerDiedError {
    return new OwnerDiedError(
      'mutex is poisoned: a previous owner died holding it; call clearPoison() once the protected state is repaired, or lock with { ignorePoison: true }',
    );
  }

  private timeoutError(): TimeoutError {
    return new TimeoutError('timed out waiting for the mutex');
  }
}
