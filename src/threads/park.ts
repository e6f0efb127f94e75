/**
 * Parking: how every blocking primitive sleeps on a shared word, in both forms
 * (DESIGN principle 4), with the Node 20 traps handled in one place.
 *
 * - Waits are sliced (`LIVENESS_SLICE_MS`): a waiter wakes at least that often
 *   to re-check its deadline and the liveness of whoever it waits for. That
 *   bounds recovery from a dead owner and from a wake-up lost to a waiter that
 *   died after taking it, without anyone's help.
 * - `'timed-out'` can come early (the first one in a process fires ~1 ms
 *   early): callers compare against the deadline, never trust the result alone.
 * - A pending `Atomics.waitAsync` does not keep the event loop alive: a ref'd
 *   keep-alive timer is held while any async park of this thread is pending.
 * - A waiter cannot be cancelled: after a timeout or abort it still takes a
 *   `notify(…, 1)` meant for someone else. An abandoned async park therefore
 *   passes on any wake-up it receives later (`notify(…, 1)` again).
 * - When this thread learns of a death (a watched worker's 'exit'), its async
 *   parks return early, so an owner's death is acted on at once rather than at
 *   the end of a slice. A sync park cannot be woken that way (its thread's
 *   event loop is blocked): a sync wait that outlasts a slice announces
 *   itself (sleepers.ts), and while a thread that ticks anyway watches it,
 *   it sleeps LONG_SLICE_MS between looks and is woken by that thread when
 *   a death is learned; with no watcher, the slice bounds it as before.
 * - An async park may instead leave a `Watch` with its thread's ticker: it
 *   then sleeps until its deadline (no slices), and the ticker, one interval
 *   per thread, calls each distinct watch once per `LIVENESS_SLICE_MS` and
 *   wakes the parks that left it when it returns true (the holder died, or
 *   the awaited state came about without a wake-up reaching them). So 1,000
 *   parked waiters cost one check per primitive per slice, not 1,000 timers,
 *   and recovery stays within one slice of the death. A primitive passes the
 *   same function from all its waiters (a field), so they share one check.
 * - Code of the same thread can end an async park early through a `Waker`
 *   (a primitive's local queue changed: a task was added, cancelled, or the
 *   lock was released by this thread), without a cross-thread notify that
 *   another thread's waiter could take instead.
 */
import * as seam from '../memory/atomics.js';
import { systemClock } from '../clock.js';
import { AbortError } from '../errors.js';
import { ThreadRegistry } from './registry.js';
import { heardSleepers, longWaitSlice, watchSleepers, withdrawWait } from './sleepers.js';

const { notify, wait, waitAsync } = seam; // module constants: see memory/atomics.ts

/**
 * Longest single sleep of a blocked waiter, and how often a thread's ticker
 * runs the watches of its async parks: the bound on owner-death recovery
 * after the OS thread stops (plus the few ms an ended thread takes to leave
 * /proc). 50 ms keeps that well inside the 100 ms goal while an idle waiter
 * costs little: a timer wake-up alone measured about 100 µs on a small VM.
 */
export const LIVENESS_SLICE_MS = 50;

export type ParkResult = 'ok' | 'not-equal' | 'timed-out';

/** Converts a timeout (ms, or Infinity) into an absolute deadline on `systemClock`, once. */
export function toDeadline(timeoutMs: number): number {
  return timeoutMs === Infinity ? Infinity : systemClock.now() + timeoutMs;
}

/** Milliseconds left before `deadline` (0 when past). */
export function remaining(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - systemClock.now());
}

/** The word of this thread's last sync park, if it timed out: the next park on it continues one wait. */
let lastWord: Int32Array | undefined;
let lastIndex = -1;

/**
 * Blocks until woken, the word differs from `expected`, or one slice (or
 * the deadline) passes. A wait that goes on after a slice in which nothing
 * happened (the caller parks again on the same word) is announced to the
 * watching threads, and sleeps longer while one watches (see the notes).
 * @param holder the one thread the caller waits for, when it knows it (a
 *   Mutex's owner), else -1: a watcher then looks at that thread only
 */
export function parkSync(word: Int32Array, index: number, expected: number, deadline: number, holder = -1): ParkResult {
  const continuing = word === lastWord && index === lastIndex;
  const slice = continuing ? longWaitSlice(word, index, LIVENESS_SLICE_MS, holder) : LIVENESS_SLICE_MS;
  if (!continuing) withdrawWait();
  const r = wait(word, index, expected, Math.min(slice, remaining(deadline)));
  if (r === 'timed-out') {
    lastWord = word;
    lastIndex = index;
  } else {
    lastWord = undefined;
    withdrawWait();
  }
  return r;
}

let keepAlives = 0;
let keepAliveTimer: ReturnType<typeof setInterval> | undefined;

function holdLoop(): void {
  if (keepAlives++ === 0) keepAliveTimer = setInterval(() => {}, 1 << 30);
}
function releaseLoop(): void {
  if (--keepAlives === 0) {
    clearInterval(keepAliveTimer);
    keepAliveTimer = undefined;
  }
}

/** Lets code of the parking thread end its current async park early (`wake()` does nothing when none is pending). */
export class Waker {
  private current: (() => void) | undefined;
  /** Ends the pending park, which returns `'ok'`. */
  wake(): void {
    this.current?.();
  }
  /** @internal */
  set(wake: (() => void) | undefined): void {
    this.current = wake;
  }
}

/**
 * What an async waiter leaves with its thread's ticker instead of waking
 * every slice: true when its waiters should wake and look again. Called once
 * per LIVENESS_SLICE_MS for all the parks that share it; it must be cheap and must not
 * park. A watch that throws wakes its waiters (whose own checks then report).
 */
export type Watch = () => boolean;

/** The parks waiting on each watch, and the ticker that runs while there are any. */
const watched = new Map<Watch, Set<() => void>>();
let ticker: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  watchSleepers();
  if (watched.size === 0 && heardSleepers() === 0) stopTicker();
  for (const [watch, wakes] of [...watched]) {
    let due: boolean;
    try {
      due = watch();
    } catch {
      due = true;
    }
    if (due) for (const wake of [...wakes]) wake();
  }
}

function watchPark(watch: Watch, wake: () => void): () => void {
  let wakes = watched.get(watch);
  if (wakes === undefined) watched.set(watch, (wakes = new Set()));
  wakes.add(wake);
  if (ticker === undefined) {
    ticker = setInterval(tick, LIVENESS_SLICE_MS);
    ticker.unref(); // the parks' keep-alive holds the loop, not the ticker
  }
  const set = wakes;
  return () => {
    set.delete(wake);
    if (set.size === 0 && watched.get(watch) === set) watched.delete(watch);
    // A thread that watches blocked waiters keeps ticking for them until they are gone (tick() stops it then).
    if (watched.size === 0 && heardSleepers() === 0) stopTicker();
  };
}

function stopTicker(): void {
  if (ticker === undefined) return;
  clearInterval(ticker);
  ticker = undefined;
}

/** Async parks of this thread now watched by the ticker (for tests and benchmarks). @internal */
export function watchedParks(): number {
  let n = 0;
  for (const wakes of watched.values()) n += wakes.size;
  return n;
}

/**
 * The async form of `parkSync`. Rejects with `AbortError` when `signal` fires;
 * returns `'ok'` early when `waker.wake()` is called or `watch` (checked by
 * the thread's ticker each slice, in place of the slice's own wake-up)
 * returns true; an abandoned wait passes on a wake-up that reaches it later.
 */
export async function parkAsync(
  word: Int32Array,
  index: number,
  expected: number,
  deadline: number,
  signal?: AbortSignal,
  waker?: Waker,
  watch?: Watch,
): Promise<ParkResult> {
  if (signal?.aborted) throw new AbortError('aborted while waiting', signal.reason);
  const r = waitAsync(word, index, expected, watch === undefined ? Math.min(LIVENESS_SLICE_MS, remaining(deadline)) : remaining(deadline));
  if (!r.async) return r.value;
  holdLoop();
  let abandoned = false;
  let wakeEarly!: () => void;
  let onAbort: (() => void) | undefined;
  let unwatch: (() => void) | undefined;
  const early = new Promise<ParkResult>((resolve, reject) => {
    wakeEarly = () => resolve('ok');
    deathWakers.add(wakeEarly);
    waker?.set(wakeEarly);
    if (watch !== undefined) unwatch = watchPark(watch, wakeEarly);
    if (signal !== undefined) {
      onAbort = () => reject(new AbortError('aborted while waiting', signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  const waited = r.value.then((v) => {
    if (abandoned && v === 'ok') notify(word, index, 1); // abandoned: pass the wake-up on
    return v;
  });
  try {
    return await Promise.race([waited, early]);
  } finally {
    // The keep-alive is released first: nothing below may keep the process from exiting.
    waited.finally(releaseLoop).catch(() => {});
    early.catch(() => {});
    abandoned = true;
    unwatch?.();
    deathWakers.delete(wakeEarly);
    waker?.set(undefined);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * A watcher's wait on a word, not a waiter's: resolves when woken, when the
 * word differs from `expected`, or after `ms`, and does not keep the event
 * loop alive (a subscription or a steal watch must not keep a process from
 * exiting). Nothing else: no slices, no abort, no death wake-up.
 */
export async function watchWord(word: Int32Array, index: number, expected: number, ms: number): Promise<ParkResult> {
  const r = waitAsync(word, index, expected, ms);
  return r.async ? await r.value : r.value;
}

/** Async parks of this thread, woken early when this thread records a death. */
const deathWakers = new Set<() => void>();
ThreadRegistry.current.onDeath(() => {
  for (const wake of [...deathWakers]) wake();
});
