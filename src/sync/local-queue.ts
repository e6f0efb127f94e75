/**
 * LocalQueue: one thread's pending async acquisitions of one lock (a Mutex,
 * a Semaphore), in priority order. Shared by every object of the thread on
 * that lock, found by the lock's region id (a random 64-bit identity in its
 * header, memory/region.ts): each `postMessage` or `structuredClone` of a
 * handle delivers a new SharedArrayBuffer object for the same memory, so the
 * buffer object cannot tell two locks apart, but the id can. (A lock
 * embedded without a header, `Mutex.embedded`, is found by its buffer object
 * and offset; the library takes those only synchronously.)
 *
 * Within a thread, async-mutex's rules: higher `priority` first, FIFO within
 * a priority; `cancel()` rejects the queued acquisitions; `waitForUnlock`
 * callers ("watchers") wait in a second list and proceed once the lock could
 * be taken and no queued acquisition of equal or higher priority comes first.
 * Across threads there is no priority: the lock's own fairness policy orders
 * the threads, and a thread's queue takes part as one waiter.
 */
import { AbortError, CanceledError, TimeoutError } from '../errors.js';
import { number } from '../options/field.js';
import { Waker } from '../threads/park.js';

/** One pending acquisition or watcher. */
export interface Pending {
  readonly priority: number;
  /** Permits wanted (1 for a Mutex). */
  readonly n: number;
  /** A Mutex acquisition that accepts a poisoned lock. */
  readonly ignorePoison: boolean;
  /** @internal */ readonly seq: number;
  /** @internal */ settle(error?: unknown): void;
}

/** What a caller asked for, already validated. */
export interface PendingRequest {
  readonly priority: number;
  readonly n: number;
  readonly ignorePoison: boolean;
  /** Milliseconds (Infinity = forever); a positive, finite one starts a timer. */
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  /** The message of the TimeoutError when `timeoutMs` passes. */
  readonly timeoutMessage: string;
}

export class LocalQueue {
  /** Pending acquisitions, highest priority first, FIFO within a priority. */
  readonly acquirers: Pending[] = [];
  /** Pending waitForUnlock calls, in the same order. */
  readonly watchers: Pending[] = [];
  /** Ends the driver's current park when the queue changes. */
  readonly waker = new Waker();
  /** True while a driver task contends for the lock on behalf of this queue. */
  driving = false;
  /** The running driver's identity among the lock's waiters, for the lock's own use (a Semaphore's ticket). */
  driver: unknown = undefined;
  private seq = 0;

  /**
   * Starts `run`, the lock's driver for this queue, unless one is running:
   * then wakes it to look again. The driver clears `driving` in the turn in
   * which it decides to end, so an enqueue never finds a driver that is not
   * running.
   */
  drive(run: (q: LocalQueue) => Promise<void>): void {
    if (this.driving) {
      this.waker.wake();
      return;
    }
    this.driving = true;
    void run(this);
  }

  /** True when nothing of this thread waits (the fast paths check this before barging). */
  get empty(): boolean {
    return this.acquirers.length === 0 && this.watchers.length === 0;
  }

  /** The highest priority among queued acquisitions (-Infinity when none). */
  get topPriority(): number {
    return this.acquirers.length === 0 ? -Infinity : this.acquirers[0]!.priority;
  }

  /** Queues an acquisition (`watcher` false) or a watcher; settles when granted, timed out, aborted or cancelled. */
  enqueue(request: PendingRequest, watcher: boolean): Promise<void> {
    const list = watcher ? this.watchers : this.acquirers;
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let onAbort: (() => void) | undefined;
      const { signal } = request;
      const entry: Pending = {
        priority: request.priority,
        n: request.n,
        ignorePoison: request.ignorePoison,
        seq: this.seq++,
        settle: (error?: unknown) => {
          if (timer !== undefined) clearTimeout(timer);
          if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
          if (error === undefined) resolve();
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a sabre error or the abort signal's reason, rejected as given
          else reject(error);
        },
      };
      insertByPriority(list, entry);
      if (request.timeoutMs !== Infinity) {
        timer = setTimeout(() => this.drop(list, entry, new TimeoutError(request.timeoutMessage)), request.timeoutMs);
      }
      if (signal !== undefined) {
        onAbort = () => this.drop(list, entry, new AbortError('aborted while waiting', signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Removes and grants the head acquisition. */
  grantHead(): void {
    this.acquirers.shift()!.settle();
  }

  /** Rejects every queued acquisition whose `keep` is false (e.g. those that refuse a poisoned lock). */
  rejectAcquirers(error: () => unknown, keep: (p: Pending) => boolean = () => false): number {
    let rejected = 0;
    for (let i = this.acquirers.length - 1; i >= 0; i--) {
      const p = this.acquirers[i]!;
      if (keep(p)) continue;
      this.acquirers.splice(i, 1);
      p.settle(error());
      rejected++;
    }
    if (rejected > 0) this.waker.wake();
    return rejected;
  }

  /** Rejects every watcher. */
  rejectWatchers(error: () => unknown): void {
    for (const w of this.watchers.splice(0)) w.settle(error());
  }

  /** Rejects every queued acquisition with CanceledError; watchers stay. Returns how many. */
  cancel(what: string): number {
    return this.rejectAcquirers(() => new CanceledError(`${what} canceled by cancel()`));
  }

  /**
   * Lets the watchers proceed that a lock with `room` free permits would let
   * in now: those that want at most `room` and outrank every queued
   * acquisition (all of them, if none is queued).
   */
  releaseWatchers(room: number): void {
    if (this.watchers.length === 0 || room <= 0) return;
    const above = this.topPriority;
    for (let i = 0; i < this.watchers.length;) {
      const w = this.watchers[i]!;
      if (w.priority <= above) break; // sorted: the rest rank no higher
      if (w.n <= room) {
        this.watchers.splice(i, 1);
        w.settle();
      } else {
        i++;
      }
    }
  }

  /** Timeout or abort of one entry: out of the queue, rejected, and the driver re-evaluates. */
  private drop(list: Pending[], entry: Pending, error: unknown): void {
    const i = list.indexOf(entry);
    if (i < 0) return; // already settled
    list.splice(i, 1);
    entry.settle(error);
    this.waker.wake();
  }
}

/** After the last entry of equal or higher priority: priority order, FIFO within a priority. */
function insertByPriority(list: Pending[], entry: Pending): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.priority < entry.priority) i--;
  list.splice(i, 0, entry);
}

/**
 * This thread's queue of each lock, found by the lock's identity: the
 * region's id where it has one (every object opened on the lock in this
 * thread, from however many clones of its handle, shares one queue), else
 * the buffer object and offset (an embedded lock has no header).
 *
 * Lock objects hold their queue; the map holds it weakly, so a queue goes
 * when the last object of its lock in this thread does.
 */
const byId = new Map<string, WeakRef<LocalQueue>>();
const forget = new FinalizationRegistry<string>((id) => {
  if (byId.get(id)?.deref() === undefined) byId.delete(id);
});
const byBuffer = new WeakMap<ArrayBufferLike, Map<number, LocalQueue>>();

/** This thread's queue for the lock of region `id`, or (no id) the one whose words start at `words.byteOffset` of `words.buffer`. */
export function localQueue(words: Int32Array, id?: string): LocalQueue {
  if (id !== undefined) {
    const found = byId.get(id)?.deref();
    if (found !== undefined) return found;
    const q = new LocalQueue();
    byId.set(id, new WeakRef(q));
    forget.register(q, id);
    return q;
  }
  let byOffset = byBuffer.get(words.buffer);
  if (byOffset === undefined) byBuffer.set(words.buffer, (byOffset = new Map<number, LocalQueue>()));
  let q = byOffset.get(words.byteOffset);
  if (q === undefined) byOffset.set(words.byteOffset, (q = new LocalQueue()));
  return q;
}

/** The `priority` option of a lock's async acquisitions and `waitForUnlock`: any finite number, higher first (default 0). */
export const PRIORITY = number({ default: 0 });

export interface WaitForUnlockOptions {
  /** Ranks this watcher against this thread's queued acquisitions (default 0): it proceeds ahead of those of lower priority. */
  readonly priority?: number;
  /** Milliseconds to wait (default: forever); 0 = look once. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
