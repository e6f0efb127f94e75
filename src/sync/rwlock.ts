/**
 * RWLock: many readers or one writer, across every thread of the process;
 * writers are not starved.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { ThreadSlots, type ThreadSlotsLayout } from '../threads/thread-slots.js';
import { systemClock } from '../clock.js';
import { DeadlockError, InvalidArgumentError, NotOwnerError, OwnerDiedError, TimeoutError } from '../errors.js';
import { boolean, integer } from '../options/field.js';
import { waitAsyncOptions, waitOptions } from '../options/wait.js';
import type { LockAsyncOptions, LockOptions } from './mutex.js';
import { toDeadline, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';
import { Guard } from './guard.js';
import { runHolding } from './holding.js';
import { ownerDied } from '../observe/channels.js';

const { add, and, compareExchange, load, notify, or, sub } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Layout (region body):
 *   header (128-byte blocks)  STATE   the writer word (below)
 *                             DRAIN   a sequence: bumped by a reader leaving while a writer drains
 *                             IN_USE  a bitmap, one bit per slot: set by a thread when it
 *                                     claims its slot (before its first COUNT add), cleared
 *                                     when the slot of a dead thread is reclaimed
 *   then                      ThreadSlots (padded: one 128-byte block per thread), field
 *                             COUNT = that thread's read holds (its reentrant depth)
 * Readers are distributed (as Linux's percpu-rwsem and BRAVO): a reader
 * writes only its own slot and reads STATE, so readers of different threads
 * never write a shared cache line and scale; a writer pays for that by
 * scanning the slots, only those marked IN_USE (a few loads, not maxThreads).
 * The header line is read by every reader and written only by writers and
 * by first-time claims, so it stays shared in every reader's cache.
 *
 * STATE, every legal combination (owner = threadId + 1 of the writer, 0 = none):
 *   owner | HELD | POISONED | PARKED | meaning                           | who moves it, to what
 *   0     | 0    | p        | 0      | no writer; readers come and go    | writer: CAS → me|p (intent)
 *   t     | 0    | p        | x      | t announced itself, waits for the | t: OR HELD once every COUNT is 0;
 *         |      |          |        | readers to leave (new ones wait)  | t on timeout/abort: CAS → p, notify(all)
 *   t     | 1    | p        | x      | t holds the write lock            | t's writeUnlock: CAS → p, notify(all) if PARKED
 *   dead t| h    | p        | x      | the writer died                   | anyone proving t dead: CAS → (h ? 1 : p), notify(all)
 * PARKED: a reader or writer may be parked on STATE (set only while owner ≠ 0;
 * every transition to owner 0 clears it and notifies all). POISONED with
 * owner 0: acquisitions throw OwnerDiedError (unless ignorePoison) until
 * clearPoison.
 *
 * Reader protocol (Dekker-style, all steps sequentially consistent): add 1 to
 * COUNT, then load STATE. Writer: CAS intent into STATE, then load every
 * COUNT. Whichever goes second sees the other: a reader that finds a writer's
 * intent withdraws (COUNT - 1, then bumps DRAIN and notifies if that writer is
 * draining) and waits on STATE; a writer that finds a COUNT parks on DRAIN
 * (read before the scan, so a reader leaving after the scan changes it).
 * A waiting writer therefore blocks every reader that arrives after its CAS:
 * the read acquisitions it waits for are only those already inside.
 *
 * Linearization points: readLock = the load of STATE that finds no writer
 * (after the COUNT add); readUnlock = the COUNT sub; writeLock = the OR of
 * HELD (readers were excluded from the intent CAS on and found drained just
 * before); writeUnlock = the CAS that clears the owner.
 *
 * Reentrancy: read holds are per thread (the COUNT), so a thread that holds a
 * read lock may take it again even while a writer waits (as Java's
 * ReentrantReadWriteLock): refusing would deadlock it against the writer that
 * waits for it. The owner is the thread, not the async task: while any task
 * of a thread holds a read lock, that thread's new reads are let in, so a
 * thread that keeps overlapping reads forever keeps writers out. The write
 * lock is not reentrant (sync writeLock by the writer: DeadlockError). A writer
 * may take read locks (downgrade: writeLock, readLock, writeUnlock). A reader
 * may not upgrade: sync writeLock with read holds throws DeadlockError (two
 * upgraders would wait for each other forever).
 *
 * Fairness: writers are preferred (a waiting writer shuts out new readers);
 * writers compete among themselves as a barging mutex; readers woken after a
 * write wait behind the next writer if one already announced itself.
 *
 * Owner death: every STATE change is one atomic step, so a dead writer leaves
 * either its intent or its hold. Waiters park in slices (park.ts) and check
 * the owner's liveness before each park: a dead holder (HELD) poisons, a dead
 * announcer (not HELD) never touched the data, so its intent is just cleared.
 * A reader dying holding a read lock (or between its COUNT add and its
 * withdrawal) leaves a COUNT > 0 in a slot it owns: a draining writer whose
 * park slice times out calls ThreadSlots.reclaimDead, which zeroes the slots
 * of dead threads, so it gets in within one slice of the reader being known
 * dead. A reader dying between its COUNT sub and its DRAIN bump only delays
 * the writer to the end of its slice.
 */

const OWNER_BITS = 28;
const OWNER_MASK = (1 << OWNER_BITS) - 1;
const HELD = 1 << OWNER_BITS;
const POISONED = 1 << (OWNER_BITS + 1);
const PARKED = 1 << (OWNER_BITS + 2);

const STATE = 0,
  DRAIN = 1,
  IN_USE = 2; // Int32 word offsets in the header; IN_USE .. : one bit per slot
const COUNT = 1; // ThreadSlots field: this thread's read holds

/** Header bytes: STATE, DRAIN and the IN_USE bitmap, padded to whole 128-byte blocks. */
const headerBytes = (maxThreads: number): number =>
  Math.ceil((4 * (IN_USE + Math.ceil(maxThreads / 32))) / CACHE_LINE_BYTES) * CACHE_LINE_BYTES;

/** Threads that can hold read locks at once unless `maxThreads` says otherwise. */
export const DEFAULT_RWLOCK_THREADS = 64;
/** The most `maxThreads` may be. */
export const MAX_RWLOCK_THREADS = 4096;

export interface RWLockOptions {
  /** How many threads may hold read locks at once (default 64): one 128-byte slot each. */
  readonly maxThreads?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
const layoutOf = (maxThreads: number): ThreadSlotsLayout => ({ count: maxThreads, fields: 1, padded: true });

const DEF = definePrimitive(
  'RWLock',
  1,
  {
    maxThreads: integer({ max: MAX_RWLOCK_THREADS, default: DEFAULT_RWLOCK_THREADS }),
  },
  { bodyBytes: (o) => headerBytes(o.maxThreads) + ThreadSlots.byteLength(layoutOf(o.maxThreads)) },
);
/** What `RWLock#stats()` reports: a snapshot. */
export interface RWLockStats {
  readonly writeLocked: boolean;
  /** The writer's threadId, or -1. */
  readonly writerThreadId: number;
  readonly writerWaiting: boolean;
  /** Read holds now, over all threads. */
  readonly readers: number;
  /** A writer died holding it, and no one has called `clearPoison()` since. */
  readonly poisoned: boolean;
}

export type RWLockHandle = HandleOf<typeof DEF>;

const READ = waitOptions('rwlock.readLock(options)', { ignorePoison: boolean() });
const WRITE = waitOptions('rwlock.writeLock(options)', { ignorePoison: boolean() });
const READ_ASYNC = waitAsyncOptions('rwlock.readLockAsync(options)', { ignorePoison: boolean() });
const WRITE_ASYNC = waitAsyncOptions('rwlock.writeLockAsync(options)', { ignorePoison: boolean() });
type Resolved = ReturnType<typeof READ_ASYNC.parse>;

const me = threadId + 1;
const ME_HELD = me | HELD;
const RESOLVED = Promise.resolve();
const registry = (): ThreadRegistry => ThreadRegistry.current;

/** A held read or write lock; `using` / `await using` release it at the end of the scope. */
export class RWLockGuard extends Guard {
  /** @internal */
  constructor(
    private readonly lock: RWLock,
    readonly mode: 'read' | 'write',
  ) {
    super();
  }
  protected unlock(): void {
    if (this.mode === 'read') this.lock.readUnlock();
    else this.lock.writeUnlock();
  }
}

/**
 * A readers-writer lock shared by every thread that opens its handle: any
 * number of threads hold it for reading, or one holds it for writing.
 *
 * Writers are not starved: once a writer is waiting, new readers wait behind
 * it, so it gets in as soon as the readers already inside leave. Readers
 * scale: a read acquisition writes only the calling thread's own 128-byte
 * slot, never a word shared with other readers.
 *
 * Read locks are reentrant per thread (a thread holding one may take it again
 * even while a writer waits); the write lock is not. A writer may take read
 * locks and then release the write lock (downgrade); a reader cannot upgrade.
 * The owner is the thread, not the async task.
 *
 * Memory synchronization: `writeUnlock()` happens-before every later
 * acquisition (read or write); `readUnlock()` happens-before the next
 * `writeLock()` that returns.
 *
 * Owner death: a thread that dies holding read locks has them returned (a
 * waiting writer reclaims them within `LIVENESS_SLICE_MS` of the death being
 * provable). A writer that dies holding the write lock *poisons* it, as a
 * Mutex: every later acquisition, read or write, throws `OwnerDiedError` until
 * `clearPoison()`, or acquires anyway with `{ ignorePoison: true }`.
 *
 * @throws TimeoutError (`ERR_TIMEOUT`) when a wait passes its timeout
 * @throws AbortError (`ERR_ABORTED`) when an async wait's signal fires
 * @throws DeadlockError (`ERR_DEADLOCK`) on a sync `writeLock` by the writer or
 *   by a thread holding read locks, or a sync `readLock` while this thread's
 *   own async writer is waiting
 * @throws NotOwnerError (`ERR_NOT_OWNER`) on `readUnlock` / `writeUnlock` by a thread that does not hold it
 * @throws OwnerDiedError (`ERR_OWNER_DIED`) while poisoned
 * @throws CapacityError (`ERR_CAPACITY`) when more than `maxThreads` live threads read
 *
 * @example
 * ```ts
 * const lock = new RWLock();
 * // in any worker: const lock = RWLock.from(workerData.lock);
 * const price = await lock.runRead(() => table.get('price'));
 * await lock.runWrite(() => table.set('price', 42));
 * {
 *   using _read = lock.acquireRead();   // released at the end of the block
 *   render(table);
 * }
 * ```
 */
export class RWLock {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: RWLockHandle;
  private readonly state: Int32Array;
  /** The ThreadSlots words; `countAt` indexes this thread's COUNT in them. */
  private readonly slotWords: Int32Array;
  private readonly slots: ThreadSlots;
  private readonly stride: number;
  private readonly bitmapEnd: number;
  /** Clears a reclaimed slot's IN_USE bit (ThreadSlots zeroes its COUNT after this). */
  private readonly releaseSlot = (slot: number): void => void and(this.state, IN_USE + (slot >>> 5), ~(1 << (slot & 31)));
  private countAt = -1;

  constructor(options?: RWLockOptions | OpenedOf<typeof DEF>) {
    const { region, options: o } = DEF.resolve(options);
    this.handle = region.handle;
    const layout = layoutOf(o.maxThreads);
    const header = headerBytes(layout.count);
    this.state = region.i32(0, header / 4);
    this.bitmapEnd = IN_USE + Math.ceil(layout.count / 32);
    this.slotWords = region.i32(header, ThreadSlots.byteLength(layout) / 4);
    this.slots = new ThreadSlots(this.slotWords, layout);
    this.stride = ThreadSlots.byteLength(layout) / 4 / layout.count;
  }

  /** Re-opens an RWLock from its handle, in any thread. @throws HandleError */
  static from(handle: RWLockHandle): RWLock {
    return new RWLock(DEF.open(handle));
  }

  /** Bytes an RWLock takes (in an arena, rounded up to 128). */
  static byteLength(options?: RWLockOptions): number {
    return DEF.byteLength(options);
  }

  // ---- snapshots ---------------------------------------------------------

  /** A snapshot of its state, for metrics (the getters below, read one after another). */
  stats(): RWLockStats {
    return {
      writeLocked: this.isWriteLocked,
      writerThreadId: this.writerThreadId,
      writerWaiting: this.isWriterWaiting,
      readers: this.readerCount,
      poisoned: this.isPoisoned,
    };
  }

  /** True while a thread holds the write lock. */
  get isWriteLocked(): boolean {
    return (load(this.state, STATE) & HELD) !== 0;
  }

  /** True while a writer has announced itself and waits for readers to leave (new readers wait behind it). */
  get isWriterWaiting(): boolean {
    const s = load(this.state, STATE);
    return (s & OWNER_MASK) !== 0 && (s & HELD) === 0;
  }

  /** True once a reader or writer may be parked on the writer word, until the next writer leaves (a snapshot; set before it parks). @internal */
  get hasParkedWaiters(): boolean {
    return (load(this.state, STATE) & PARKED) !== 0;
  }

  /** Read holds of all threads together. */
  get readerCount(): number {
    let n = 0;
    for (let w = IN_USE; w < this.bitmapEnd; w++) {
      for (let bits = load(this.state, w); bits !== 0; bits &= bits - 1) {
        n += load(this.slotWords, this.countOf(((w - IN_USE) << 5) + 31 - Math.clz32(bits & -bits)));
      }
    }
    return n;
  }

  /** Read holds of the calling thread (its reentrant depth). */
  get readHoldCount(): number {
    const at = this.countIfAny();
    return at < 0 ? 0 : load(this.slotWords, at);
  }

  /** The threadId of the writer (holding or waiting for readers), or -1. */
  get writerThreadId(): number {
    return (load(this.state, STATE) & OWNER_MASK) - 1;
  }

  /** True after a writer died holding the write lock, until `clearPoison()`. */
  get isPoisoned(): boolean {
    return (load(this.state, STATE) & POISONED) !== 0;
  }

  /** Acknowledges a writer's death: later acquisitions succeed normally. */
  clearPoison(): void {
    for (;;) {
      const s = load(this.state, STATE);
      if ((s & POISONED) === 0 || compareExchange(this.state, STATE, s, s & ~POISONED) === s) return;
    }
  }

  // ---- read side -------------------------------------------------------

  /**
   * Takes a read lock if no writer holds or waits for the lock (or this
   * thread already reads), without waiting.
   * @throws OwnerDiedError while poisoned (unless `ignorePoison`)
   */
  tryReadLock(options: { ignorePoison?: boolean } = {}): boolean {
    const at = this.countAt >= 0 ? this.countAt : this.claimCount();
    add(this.slotWords, at, 1);
    if (load(this.state, STATE) === 0) return true;
    this.withdrawRead(at);
    return this.tryReadLockSlow(at, options.ignorePoison === true);
  }

  /**
   * Blocks this thread until it holds a read lock. Blocking the main thread
   * stalls its event loop: there, prefer `readLockAsync` / `runRead`.
   * @param options a timeout in ms, or `{ timeoutMs, ignorePoison }`
   */
  readLock(options?: number | LockOptions): void {
    // Options are validated before the fast path: a bad timeout is an error even when the lock is free.
    const o = READ.parse(options);
    const at = this.countAt >= 0 ? this.countAt : this.claimCount();
    add(this.slotWords, at, 1);
    if (load(this.state, STATE) === 0) return;
    this.withdrawRead(at);
    this.readLockSlow(at, toDeadline(o.timeoutMs), o.ignorePoison);
  }

  /** Waits for a read lock without blocking the event loop. */
  async readLockAsync(options?: number | LockAsyncOptions): Promise<void> {
    const o = READ_ASYNC.parse(options);
    const at = this.countAt >= 0 ? this.countAt : this.claimCount();
    add(this.slotWords, at, 1);
    if (load(this.state, STATE) === 0) return;
    this.withdrawRead(at);
    await this.readLockAsyncSlow(at, toDeadline(o.timeoutMs), o.ignorePoison, o.signal);
  }

  /**
   * Releases one read hold of this thread.
   * @throws NotOwnerError if this thread holds no read lock
   */
  readUnlock(): void {
    const at = this.countAt >= 0 ? this.countAt : this.countIfAny();
    // Linearization point: the sub. Only this thread writes its COUNT, so its old value says whether it held.
    if (at < 0 || sub(this.slotWords, at, 1) <= 0) this.readUnlockMisuse(at);
    if (load(this.state, STATE) !== 0) this.wakeDrainingWriter();
  }

  /** Undoes the sub of a readUnlock that held nothing (a writer that saw the transient -1 re-scans) and throws. */
  private readUnlockMisuse(at: number): never {
    if (at >= 0) this.withdrawRead(at, -1);
    throw new NotOwnerError(`readUnlock by thread ${threadId}, which holds no read lock`);
  }

  /** Takes a read lock and returns a guard for `using`. */
  acquireRead(options?: number | LockOptions): RWLockGuard {
    this.readLock(options);
    return new RWLockGuard(this, 'read');
  }

  /** The async form of `acquireRead`, for `await using`. */
  async acquireReadAsync(options?: number | LockAsyncOptions): Promise<RWLockGuard> {
    await this.readLockAsync(options);
    return new RWLockGuard(this, 'read');
  }

  /**
   * Runs `fn` (sync or async) under a read lock, never blocking the event
   * loop and never calling `fn` before this call has returned (even when the
   * lock is free, `fn` runs in a later microtask); the lock is released when
   * `fn`'s result settles.
   */
  runRead<T>(fn: () => T | PromiseLike<T>, options?: number | LockAsyncOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new InvalidArgumentError(`runRead(fn): fn must be a function, got ${typeof fn}`));
    let o: Resolved;
    let at: number;
    try {
      o = READ_ASYNC.parse(options);
      at = this.countAt >= 0 ? this.countAt : this.claimCount();
    } catch (e) {
      return Promise.reject(e);
    }
    // Fast path: the read lock is taken now; fn runs in the next microtask, never inside this call.
    add(this.slotWords, at, 1);
    if (load(this.state, STATE) === 0) return RESOLVED.then(() => this.runHeld(fn, 'read'));
    this.withdrawRead(at);
    return this.readLockAsyncSlow(at, toDeadline(o.timeoutMs), o.ignorePoison, o.signal).then(() => this.runHeld(fn, 'read'));
  }

  // ---- write side ------------------------------------------------------

  /**
   * Takes the write lock if no thread holds the lock in any mode, without
   * waiting. Returns false otherwise (also when this thread reads or writes).
   * @throws OwnerDiedError while poisoned (unless `ignorePoison`)
   */
  tryWriteLock(options: { ignorePoison?: boolean } = {}): boolean {
    if (compareExchange(this.state, STATE, 0, me) === 0) {
      if (this.readersGone() || (this.slots.reclaimDead(this.releaseSlot) > 0 && this.readersGone())) {
        or(this.state, STATE, HELD);
        return true;
      }
      this.withdrawIntent();
      return false;
    }
    return this.tryWriteLockSlow(options.ignorePoison === true);
  }

  /**
   * Blocks this thread until it holds the write lock: first announces
   * itself (new readers then wait), then waits for the readers inside to leave.
   * @param options a timeout in ms, or `{ timeoutMs, ignorePoison }`
   */
  writeLock(options?: number | LockOptions): void {
    const o = WRITE.parse(options);
    if (compareExchange(this.state, STATE, 0, me) === 0) {
      if (this.readersGone()) {
        or(this.state, STATE, HELD); // linearization point
        return;
      }
      this.drainSync(toDeadline(o.timeoutMs));
      return;
    }
    this.writeLockSlow(toDeadline(o.timeoutMs), o.ignorePoison);
  }

  /** Waits for the write lock without blocking the event loop. */
  async writeLockAsync(options?: number | LockAsyncOptions): Promise<void> {
    const o = WRITE_ASYNC.parse(options);
    if (compareExchange(this.state, STATE, 0, me) === 0) {
      if (this.readersGone()) {
        or(this.state, STATE, HELD);
        return;
      }
      await this.drainAsync(toDeadline(o.timeoutMs), o.signal);
      return;
    }
    await this.writeLockAsyncSlow(toDeadline(o.timeoutMs), o.ignorePoison, o.signal);
  }

  /**
   * Releases the write lock and wakes every waiter.
   * @throws NotOwnerError if this thread does not hold the write lock
   */
  writeUnlock(): void {
    if (compareExchange(this.state, STATE, ME_HELD, 0) === ME_HELD) return;
    this.writeUnlockSlow();
  }

  /** Takes the write lock and returns a guard for `using`. */
  acquireWrite(options?: number | LockOptions): RWLockGuard {
    this.writeLock(options);
    return new RWLockGuard(this, 'write');
  }

  /** The async form of `acquireWrite`, for `await using`. */
  async acquireWriteAsync(options?: number | LockAsyncOptions): Promise<RWLockGuard> {
    await this.writeLockAsync(options);
    return new RWLockGuard(this, 'write');
  }

  /**
   * Runs `fn` (sync or async) under the write lock, never blocking the event
   * loop and never calling `fn` before this call has returned; the lock is
   * released when `fn`'s result settles.
   */
  runWrite<T>(fn: () => T | PromiseLike<T>, options?: number | LockAsyncOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new InvalidArgumentError(`runWrite(fn): fn must be a function, got ${typeof fn}`));
    let o: Resolved;
    try {
      o = WRITE_ASYNC.parse(options);
    } catch (e) {
      return Promise.reject(e);
    }
    if (compareExchange(this.state, STATE, 0, me) === 0) {
      if (this.readersGone()) {
        or(this.state, STATE, HELD);
        return RESOLVED.then(() => this.runHeld(fn, 'write')); // as runRead: fn never runs inside this call
      }
      return this.drainAsync(toDeadline(o.timeoutMs), o.signal).then(() => this.runHeld(fn, 'write'));
    }
    return this.writeLockAsyncSlow(toDeadline(o.timeoutMs), o.ignorePoison, o.signal).then(() => this.runHeld(fn, 'write'));
  }

  // ---- shared helpers --------------------------------------------------

  /** Calls `fn` while holding the lock in `mode` (from a promise callback); releases it when its result settles. */
  private runHeld<T>(fn: () => T | PromiseLike<T>, mode: 'read' | 'write'): T | Promise<T> {
    return runHolding(fn, mode === 'read' ? this.readUnlockNow : this.writeUnlockNow);
  }
  private readonly readUnlockNow = (): void => this.readUnlock();
  private readonly writeUnlockNow = (): void => this.writeUnlock();

  /** This thread's COUNT index, claiming a slot on first use (one slot per thread, whichever instance claims it). */
  private claimCount(): number {
    const existing = this.countIfAny();
    if (existing >= 0) return existing;
    const slot = this.slots.mine(this.releaseSlot);
    // Marked before this thread's first COUNT add, so a writer that could miss the add sees the bit.
    or(this.state, IN_USE + (slot >>> 5), 1 << (slot & 31));
    return (this.countAt = this.slots.word(slot, COUNT));
  }

  /** This thread's COUNT index if it has a slot, else -1 (never claims). */
  private countIfAny(): number {
    if (this.countAt >= 0) return this.countAt;
    const slot = this.slots.mineIfAny();
    return slot < 0 ? -1 : (this.countAt = this.slots.word(slot, COUNT));
  }

  /** True when every thread's COUNT is 0 (only slots marked IN_USE can be non-zero). */
  private readersGone(): boolean {
    for (let w = IN_USE; w < this.bitmapEnd; w++) {
      for (let bits = load(this.state, w); bits !== 0; bits &= bits - 1) {
        if (load(this.slotWords, this.countOf(((w - IN_USE) << 5) + 31 - Math.clz32(bits & -bits))) !== 0) return false;
      }
    }
    return true;
  }

  private countOf(slot: number): number {
    return slot * this.stride + COUNT;
  }

  /** Undoes a tentative read increment (or releases a hold) and lets a draining writer re-scan. */
  private withdrawRead(at: number, by = 1): void {
    sub(this.slotWords, at, by);
    this.wakeDrainingWriter();
  }

  private wakeDrainingWriter(): void {
    const s = load(this.state, STATE);
    if ((s & OWNER_MASK) !== 0 && (s & HELD) === 0) {
      add(this.state, DRAIN, 1);
      notify(this.state, DRAIN);
    }
  }

  /**
   * Whether a reader holding a tentative increment at `at` may stay, given
   * STATE `s`: no writer, or this thread already reads (reentrant), or this
   * thread is the writer holding the lock (downgrade).
   */
  private readAdmitted(s: number, at: number): boolean {
    const owner = s & OWNER_MASK;
    return owner === 0 || load(this.slotWords, at) > 1 || (owner === me && (s & HELD) !== 0);
  }

  /**
   * One attempt to enter as a reader: adds the tentative increment and keeps
   * it if admitted. Throws OwnerDiedError (after withdrawing) when poisoned.
   */
  private enterRead(at: number, ignorePoison: boolean): boolean {
    add(this.slotWords, at, 1);
    const s = load(this.state, STATE); // linearization point when admitted
    if (this.readAdmitted(s, at)) {
      if ((s & POISONED) === 0 || ignorePoison) return true;
      this.withdrawRead(at);
      throw this.poisonError();
    }
    this.withdrawRead(at);
    return false;
  }

  private tryReadLockSlow(at: number, ignorePoison: boolean): boolean {
    for (;;) {
      const s = load(this.state, STATE);
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      const owner = s & OWNER_MASK;
      if (owner !== 0 && owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      return this.enterRead(at, ignorePoison);
    }
  }

  private readLockSlow(at: number, deadline: number, ignorePoison: boolean): void {
    runBlocking(this.readPath(at, deadline, ignorePoison, true));
  }

  private async readLockAsyncSlow(at: number, deadline: number, ignorePoison: boolean, signal: AbortSignal | undefined): Promise<void> {
    await runAsync(this.readPath(at, deadline, ignorePoison, false), signal);
  }

  /**
   * A contended read lock, for both forms (slow-path.ts). This thread's own
   * write intent lets a blocking reader in (a downgrade), and an async one
   * only once it is HELD: before that, another task of this thread is
   * waiting for the readers to leave, and this one parks until it has
   * written and released.
   */
  private *readPath(at: number, deadline: number, ignorePoison: boolean, blocking: boolean): SlowPath<void> {
    const backoff = new Backoff();
    for (;;) {
      const s = load(this.state, STATE);
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      const owner = s & OWNER_MASK;
      if (owner === 0 || (owner === me && (blocking || (s & HELD) !== 0)) || load(this.slotWords, at) > 0) {
        if (this.enterRead(at, ignorePoison)) return;
        if (blocking && owner === me && (load(this.state, STATE) & OWNER_MASK) === me) {
          throw new DeadlockError(
            'readLock() while an async task of this thread is acquiring the write lock: this thread would block the task it waits for',
          );
        }
        backoff.spin();
        continue;
      }
      if (owner !== me && !backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      if (owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError('a read lock');
      const expected = this.markParked(s);
      if (expected !== undefined) yield { word: this.state, index: STATE, expected, deadline, watch: this.watchOwner };
    }
  }

  private tryWriteLockSlow(ignorePoison: boolean): boolean {
    for (;;) {
      const s = load(this.state, STATE);
      const owner = s & OWNER_MASK;
      if (owner !== 0 && owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner !== 0) return false;
      if (compareExchange(this.state, STATE, s, me | (s & POISONED)) !== s) continue;
      if (this.readersGone() || (this.slots.reclaimDead(this.releaseSlot) > 0 && this.readersGone())) {
        or(this.state, STATE, HELD);
        return true;
      }
      this.withdrawIntent();
      return false;
    }
  }

  private writeLockSlow(deadline: number, ignorePoison: boolean): void {
    runBlocking(this.writePath(deadline, ignorePoison, true));
  }

  private async writeLockAsyncSlow(deadline: number, ignorePoison: boolean, signal: AbortSignal | undefined): Promise<void> {
    await runAsync(this.writePath(deadline, ignorePoison, false), signal);
  }

  /**
   * Phase 1 of a contended write lock, for both forms (slow-path.ts):
   * announce this writer (CAS intent into STATE); phase 2 is drainPath. For
   * a blocking writer, this thread as the owner is a deadlock; for an async
   * one it is another task of this thread, waited for like any writer.
   */
  private *writePath(deadline: number, ignorePoison: boolean, blocking: boolean): SlowPath<void> {
    // This thread's read holds cannot change while it blocks here: check them once.
    if (blocking && this.readHoldCount > 0) throw this.upgradeError();
    const backoff = new Backoff();
    for (;;) {
      const s = load(this.state, STATE);
      const owner = s & OWNER_MASK;
      if (blocking && owner === me) {
        throw new DeadlockError(
          (s & HELD) !== 0
            ? 'writeLock() by the thread that holds the write lock (it is not reentrant)'
            : 'writeLock() while an async task of this thread is acquiring the write lock',
        );
      }
      if ((s & POISONED) !== 0 && !ignorePoison) throw this.poisonError();
      if (owner === 0) {
        if (compareExchange(this.state, STATE, s, me | (s & POISONED)) === s) {
          yield* this.drainPath(deadline, blocking);
          return;
        }
        if (blocking) backoff.spin();
        continue;
      }
      if (owner !== me && !backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      if (owner !== me && !registry().isAlive(owner - 1)) {
        this.recover(s);
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError('the write lock');
      const expected = this.markParked(s);
      if (expected !== undefined) yield { word: this.state, index: STATE, expected, deadline, watch: this.watchOwner };
    }
  }

  /** The ticker's check for parked async lockers: no writer (a wake-up went astray), or the writer died. */
  private readonly watchOwner: Watch = () => {
    const owner = load(this.state, STATE) & OWNER_MASK;
    return owner === 0 || (owner !== me && !registry().isAlive(owner - 1));
  };

  /** The ticker's check for a parked async writer draining readers: they are gone, or dead ones were reclaimed. */
  private readonly watchReaders: Watch = () => this.readersGone() || this.slots.reclaimDead(this.releaseSlot) > 0;

  private drainSync(deadline: number): void {
    runBlocking(this.drainPath(deadline, true));
  }

  private async drainAsync(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    await runAsync(this.drainPath(deadline, false), signal);
  }

  /**
   * Phase 2, for both forms: with the intent in STATE, waits until every
   * COUNT is 0, then sets HELD; a writer that gives up withdraws its intent.
   * A blocking writer's own read holds would never leave (an upgrade); an
   * async writer's belong to other tasks, waited for like any reader's.
   */
  private *drainPath(deadline: number, blocking: boolean): SlowPath<void> {
    if (blocking && this.readHoldCount > 0) {
      this.withdrawIntent();
      throw this.upgradeError();
    }
    const backoff = new Backoff();
    try {
      for (;;) {
        const seq = load(this.state, DRAIN); // read before the scan: a reader leaving after it changes DRAIN
        if (this.readersGone()) {
          or(this.state, STATE, HELD); // linearization point
          return;
        }
        if (!backoff.isCompleted()) {
          backoff.snooze();
          continue;
        }
        if (deadline !== Infinity && systemClock.now() >= deadline) throw this.timeoutError('the write lock (readers still inside)');
        const r = yield { word: this.state, index: DRAIN, expected: seq, deadline, watch: this.watchReaders };
        if (r === 'timed-out') this.slots.reclaimDead(this.releaseSlot); // a slice passed: readers may have died inside
      }
    } catch (e) {
      this.withdrawIntent();
      throw e;
    }
  }

  /** A writer that gives up before holding clears its intent and wakes the readers it held back. */
  private withdrawIntent(): void {
    for (;;) {
      const s = load(this.state, STATE);
      if ((s & OWNER_MASK) !== me || (s & HELD) !== 0) return;
      if (compareExchange(this.state, STATE, s, s & POISONED) === s) {
        if ((s & PARKED) !== 0) notify(this.state, STATE);
        return;
      }
    }
  }

  private writeUnlockSlow(): void {
    for (;;) {
      const s = load(this.state, STATE);
      const owner = s & OWNER_MASK;
      if (owner !== me || (s & HELD) === 0) {
        throw new NotOwnerError(
          owner === 0
            ? 'writeUnlock of an RWLock that no thread write-locked'
            : owner !== me
              ? `writeUnlock of an RWLock write-locked by thread ${owner - 1} (this is thread ${threadId})`
              : 'writeUnlock while this thread is still waiting for the write lock',
        );
      }
      // Linearization point of a contended write unlock.
      if (compareExchange(this.state, STATE, s, s & POISONED) === s) {
        if ((s & PARKED) !== 0) notify(this.state, STATE);
        return;
      }
    }
  }

  /** Sets PARKED in STATE `s` (owner ≠ 0); returns the value to park on, or undefined if STATE moved. */
  private markParked(s: number): number | undefined {
    if ((s & PARKED) !== 0) return s;
    return compareExchange(this.state, STATE, s, s | PARKED) === s ? s | PARKED : undefined;
  }

  /** Replaces a dead writer: poisoned if it held the lock, just cleared if it was still waiting for readers. */
  private recover(s: number): void {
    const next = (s & HELD) !== 0 ? POISONED : s & POISONED;
    // Linearization point of recovery; losing the CAS means someone else moved the state.
    if (compareExchange(this.state, STATE, s, next) !== s) return;
    notify(this.state, STATE);
    if (ownerDied.hasSubscribers) ownerDied.publish({ lock: this, owner: (s & OWNER_MASK) - 1 });
  }

  private poisonError(): OwnerDiedError {
    return new OwnerDiedError(
      'RWLock is poisoned: a writer died holding it; call clearPoison() once the protected state is repaired, or lock with { ignorePoison: true }',
    );
  }

  private upgradeError(): DeadlockError {
    return new DeadlockError(
      'writeLock() by a thread that holds a read lock: upgrading deadlocks (two upgraders wait for each other); readUnlock first',
    );
  }

  private timeoutError(what: string): TimeoutError {
    return new TimeoutError(`timed out waiting for ${what}`);
  }
}
