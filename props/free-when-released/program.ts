/**
 * One race of waiters that give up against a release. Thread 0 takes the
 * whole lock (the Mutex; every permit of the Semaphore), waits until every
 * other thread is about to ask for it, holds it `holdMs` longer and releases
 * it. Every other thread asks with a give-up point `giveUpMs` after it asked:
 * a blocking acquisition with that timeout, an async one with that timeout,
 * or an async one whose AbortSignal fires then. One that gets the lock
 * releases it at once. The property draws the give-up points around the
 * release, so waiters give up just before, at and just after it; and since
 * they have waited longer than STARVATION_MS by then, the Mutex's release
 * hands the lock to "a parked waiter", which may be one that is leaving.
 *
 * Each thread ends with a turn of its event loop, so that its queue's driver
 * (for the async styles) has finished leaving before the thread reports.
 */
import { isSabreError } from '../../src/errors.js';
import { sleepSync } from '../../src/memory/atomics.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { Semaphore, type SemaphoreHandle } from '../../src/sync/semaphore.js';
import { defineProgram } from '../../src/testing/index.js';
import { LeaveBlindLock } from './leave-blind-lock.js';

/** Words of `LeaveShared.words`: HELD (thread 0 holds the lock), ASKING (waiters about to ask). */
export const HELD = 0,
  ASKING = 1;
/** Permits of the Semaphore variant (thread 0 takes them all). */
export const PERMITS = 2;

export type LeaveLock =
  | { readonly kind: 'mutex'; readonly mutex: MutexHandle }
  | { readonly kind: 'semaphore'; readonly semaphore: SemaphoreHandle }
  | { readonly kind: 'leave-blind'; readonly words: Int32Array };

export interface LeaveShared {
  readonly lock: LeaveLock;
  readonly words: Int32Array;
}

export type GiveUpStyle = 'sync-timeout' | 'async-timeout' | 'abort';

export interface LeaveInput {
  /** Thread 0: how long it holds once every waiter asked. Waiters: when they give up. */
  readonly ms: number;
  readonly style: GiveUpStyle;
  /** Permits a waiter asks for (the Semaphore variant; 1 for the locks). */
  readonly n: number;
}

/** What a waiter saw: it got the lock, or gave up. */
export type LeaveResult = 'holder' | 'got' | 'gave up';

/** The whole lock taken and given back by one thread, and the waiters' acquisitions. */
export interface Subject {
  takeAll(): void;
  giveAll(): void;
  /** Takes everything now if free (the end-of-run check). */
  tryTakeAll(): boolean;
  acquire(n: number, timeoutMs: number): unknown;
  acquireAsync(n: number, options: { timeoutMs?: number; signal?: AbortSignal }): Promise<unknown>;
  release(n: number): void;
}

export function openSubject(lock: LeaveLock): Subject {
  if (lock.kind === 'semaphore') {
    const s = Semaphore.from(lock.semaphore);
    return {
      takeAll: () => s.acquire(PERMITS),
      giveAll: () => s.release(PERMITS),
      tryTakeAll: () => s.tryAcquire(PERMITS),
      acquire: (n, timeoutMs) => s.acquire(n, timeoutMs),
      acquireAsync: (n, options) => s.acquireAsync(n, options),
      release: (n) => s.release(n),
    };
  }
  const m = lock.kind === 'mutex' ? Mutex.from(lock.mutex) : new LeaveBlindLock(lock.words);
  return {
    takeAll: () => m.lock(),
    giveAll: () => m.unlock(),
    tryTakeAll: () => m.tryLock(),
    acquire: (_n, timeoutMs) => m.lock(timeoutMs),
    acquireAsync: (_n, options) => m.lockAsync(options),
    release: () => m.unlock(),
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export default defineProgram<LeaveShared, LeaveInput, LeaveResult>(async (ctx) => {
  const { words } = ctx.shared;
  const subject = openSubject(ctx.shared.lock);
  if (ctx.thread === 0) {
    subject.takeAll();
    Atomics.store(words, HELD, 1);
    Atomics.notify(words, HELD);
    for (let asking = Atomics.load(words, ASKING); asking < ctx.threads - 1; asking = Atomics.load(words, ASKING))
      Atomics.wait(words, ASKING, asking, 5);
    sleepSync(ctx.input.ms);
    subject.giveAll();
    await turn();
    return 'holder';
  }
  while (Atomics.load(words, HELD) === 0) Atomics.wait(words, HELD, 0, 5);
  Atomics.add(words, ASKING, 1);
  Atomics.notify(words, ASKING);
  const { ms, n, style } = ctx.input;
  let result: LeaveResult = 'got';
  try {
    if (style === 'sync-timeout') {
      subject.acquire(n, ms);
    } else if (style === 'async-timeout') {
      await subject.acquireAsync(n, { timeoutMs: ms });
    } else {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), ms);
      try {
        await subject.acquireAsync(n, { signal: controller.signal });
      } finally {
        clearTimeout(timer);
      }
    }
    subject.release(n);
  } catch (e) {
    if (!isSabreError(e, 'ERR_TIMEOUT') && !isSabreError(e, 'ERR_ABORTED')) throw e;
    result = 'gave up';
  }
  await turn();
  return result;
});
