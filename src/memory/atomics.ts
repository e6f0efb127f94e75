/**
 * The atomics seam: every `Atomics.*` call of `src/` goes through this module
 * (a test enforces it), as crossbeam routes its atomics through one module so
 * that a model checker can replace them.
 *
 * Two builds of the seam, chosen once per thread when this module loads:
 * - plain (production): each function is a bare wrapper of one `Atomics.*`
 *   call, which V8 inlines; nothing is checked per call, so the seam costs
 *   nothing measurable (bench/ table 5);
 * - hooked, in a thread whose environment has `SABRE_SEAM=hooks` (the workers
 *   of `sabre/testing`'s `runThreads` are started so): every call first runs
 *   the thread's yield hook, if one is installed, which injects yield points
 *   and short delays between shared-memory steps.
 * Choosing at load rather than testing a hook variable on every call is what
 * makes production free: even a null check of a module variable measured
 * 5-9% of a bare CAS loop.
 *
 * Int32 and BigInt64 operations are separate functions so that each call site
 * stays monomorphic (V8 inlines `Atomics.*` on a known typed-array kind).
 *
 * Import it as a namespace and alias the functions into module-level
 * constants (`import * as seam from './atomics.js'; const { load } = seam;`).
 * A named import is a live binding that V8 re-checks on every call (about
 * 1 ns, ~10% of a bare CAS loop); a module constant is folded.
 */
import { InvalidArgumentError } from '../errors.js';

/** What kind of step is about to run; a hook may use it to weight its choices. */
export type AtomicOp = 'load' | 'store' | 'rmw' | 'cas' | 'wait' | 'notify';

/**
 * Called before every shared-memory step of this thread while installed,
 * with the step's array and index (the word it touches), so a checker can
 * tell which word a step is on.
 */
export type YieldHook = (op: AtomicOp, array: Int32Array | BigInt64Array, index: number) => void;

/** The environment variable (and its value) that loads the hooked seam in a thread. */
export const SEAM_ENV = 'SABRE_SEAM';
export const SEAM_HOOKS = 'hooks';

/** True when this thread loaded the hooked seam (so `setYieldHook` works here). */
export const hooksEnabled: boolean = process.env[SEAM_ENV] === SEAM_HOOKS;

let hook: YieldHook | null = null;

/**
 * Installs (or, with `null`, removes) this thread's yield hook.
 * @throws InvalidArgumentError when installing a hook in a thread that loaded
 *   the plain seam (start it with `SABRE_SEAM=hooks`, as `runThreads` does)
 */
export function setYieldHook(next: YieldHook | null): void {
  if (next !== null && !hooksEnabled) {
    throw new InvalidArgumentError(
      `yield hooks are off in this thread: it loaded sabre's plain atomics seam. Start the thread with ${SEAM_ENV}=${SEAM_HOOKS} ` +
        `in its environment (runThreads does this for its workers), e.g. new Worker(url, { env: { ...process.env, ${SEAM_ENV}: '${SEAM_HOOKS}' } })`,
    );
  }
  hook = next;
}

/** `f` itself in the plain seam; in the hooked seam, `f` preceded by the hook. */
function seam<A extends [Int32Array | BigInt64Array, number, ...unknown[]], R>(op: AtomicOp, f: (...args: A) => R): (...args: A) => R {
  if (!hooksEnabled) return f;
  return (...args: A): R => {
    if (hook !== null) hook(op, args[0], args[1]);
    return f(...args);
  };
}

export const load = seam('load', (a: Int32Array, i: number): number => Atomics.load(a, i));
export const store = seam('store', (a: Int32Array, i: number, v: number): number => Atomics.store(a, i, v));
export const add = seam('rmw', (a: Int32Array, i: number, v: number): number => Atomics.add(a, i, v));
export const sub = seam('rmw', (a: Int32Array, i: number, v: number): number => Atomics.sub(a, i, v));
export const or = seam('rmw', (a: Int32Array, i: number, v: number): number => Atomics.or(a, i, v));
export const and = seam('rmw', (a: Int32Array, i: number, v: number): number => Atomics.and(a, i, v));
export const exchange = seam('rmw', (a: Int32Array, i: number, v: number): number => Atomics.exchange(a, i, v));
/** Returns the value found; the swap happened iff it equals `expected`. */
export const compareExchange = hooksEnabled
  ? (a: Int32Array, i: number, expected: number, next: number): number => {
      if (hook !== null) hook('cas', a, i);
      if (a !== torn) return Atomics.compareExchange(a, i, expected, next);
      // A torn compare-exchange (tearCompareExchange): a load, a yield point, a store.
      const found = Atomics.load(a, i);
      if (hook !== null) hook('store', a, i);
      if (found === expected) Atomics.store(a, i, next);
      return found;
    }
  : (a: Int32Array, i: number, expected: number, next: number): number => Atomics.compareExchange(a, i, expected, next);

/** The one array whose compare-exchanges this thread tears (hooked seam only). */
let torn: Int32Array | null = null;

/**
 * For unsafe test twins: makes this thread's `compareExchange` on exactly
 * this array (the same view object) a load, a yield point and a store, so
 * that two threads reading the same value both "win" (check-then-act). A
 * property run against the twin must then fail, which shows it would catch
 * a lost compare-and-swap. `null` restores it. Only in the hooked seam: a
 * production thread can never tear its atomics.
 * @throws InvalidArgumentError in a thread that loaded the plain seam
 */
export function tearCompareExchange(words: Int32Array | null): void {
  if (words !== null && !hooksEnabled)
    throw new InvalidArgumentError(`tearCompareExchange: start the thread with ${SEAM_ENV}=${SEAM_HOOKS}`);
  torn = words;
}

export const load64 = seam('load', (a: BigInt64Array, i: number): bigint => Atomics.load(a, i));
export const store64 = seam('store', (a: BigInt64Array, i: number, v: bigint): bigint => Atomics.store(a, i, v));
export const add64 = seam('rmw', (a: BigInt64Array, i: number, v: bigint): bigint => Atomics.add(a, i, v));
export const exchange64 = seam('rmw', (a: BigInt64Array, i: number, v: bigint): bigint => Atomics.exchange(a, i, v));
export const compareExchange64 = seam('cas', (a: BigInt64Array, i: number, expected: bigint, next: bigint): bigint =>
  Atomics.compareExchange(a, i, expected, next),
);

/**
 * Takes over a hooked thread's blocking waits and notifies: a controlled
 * schedule (sabre/testing) runs one thread at a time, so a thread about to
 * block hands its turn on instead, and a notify wakes the threads the
 * schedule holds. Each returns undefined to let the real operation run.
 */
export interface WaitControl {
  wait(a: Int32Array, i: number, expected: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' | undefined;
  notify(a: Int32Array, i: number, count: number): number | undefined;
}

let waitControl: WaitControl | null = null;

/**
 * Installs (or, with `null`, removes) this thread's wait control.
 * @throws InvalidArgumentError in a thread that loaded the plain seam
 */
export function setWaitControl(next: WaitControl | null): void {
  if (next !== null && !hooksEnabled) throw new InvalidArgumentError(`setWaitControl: start the thread with ${SEAM_ENV}=${SEAM_HOOKS}`);
  waitControl = next;
}

/** `Atomics.wait`: blocks this thread (never call it on an event loop that must stay live). */
export const wait = hooksEnabled
  ? (a: Int32Array, i: number, expected: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' => {
      if (hook !== null) hook('wait', a, i);
      return waitControl?.wait(a, i, expected, timeoutMs) ?? Atomics.wait(a, i, expected, timeoutMs);
    }
  : (a: Int32Array, i: number, expected: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' =>
      Atomics.wait(a, i, expected, timeoutMs);

export type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

/** `Atomics.waitAsync`: see `threads/park.ts` for the traps it has on Node 20. */
export const waitAsync = seam('wait', (a: Int32Array, i: number, expected: number, timeoutMs: number): WaitAsyncResult =>
  Atomics.waitAsync(a, i, expected, timeoutMs),
);

/** Wakes up to `count` waiters (FIFO on V8); returns how many were woken. */
export const notify = hooksEnabled
  ? (a: Int32Array, i: number, count: number = Infinity): number => {
      if (hook !== null) hook('notify', a, i);
      return waitControl?.notify(a, i, count) ?? Atomics.notify(a, i, count);
    }
  : (a: Int32Array, i: number, count: number = Infinity): number => Atomics.notify(a, i, count);

/**
 * The same operations, never hooked: for bookkeeping whose number of steps
 * depends on the wall clock (the thread registry's liveness checks, cached
 * for some milliseconds). A controlled schedule (sabre/testing) must not
 * count such steps, or the same schedule would not replay the same run. Not
 * for the steps of any primitive's own algorithm.
 */
export const quiet = {
  load: (a: Int32Array, i: number): number => Atomics.load(a, i),
  store: (a: Int32Array, i: number, v: number): number => Atomics.store(a, i, v),
  add: (a: Int32Array, i: number, v: number): number => Atomics.add(a, i, v),
  or: (a: Int32Array, i: number, v: number): number => Atomics.or(a, i, v),
  compareExchange: (a: Int32Array, i: number, expected: number, next: number): number => Atomics.compareExchange(a, i, expected, next),
} as const;

/**
 * Sleeps this thread for `ms` without touching shared state (used by backoff
 * and by test delays). Blocks: only for worker threads or very short waits.
 */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
