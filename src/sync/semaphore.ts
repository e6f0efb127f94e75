/**
 * Semaphore: a fixed number of permits shared by every thread of the process.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { Region } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { ThreadSlots, type ThreadSlotsLayout } from '../threads/thread-slots.js';
import { systemClock } from '../clock.js';
import { AbortError, DeadlockError, InvalidArgumentError, NotOwnerError, TimeoutError } from '../errors.js';
import { positiveInteger } from '../validate.js';
import { integer } from '../options/field.js';
import { deprecated } from '../options/deprecate.js';
import { waitAsyncOptions, waitOptions } from '../options/wait.js';
import { localQueue, PRIORITY, type LocalQueue, type WaitForUnlockOptions } from './local-queue.js';
import { toDeadline, type Waker, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';
import { uncount } from './waiter-count.js';
import { Guard } from './guard.js';
import { Mutex, MUTEX_WORDS } from './mutex.js';
import { runHolding } from './holding.js';

const { add, load, notify, store } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Words (Int32, region body): a control block, then a ThreadSlots table with
 * one field per slot, HELD = permits its thread holds now.
 *   GUARD          the internal lock: an embedded Mutex (MUTEX_WORDS words), the
 *                  same algorithm as every Mutex and a table segment's lock
 *   COUNT          permits available
 *   EPOCH          bumped (under GUARD) whenever waiters may now succeed; they park on it
 *   WAITERS        threads or tasks counted from "about to park" until their next
 *                  round under GUARD (or their leaving): Σ PARKING + UNSLOTTED
 *   TICKET         next waiter ticket (fetch-add; ages waiters)
 *   RESERVE_N      permits reserved for the reserving waiter (0 = no reservation)
 *   RESERVER       t + 1 of the reserving waiter's thread (for its liveness)
 *   RESERVE_TICKET the reserving waiter's ticket (identifies it among tasks of one thread)
 *   UNSLOTTED      waiters in WAITERS whose thread found no free slot (not in any PARKING)
 *
 * Invariant, whenever GUARD is free: COUNT + Σ HELD over all slots = permits,
 * and COUNT >= 0. COUNT and a HELD only change together, under GUARD, so a
 * release can check "more than this thread holds" and a dead thread's permits
 * are known exactly. Every operation linearizes at its store of COUNT under
 * GUARD (acquire, release, the give-back of a dead thread's permits).
 *
 * GUARD is held for a handful of atomic steps and never across user code or
 * a wait, so every path (the async ones too) takes it with the blocking
 * `lock()`: a holder preempted by the OS costs a locker its time slice; a
 * holder proved dead poisons it (the Mutex's recovery), and the locker that
 * then takes it repairs, as a table segment's writer does.
 *
 * Owner death. A thread can stop between any two steps:
 * - outside GUARD: its HELD is exact; the first acquirer that lacks permits
 *   (or a waiter whose park slice timed out) finds the dead owner through
 *   ThreadSlots.reclaimDead and, under GUARD, adds its HELD back to COUNT.
 * - inside GUARD: COUNT and HELD may disagree (one store done, not the other),
 *   and GUARD still names it. A locker proves it dead (GUARD is then
 *   poisoned), takes it ignoring the poison and repairs: dead slots are
 *   reclaimed, then COUNT := permits - Σ HELD (the HELD words of live
 *   threads are the source of truth: only their own thread, under GUARD,
 *   ever changes them), then the poison is cleared. A repairer that dies
 *   mid-repair leaves GUARD poisoned again: the repair simply runs again.
 * - parked: its share of WAITERS is in its slot's PARKING. Both words change
 *   only under GUARD (counted before a park, uncounted in the waiter's next
 *   round or when it leaves), so WAITERS = Σ PARKING + UNSLOTTED whenever
 *   GUARD is free: the reclaim of a dead waiter's slot takes its share off
 *   WAITERS, and a waiter that died inside GUARD between the words is put
 *   right by the repair's recount. (Before, WAITERS was taken off outside
 *   GUARD and recounted by nobody: a waiter killed between two of its steps,
 *   8 of the 57 steps of a timed wait, left it one too high for good, so
 *   every release notified nobody.) A reservation it held names a dead
 *   thread: the next waiter whose slice times out clears it.
 *
 * Fairness. Acquirers barge (no queue) except against a reservation: a waiter
 * that parks takes a ticket, and the oldest parked waiter holds the one
 * reservation (an older ticket replaces a younger reserver). While permits are
 * reserved for it, every other acquirer (tryAcquire and newcomers included)
 * may take only the surplus above the reserved count. So a waiter for a large
 * `n` is not starved by a stream of small acquirers: once it is the oldest,
 * small ones can no longer take the permits it needs, and it gets them as soon
 * as the holders release them. Tickets are 32-bit and compared by wrapping
 * difference (Lamport's bakery, with abandoned tickets simply never reserving).
 */

const GUARD = 0, // MUTEX_WORDS words: an embedded Mutex
  COUNT = GUARD + MUTEX_WORDS,
  EPOCH = COUNT + 1,
  WAITERS = COUNT + 2,
  TICKET = COUNT + 3,
  RESERVE_N = COUNT + 4,
  RESERVER = COUNT + 5,
  RESERVE_TICKET = COUNT + 6,
  UNSLOTTED = COUNT + 7;
const CONTROL_WORDS = UNSLOTTED + 1;
const CONTROL_BYTES = 128; // the control block fills its own cache line; the slot table follows
const HELD = 1, // ThreadSlots fields
  PARKING = 2;

/** The most permits a Semaphore can have (an Int32 word counts them). */
export const MAX_PERMITS = 0x7fffffff;
/** Default number of threads that can hold permits of one semaphore over its life at once. */
export const DEFAULT_SEMAPHORE_THREADS = 64;
const MAX_THREADS = 4096;

export interface SemaphoreOptions {
  /** Permits in all (an integer >= 1); also accepted as the first argument: `new Semaphore(2)`. */
  readonly permits?: number;
  /** How many threads can hold permits at the same time (slots; default 64). */
  readonly maxThreads?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

export interface AcquireOptions {
  /** Milliseconds to wait (default: forever). 0 = try once. */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
export interface AcquireAsyncOptions extends AcquireOptions {
  readonly signal?: AbortSignal;
  /**
   * Order among this thread's queued acquisitions: higher first, FIFO within
   * a priority (default 0; any finite number). It does not order threads.
   */
  readonly priority?: number;
}
export type { WaitForUnlockOptions } from './local-queue.js';

const slotsLayout = (maxThreads: number): ThreadSlotsLayout => ({ count: maxThreads, fields: 2, padded: false });

const DEF = definePrimitive(
  'Semaphore',
  1,
  {
    permits: integer({ max: MAX_PERMITS }),
    maxThreads: integer({ max: MAX_THREADS, default: DEFAULT_SEMAPHORE_THREADS }),
  },
  { positional: 'permits', bodyBytes: (o) => CONTROL_BYTES + ThreadSlots.byteLength(slotsLayout(o.maxThreads)) },
);
/** What `Semaphore#stats()` reports: a snapshot. */
export interface SemaphoreStats {
  /** Permits it was made with. */
  readonly permits: number;
  /** Permits free now. */
  readonly available: number;
  /** Threads waiting now (a thread's queued tasks count as one). */
  readonly waiters: number;
}

export type SemaphoreHandle = HandleOf<typeof DEF>;

const ACQUIRE = waitOptions('semaphore.acquire(n, options)');
/** acquireAsync and runExclusive: an already-aborted signal rejects even when permits are free (as the Web Locks API does). */
const ACQUIRE_ASYNC = waitAsyncOptions('semaphore.acquireAsync(n, options)', { priority: PRIORITY });
const WAIT_FOR_UNLOCK = waitAsyncOptions('semaphore.waitForUnlock(n, options)', { priority: PRIORITY });
type AsyncAcquire = ReturnType<typeof ACQUIRE_ASYNC.parse>;

function asyncOptions(raw: number | AcquireAsyncOptions | undefined): AsyncAcquire {
  const o = ACQUIRE_ASYNC.parse(raw);
  checkSignal(o.signal);
  return o;
}

/** An already-aborted signal rejects even when permits are free. */
function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('aborted before acquiring', signal.reason);
}

const RESOLVED = Promise.resolve();

const me = threadId + 1;
const registry = (): ThreadRegistry => ThreadRegistry.current;
/** True if ticket `a` was taken before ticket `b` (wrapping 32-bit difference). */
const older = (a: number, b: number): boolean => ((a - b) | 0) < 0;

/** Permits held by this thread; `using` / `await using` release them at the end of the scope. */
export class SemaphoreGuard extends Guard {
  /** @internal */
  constructor(
    private readonly semaphore: Semaphore,
    readonly permits: number,
  ) {
    super();
  }
  protected unlock(): void {
    this.semaphore.release(this.permits);
  }
}

/** A waiter's identity while it waits: its ticket, taken when it first parks. */
interface Waiter {
  ticket: number;
  /** Reclaim dead holders (and a dead reserver) before the next attempt. */
  reclaim: boolean;
  /** `ThreadRegistry.deaths` at the last round: a change means a death to act on. */
  deaths: number;
  /** A sync waiter: may take over a reservation of its own thread (whose async tasks cannot run meanwhile). */
  readonly sync: boolean;
  /** Counted in WAITERS (and in its slot's PARKING, or in UNSLOTTED) since its last round. */
  counted: 'no' | 'slot' | 'unslotted';
}

/**
 * A counting semaphore shared by every thread that opens its handle.
 *
 * It holds `permits` permits. `acquire(n)` takes `n` of them, waiting while
 * fewer are available; `release(n)` gives them back. Permits belong to the
 * thread that acquired them (any code of that thread may release them; no
 * other thread can): that is what lets sabre return the permits of a thread
 * that dies holding them, within `LIVENESS_SLICE_MS` of a waiter looking.
 * `release()` happens-before every acquisition that takes the permits it gave
 * back. Waiters are served fairly: the oldest waiter reserves what it needs,
 * and newcomers may take only the surplus (no starvation of large `n`).
 *
 * Within one thread, the async acquisitions (`acquireAsync`,
 * `acquireGuardAsync`, `runExclusive`) behave as async-mutex's: those that
 * cannot proceed at once queue in `priority` order (higher first, FIFO within
 * a priority), and the head blocks the rest (a heavy head is not overtaken by
 * light tasks of its priority or lower); a release by this thread serves its
 * queue in the same step; `cancel()` rejects the queued ones with
 * `CanceledError`; `waitForUnlock(n)` waits until `n` permits could be taken.
 * `runExclusive` always calls `fn` in a later microtask, never inside the
 * call. Across threads, `priority` does not apply: a thread's queue takes
 * part in the fairness above as one waiter (the age of its oldest wait). The
 * queue is shared by every Semaphore object of the thread on this semaphore,
 * however many times its handle was received (see `LocalQueue`).
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for permits or `n` that are
 *   not positive integers, `n` above `permits` (it could never succeed), or a
 *   release of more permits than this thread holds
 * @throws NotOwnerError (`ERR_NOT_OWNER`) on `release` by a thread holding none
 * @throws TimeoutError (`ERR_TIMEOUT`) when a wait passes its timeout
 * @throws AbortError (`ERR_ABORTED`) when an async wait's signal fires (or had fired)
 * @throws CanceledError (`ERR_CANCELED`) when `cancel()` withdraws a queued async acquisition
 * @throws DeadlockError (`ERR_DEADLOCK`) when a blocking `acquire` could only
 *   succeed if this (blocked) thread released permits first
 * @throws CapacityError (`ERR_CAPACITY`) when more than `maxThreads` live threads hold permits
 *
 * @example
 * ```ts
 * const connections = new Semaphore(4);          // pass connections.handle to workers
 * await connections.runExclusive(() => fetch(url));
 * // In a worker: Semaphore.from(handle).acquire(); … finally release()
 * ```
 */
export class Semaphore {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: SemaphoreHandle;
  /** The total number of permits. */
  readonly permits: number;
  private readonly words: Int32Array;
  /** GUARD: the internal lock of every counted step (an embedded Mutex: poisoned when a holder dies inside it). */
  private readonly guard: Mutex;
  private readonly slots: ThreadSlots;
  private readonly slotWords: Int32Array;
  private readonly giveBack = (slot: number): void => this.giveBackSlot(slot);
  /** This thread's queued async acquisitions of this semaphore (shared by every Semaphore object of the thread on the same memory). */
  private readonly queue: LocalQueue;

  constructor(permits: number, options?: Omit<SemaphoreOptions, 'permits'>);
  constructor(options: SemaphoreOptions & { readonly permits: number });
  /** @internal */
  constructor(opened: OpenedOf<typeof DEF>);
  constructor(permits: number | SemaphoreOptions | OpenedOf<typeof DEF>, options?: Omit<SemaphoreOptions, 'permits'>) {
    const { region, options: o, created } = DEF.resolve(permits, options);
    if (created) region.i32(0, CONTROL_WORDS)[COUNT] = o.permits; // before the handle is published
    this.handle = region.handle;
    this.permits = o.permits;
    this.words = region.i32(0, CONTROL_WORDS);
    this.guard = Mutex.embedded(this.words.subarray(GUARD, GUARD + MUTEX_WORDS));
    const layout = slotsLayout(o.maxThreads);
    this.slotWords = region.i32(CONTROL_BYTES, ThreadSlots.byteLength(layout) / 4);
    this.slots = new ThreadSlots(this.slotWords, layout);
    this.queue = localQueue(this.words, region.id);
  }

  /**
   * A semaphore placed at `byteOffset` of `parent`'s body (a bulkhead's),
   * laid out with the parent or re-opened from it.
   * @internal
   */
  static part(
    parent: Region,
    byteOffset: number,
    room: number,
    options: SemaphoreOptions & { readonly permits: number },
    mode: 'create' | 'open',
  ): Semaphore {
    const opened = DEF.part(parent, byteOffset, room, options, mode);
    if (mode === 'create') opened.region.i32(0, CONTROL_WORDS)[COUNT] = opened.options.permits;
    return new Semaphore(opened);
  }

  /** Re-opens a semaphore from its handle, in any thread. @throws HandleError */
  static from(handle: SemaphoreHandle): Semaphore {
    return new Semaphore(DEF.open(handle));
  }

  /** Bytes a Semaphore takes (in an arena, rounded up to 128): `byteLength(permits, options)` or `byteLength(options)`; only `maxThreads` changes it. */
  static byteLength(permits?: number | SemaphoreOptions, options?: Omit<SemaphoreOptions, 'permits'>): number {
    if (permits === undefined || (typeof permits === 'object' && permits !== null && permits.permits === undefined)) {
      return DEF.byteLength({ ...permits, ...options, permits: 1 });
    }
    return DEF.byteLength(permits, options);
  }

  /** Permits available now (a snapshot; some may be reserved for the oldest waiter). */
  get available(): number {
    return load(this.words, COUNT);
  }

  /** Waiters now, over all threads, counted from their decision to park (a snapshot; a thread's queued tasks count as one). @internal */
  get waiterCount(): number {
    return load(this.words, WAITERS);
  }

  /** A snapshot of its state, for metrics. */
  stats(): SemaphoreStats {
    return { permits: this.permits, available: load(this.words, COUNT), waiters: load(this.words, WAITERS) };
  }

  /** Permits this thread holds (a snapshot). */
  get heldByCurrentThread(): number {
    const slot = this.slots.mineIfAny();
    return slot < 0 ? 0 : load(this.slotWords, this.slots.word(slot, HELD));
  }

  /**
   * Takes `n` permits if they are available now (and not reserved for an
   * older waiter), without waiting.
   */
  tryAcquire(n = 1): boolean {
    this.checkN(n);
    if (this.attempt(n, undefined)) return true;
    return this.tryAcquireSlow(n);
  }

  /**
   * Blocks this thread until `n` permits are taken. Blocking the main thread
   * stalls its event loop: there, prefer `acquireAsync` / `runExclusive`.
   * Returns a guard that releases them (`using`, or `guard.release()`);
   * `release(n)` works as well.
   * @param options ms (default: forever; 0 = try once), or `{ timeoutMs }`
   */
  acquire(n = 1, options?: number | AcquireOptions): SemaphoreGuard {
    // Arguments are validated before the fast path: a bad timeout is an error even when permits are free.
    this.checkN(n);
    const o = ACQUIRE.parse(options);
    if (!this.attempt(n, undefined)) this.acquireSlow(n, toDeadline(o.timeoutMs));
    return new SemaphoreGuard(this, n);
  }

  /**
   * Waits for `n` permits without blocking the event loop (queued behind this
   * thread's earlier async acquisitions of equal or higher priority).
   * Resolves with a guard that releases them (`await using`).
   * @param options `{ timeoutMs, signal, priority }` (a number is a timeout)
   */
  async acquireAsync(n = 1, options?: number | AcquireAsyncOptions): Promise<SemaphoreGuard> {
    this.checkN(n);
    const o = asyncOptions(options);
    if (this.queue.acquirers.length !== 0 || !this.attempt(n, undefined)) await this.acquireAsyncSlow(n, o);
    return new SemaphoreGuard(this, n);
  }

  /**
   * Gives back `n` permits this thread holds and wakes the waiters.
   * @throws NotOwnerError if this thread holds none
   * @throws InvalidArgumentError if it holds fewer than `n` (nothing is released)
   */
  release(n = 1): void {
    positiveInteger('n', n, MAX_PERMITS);
    const slot = this.slots.mineIfAny();
    const repaired = this.lockGuard();
    const at = slot < 0 ? -1 : this.slots.word(slot, HELD);
    const held = at < 0 ? 0 : load(this.slotWords, at);
    if (held < n) {
      this.unlockGuard(repaired);
      if (held === 0) throw new NotOwnerError(`release of ${n} permit(s) by thread ${threadId}, which holds none`);
      throw new InvalidArgumentError(`release(n): releasing more than acquired: this thread holds ${held} permit(s), got n = ${n}`);
    }
    store(this.slotWords, at, held - n);
    // Linearization point of release.
    store(this.words, COUNT, load(this.words, COUNT) + n);
    add(this.words, EPOCH, 1);
    // This thread's queued tasks are served in the same step (as async-mutex's release), within the fairness rules.
    if (!this.queue.empty) this.serveLocked(this.queue, this.queue.driver as Waiter | undefined);
    this.unlockGuard(true);
  }

  /** @deprecated `acquire` returns the guard (`SABRE_DEP_ACQUIRE_GUARD`). */
  acquireGuard(n = 1, options?: number | AcquireOptions): SemaphoreGuard {
    deprecated('SABRE_DEP_ACQUIRE_GUARD', 'Semaphore#acquireGuard');
    return this.acquire(n, options);
  }

  /** @deprecated `acquireAsync` resolves with the guard (`SABRE_DEP_ACQUIRE_GUARD`). */
  acquireGuardAsync(n = 1, options?: number | AcquireAsyncOptions): Promise<SemaphoreGuard> {
    deprecated('SABRE_DEP_ACQUIRE_GUARD', 'Semaphore#acquireGuardAsync');
    return this.acquireAsync(n, options);
  }

  /**
   * Runs `fn` (sync or async) holding `n` permits, never blocking the event
   * loop. The permits are released when `fn`'s result settles.
   */
  runExclusive<T>(fn: () => T | PromiseLike<T>, n = 1, options?: number | AcquireAsyncOptions): Promise<T> {
    try {
      if (typeof fn !== 'function') throw new InvalidArgumentError(`runExclusive(fn): fn must be a function, got ${typeof fn}`);
      this.checkN(n);
      const o = asyncOptions(options);
      // Fast path: the permits are taken now; fn runs in the next microtask, never inside this call.
      if (this.queue.acquirers.length === 0 && this.attempt(n, undefined)) return RESOLVED.then(() => this.runHeld(fn, n));
      return this.acquireAsyncSlow(n, o).then(() => this.runHeld(fn, n));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Resolves once this thread could take `n` permits: they are available to it
   * (not reserved for an older waiter of another thread) and no queued
   * acquisition of this thread of equal or higher `priority` comes first (as
   * async-mutex's `waitForUnlock(weight, priority)`). It takes nothing, and by
   * the time the caller runs another thread may have taken them.
   * @throws TimeoutError after `timeoutMs` (0 = look once)
   */
  waitForUnlock(n = 1, options?: number | WaitForUnlockOptions): Promise<void> {
    try {
      this.checkN(n);
      const o = WAIT_FOR_UNLOCK.parse(options);
      checkSignal(o.signal);
      const q = this.queue;
      if (q.topPriority < o.priority && this.roomFor(q.driver as Waiter | undefined) >= n) return RESOLVED;
      const message = `timed out waiting for ${n} permit(s) of the semaphore to be free`;
      if (o.timeoutMs === 0) throw new TimeoutError(message);
      const waiting = q.enqueue(
        { priority: o.priority, n, ignorePoison: false, timeoutMs: o.timeoutMs, signal: o.signal, timeoutMessage: message },
        true,
      );
      this.drive();
      return waiting;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Rejects this thread's queued async acquisitions of this semaphore (from
   * `acquireAsync`, `acquireGuardAsync`, `runExclusive`, whose `fn` then never
   * runs) with `CanceledError`. Permits already held stay held;
   * `waitForUnlock` callers and other threads' waiters are not affected.
   */
  cancel(): void {
    this.queue.cancel('a queued acquisition of the semaphore was');
  }

  /** Calls `fn` (from a promise callback) while holding `n` permits; releases them when its result settles. */
  private runHeld<T>(fn: () => T | PromiseLike<T>, n: number): T | Promise<T> {
    return runHolding(fn, () => this.release(n));
  }

  private checkN(n: number): void {
    if (n !== 1) {
      positiveInteger('n', n, MAX_PERMITS);
      if (n > this.permits)
        throw new InvalidArgumentError(
          `n must be at most the semaphore's ${this.permits} permit(s) (it could never be acquired), got ${n}`,
        );
    }
  }

  // ---- the guarded steps ---------------------------------------------------

  /**
   * One attempt under GUARD: takes `n` permits if the surplus allows (all of
   * them, for the reserving waiter). Returns true if taken.
   */
  private attempt(n: number, waiter: Waiter | undefined): boolean {
    const repaired = this.lockGuard();
    try {
      return this.takeLocked(n, waiter);
    } finally {
      this.unlockGuard(repaired);
    }
  }

  /** Under GUARD. */
  private takeLocked(n: number, waiter: Waiter | undefined): boolean {
    const count = load(this.words, COUNT);
    const reserved = load(this.words, RESERVE_N);
    const mine = waiter !== undefined && reserved !== 0 && load(this.words, RESERVE_TICKET) === waiter.ticket;
    if (count - (mine ? 0 : reserved) < n) return false;
    const at = this.slots.word(this.slots.mine(this.giveBack), HELD);
    store(this.slotWords, at, load(this.slotWords, at) + n);
    // Linearization point of acquire.
    store(this.words, COUNT, count - n);
    if (mine) {
      store(this.words, RESERVE_N, 0);
      // The surplus others see goes from count - reserved to count - n: larger when the reservation
      // was for more than was taken (the queue's head changed since), and then they must look again.
      if (reserved > n) {
        add(this.words, EPOCH, 1);
        this.surplusGrew = true;
      }
    }
    return true;
  }

  /** Adds a dead thread's permits back (under GUARD, called by ThreadSlots.reclaimDead). */
  private giveBackSlot(slot: number): void {
    this.forgetParking(slot);
    const at = this.slots.word(slot, HELD);
    const held = load(this.slotWords, at);
    if (held === 0) return;
    // Linearization point of a dead thread's give-back. (Death before the next
    // store is repaired by the recount: GUARD names this thread.)
    store(this.words, COUNT, load(this.words, COUNT) + held);
    store(this.slotWords, at, 0);
    add(this.words, EPOCH, 1);
  }

  /** Under GUARD, a dead thread's slot: its parked waiters leave WAITERS (idempotent: the field is cleared). */
  private forgetParking(slot: number): void {
    const at = this.slots.word(slot, PARKING);
    const parking = load(this.slotWords, at);
    if (parking === 0) return;
    store(this.words, WAITERS, Math.max(0, load(this.words, WAITERS) - parking));
    store(this.slotWords, at, 0);
  }

  /** Under GUARD: this waiter is about to park; counted in WAITERS and in its thread's slot (or, with none free, in UNSLOTTED). */
  private countParking(waiter: Waiter): void {
    let slot: number;
    try {
      slot = this.slots.mine(this.giveBack);
    } catch {
      slot = -1; // every slot held by a live thread: counted, not attributed (its death would leave the count one too high)
    }
    const at = slot < 0 ? -1 : this.slots.word(slot, PARKING);
    if (at < 0) add(this.words, UNSLOTTED, 1);
    else store(this.slotWords, at, load(this.slotWords, at) + 1);
    add(this.words, WAITERS, 1);
    waiter.counted = at < 0 ? 'unslotted' : 'slot';
  }

  /** Under GUARD: the waiter is awake (or leaving): off its slot's PARKING (or UNSLOTTED) and off WAITERS. */
  private uncountParking(waiter: Waiter): void {
    if (waiter.counted === 'no') return;
    const slot = waiter.counted === 'slot' ? this.slots.mineIfAny() : -1;
    waiter.counted = 'no';
    if (slot >= 0) {
      const at = this.slots.word(slot, PARKING);
      store(this.slotWords, at, Math.max(0, load(this.slotWords, at) - 1));
    } else {
      uncount(this.words, UNSLOTTED);
    }
    uncount(this.words, WAITERS);
  }

  /** Under GUARD taken from a dead holder (which may have died between the words): WAITERS := Σ PARKING + UNSLOTTED. */
  private recountWaitersLocked(): void {
    let n = load(this.words, UNSLOTTED);
    for (let s = 0; s < this.slots.layout.count; s++) {
      if (this.slots.ownerOf(s) >= 0) n += load(this.slotWords, this.slots.word(s, PARKING));
    }
    store(this.words, WAITERS, n);
  }

  /** True if a slot with permits (or parked waiters) belongs to a thread proved dead (read-only: no GUARD). */
  /** Set under GUARD by a take that left others more surplus than before: the unlock wakes them. */
  private surplusGrew = false;
  /**
   * The ticker's check for this thread's parked driver: a holder (or the
   * reserving waiter) died (looking records the death). Free permits are not
   * checked: every change that lets a waiter succeed moves EPOCH and wakes
   * it, and a check here would hide a lost wake-up from the properties.
   */
  private readonly watch: Watch = () => this.hasDeadHolder();

  private hasDeadHolder(): boolean {
    const reg = registry();
    for (let s = 0; s < this.slots.layout.count; s++) {
      const owner = this.slots.ownerOf(s);
      if (owner < 0 || owner === threadId) continue;
      const busy = load(this.slotWords, this.slots.word(s, HELD)) !== 0 || load(this.slotWords, this.slots.word(s, PARKING)) !== 0;
      if (busy && !reg.isAlive(owner)) return true;
    }
    const reserver = load(this.words, RESERVER);
    return load(this.words, RESERVE_N) !== 0 && reserver !== me && !reg.isAlive(reserver - 1);
  }

  /** Under GUARD: returns dead threads' permits and drops a dead waiter's reservation. */
  private reclaimLocked(): void {
    this.slots.reclaimDead(this.giveBack);
    const reserver = load(this.words, RESERVER);
    if (load(this.words, RESERVE_N) !== 0 && reserver !== me && !registry().isAlive(reserver - 1)) {
      store(this.words, RESERVE_N, 0);
      add(this.words, EPOCH, 1);
    }
  }

  /**
   * Under GUARD, after a waiter failed to take: reserves its `n` if nobody
   * (or a younger waiter, or a dead thread, or for a sync waiter a suspended
   * task of its own thread) holds the reservation. Returns true if it took the
   * reservation over from another waiter.
   */
  private reserveLocked(n: number, waiter: Waiter): boolean {
    const reserved = load(this.words, RESERVE_N);
    if (reserved !== 0) {
      const ticket = load(this.words, RESERVE_TICKET);
      if (ticket === waiter.ticket) {
        // A thread's driver reserves for its queue's head, which may change (a task of higher priority, a cancel).
        if (n !== reserved) {
          store(this.words, RESERVE_N, n);
          if (n < reserved) add(this.words, EPOCH, 1);
        }
        return false;
      }
      const reserver = load(this.words, RESERVER);
      const takeOver = older(waiter.ticket, ticket) || (waiter.sync && reserver === me);
      if (!takeOver) return false;
    }
    store(this.words, RESERVER, me);
    store(this.words, RESERVE_TICKET, waiter.ticket);
    store(this.words, RESERVE_N, n);
    if (reserved !== 0 && n < reserved) add(this.words, EPOCH, 1); // a smaller reservation: more surplus for others
    // Taken over from another waiter: that reservation may be all that kept this one from taking
    // (the caller must look again before it parks: no one else will wake it for permits already free).
    return reserved !== 0;
  }

  /** Drops this waiter's reservation, if it still holds it, and wakes the others to use the surplus. */
  private abandon(waiter: Waiter): void {
    const repaired = this.lockGuard();
    this.uncountParking(waiter);
    let changed = repaired;
    if (load(this.words, RESERVE_N) !== 0 && load(this.words, RESERVE_TICKET) === waiter.ticket) {
      store(this.words, RESERVE_N, 0);
      add(this.words, EPOCH, 1);
      changed = true;
    }
    this.unlockGuard(changed);
  }

  /**
   * Takes GUARD. Returns true if it had to repair the state after a holder
   * that died inside it (the caller then wakes the waiters when it unlocks):
   * its Mutex is then poisoned, and the repair clears the poison.
   */
  private lockGuard(): boolean {
    this.guard.lockIgnoringPoison();
    if (!this.guard.isPoisoned) return false;
    this.repairLocked();
    this.guard.clearPoison();
    return true;
  }

  /** Releases GUARD; with `wake`, tells the waiters that the state changed. */
  private unlockGuard(wake: boolean): void {
    this.guard.unlock();
    if ((wake || this.surplusGrew) && load(this.words, WAITERS) > 0) notify(this.words, EPOCH);
    this.surplusGrew = false;
  }

  /** Under GUARD taken from a dead holder: COUNT := permits - Σ HELD, dead slots freed, dead reservation dropped. */
  private repairLocked(): void {
    this.slots.reclaimDead((slot) => this.forgetParking(slot)); // their HELD is zeroed by reclaimDead; the recount below gives it back
    this.recountWaitersLocked();
    let held = 0;
    for (let s = 0; s < this.slots.layout.count; s++) {
      if (this.slots.ownerOf(s) >= 0) held += load(this.slotWords, this.slots.word(s, HELD));
    }
    // Linearization point of a repair.
    store(this.words, COUNT, this.permits - held);
    const reserver = load(this.words, RESERVER);
    if (load(this.words, RESERVE_N) !== 0 && reserver !== me && !registry().isAlive(reserver - 1)) store(this.words, RESERVE_N, 0);
    add(this.words, EPOCH, 1);
  }

  // ---- slow paths ------------------------------------------------------

  private tryAcquireSlow(n: number): boolean {
    if (!this.hasDeadHolder()) return false;
    this.lockGuard();
    try {
      this.reclaimLocked();
      return this.takeLocked(n, undefined);
    } finally {
      this.unlockGuard(true);
    }
  }

  /**
   * One round of a waiter under GUARD: reclaim if due, take if possible,
   * else reserve and count itself a waiter. Returns the epoch to park on, or
   * undefined once the permits are taken.
   */
  private roundLocked(n: number, waiter: Waiter, deadline: number): number | undefined {
    // The liveness questions are asked before taking GUARD (they may read /proc).
    const reclaim = waiter.reclaim && this.hasDeadHolder();
    waiter.reclaim = false;
    waiter.deaths = registry().deaths;
    let wake = this.lockGuard();
    try {
      this.uncountParking(waiter);
      if (reclaim) {
        this.reclaimLocked();
        wake = true;
      }
      if (this.takeLocked(n, waiter)) return undefined;
      if (waiter.sync) {
        const at = this.slots.mineIfAny();
        const mine = at < 0 ? 0 : load(this.slotWords, this.slots.word(at, HELD));
        if (n > this.permits - mine) {
          throw new DeadlockError(
            `acquire(${n}) would block forever: this thread holds ${mine} of the ${this.permits} permit(s), and only it can release them`,
          );
        }
      }
      if (deadline !== Infinity && systemClock.now() >= deadline)
        throw new TimeoutError(`timed out waiting for ${n} permit(s) of the semaphore`);
      const before = load(this.words, EPOCH);
      if (this.reserveLocked(n, waiter) && this.takeLocked(n, waiter)) {
        if (load(this.words, EPOCH) !== before) wake = true;
        return undefined;
      }
      if (load(this.words, EPOCH) !== before) wake = true;
      this.countParking(waiter);
      return load(this.words, EPOCH);
    } finally {
      this.unlockGuard(wake);
    }
  }

  private acquireSlow(n: number, deadline: number): void {
    const waiter: Waiter = { ticket: add(this.words, TICKET, 1), reclaim: true, deaths: 0, sync: true, counted: 'no' };
    try {
      runBlocking(this.waitPath(waiter, () => this.roundLocked(n, waiter, deadline), deadline, undefined));
    } catch (e) {
      this.abandon(waiter);
      throw e;
    }
  }

  /**
   * A waiter's rounds, for both forms (slow-path.ts): each `round` (under
   * GUARD) takes, or reserves and counts the waiter and answers the epoch to
   * park on; undefined ends the wait. After a slice that passed without a
   * wake-up, or any recorded death (an async park also returns early then),
   * the next round looks for dead holders first.
   */
  private *waitPath(waiter: Waiter, round: () => number | undefined, deadline: number, waker: Waker | undefined): SlowPath<void> {
    for (;;) {
      const epoch = round();
      if (epoch === undefined) return;
      const r = yield { word: this.words, index: EPOCH, expected: epoch, deadline, watch: this.watch, ...(waker ? { waker } : {}) };
      if (r === 'timed-out' || registry().deaths !== waiter.deaths) waiter.reclaim = true;
    }
  }

  /** An async acquisition that could not take the permits in the fast path: take them if allowed, else queue. */
  private acquireAsyncSlow(n: number, o: AsyncAcquire): Promise<void> {
    const q = this.queue;
    // A newcomer that outranks every queued task of this thread may take free permits at once (as in async-mutex).
    if (q.topPriority < o.priority && this.attempt(n, undefined)) return RESOLVED;
    if (o.timeoutMs === 0) {
      if (this.tryAcquireSlow(n)) return RESOLVED; // dead holders' permits count
      throw new TimeoutError(`timed out waiting for ${n} permit(s) of the semaphore`);
    }
    const granted = q.enqueue(
      {
        priority: o.priority,
        n,
        ignorePoison: false,
        timeoutMs: o.timeoutMs,
        signal: o.signal,
        timeoutMessage: `timed out waiting for ${n} permit(s) of the semaphore`,
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
   * The driver: waits, as one waiter with one ticket (the age of this
   * thread's oldest queued wait), for the permits its queue's head needs;
   * each round serves the queue as far as the permits allow and reserves for
   * the head. Ends when the queue is empty; its reservation goes with it.
   */
  private async driveLoop(q: LocalQueue): Promise<void> {
    const waiter: Waiter = { ticket: add(this.words, TICKET, 1), reclaim: true, deaths: 0, sync: false, counted: 'no' };
    q.driver = waiter;
    try {
      await runAsync(this.waitPath(waiter, () => this.driverRound(q, waiter), Infinity, q.waker));
    } catch (e) {
      // Not expected: fail the queued tasks rather than strand them.
      q.rejectAcquirers(() => e);
      q.rejectWatchers(() => e);
    } finally {
      if (q.driver === waiter) this.endDriver(q); // when the round did not (an error)
      this.abandon(waiter);
    }
  }

  /**
   * This driver is done: cleared in the same turn as the round that found
   * the queue empty (the driver's own end comes a microtask later), so an
   * enqueue in between starts a new driver instead of waking this one.
   */
  private endDriver(q: LocalQueue): void {
    q.driving = false;
    q.driver = undefined;
  }

  /**
   * One round of the driver under GUARD: reclaim if due, serve the queue,
   * then reserve for the head and count itself a waiter. Returns the epoch to
   * park on, or undefined once the queue is empty.
   */
  private driverRound(q: LocalQueue, waiter: Waiter): number | undefined {
    const reclaim = waiter.reclaim && this.hasDeadHolder();
    waiter.reclaim = false;
    waiter.deaths = registry().deaths;
    let wake = this.lockGuard();
    const before = load(this.words, EPOCH);
    try {
      this.uncountParking(waiter);
      if (reclaim) {
        this.reclaimLocked();
        wake = true;
      }
      this.serveLocked(q, waiter);
      if (q.empty) {
        this.endDriver(q);
        return undefined;
      }
      let head = q.acquirers[0];
      // A reservation taken over from another waiter may be all that kept the head from taking: serve again.
      while (head !== undefined && this.reserveLocked(head.n, waiter)) {
        this.serveLocked(q, waiter);
        if (q.empty) {
          this.endDriver(q);
          return undefined;
        }
        head = q.acquirers[0];
      }
      if (head === undefined && load(this.words, RESERVE_N) !== 0 && load(this.words, RESERVE_TICKET) === waiter.ticket) {
        // Only watchers left: the reservation goes, and the surplus it held back is others' to take.
        store(this.words, RESERVE_N, 0);
        add(this.words, EPOCH, 1);
      }
      this.countParking(waiter);
      return load(this.words, EPOCH);
    } finally {
      this.unlockGuard(wake || load(this.words, EPOCH) !== before);
    }
  }

  /**
   * Under GUARD: serves this thread's queue as far as the permits allow. The
   * watchers that outrank the head see the room before the head takes from
   * it; the head takes its permits (with the driver's reservation, if it
   * holds it), then the next, stopping at the first that does not fit.
   */
  private serveLocked(q: LocalQueue, waiter: Waiter | undefined): void {
    for (;;) {
      q.releaseWatchers(this.roomFor(waiter));
      const head = q.acquirers[0];
      if (head === undefined || !this.takeLocked(head.n, waiter)) return;
      q.grantHead();
    }
  }

  /** Permits `waiter` (or a newcomer, if undefined) could take now: all available, less a reservation held by another. */
  private roomFor(waiter: Waiter | undefined): number {
    const count = load(this.words, COUNT);
    const reserved = load(this.words, RESERVE_N);
    const mine = waiter !== undefined && reserved !== 0 && load(this.words, RESERVE_TICKET) === waiter.ticket;
    return count - (mine ? 0 : reserved);
  }
}
