/**
 * The atomics seam: every `Atomics.*` call of `src/` goes through this module
 * (a test enforces it), as crossbeam routes its atomics through one module so
 * that a model checker can replace them.
 *
 * `sabre/testing` installs a per-thread yield hook here to inject yield points
 * and short delays between shared-memory steps. With no hook installed the cost
 * is one null check per call, which the benchmarks show is not measurable.
 *
 * Int32 and BigInt64 operations are separate functions so that each call site
 * stays monomorphic (V8 inlines `Atomics.*` on a known typed-array kind).
 */

/** What kind of step is about to run; a hook may use it to weight its choices. */
export type AtomicOp = 'load' | 'store' | 'rmw' | 'cas' | 'wait' | 'notify';

/** Called before every shared-memory step of this thread while installed. */
export type YieldHook = (op: AtomicOp) => void;

let hook: YieldHook | null = null;

/** Installs (or, with `null`, removes) this thread's yield hook. */
export function setYieldHook(next: YieldHook | null): void {
  hook = next;
}

export function load(a: Int32Array, i: number): number {
  if (hook !== null) hook('load');
  return Atomics.load(a, i);
}
export function store(a: Int32Array, i: number, v: number): number {
  if (hook !== null) hook('store');
  return Atomics.store(a, i, v);
}
export function add(a: Int32Array, i: number, v: number): number {
  if (hook !== null) hook('rmw');
  return Atomics.add(a, i, v);
}
export function sub(a: Int32Array, i: number, v: number): number {
  if (hook !== null) hook('rmw');
  return Atomics.sub(a, i, v);
}
export function or(a: Int32Array, i: number, v: number): number {
  if (hook !== null) hook('rmw');
  return Atomics.or(a, i, v);
}
export function and(a: Int32Array, i: number, v: number): number {
  if (hook !== null) hook('rmw');
  return Atomics.and(a, i, v);
}
export function exchange(a: Int32Array, i: number, v: number): number {
  if (hook !== null) hook('rmw');
  return Atomics.exchange(a, i, v);
}
/** Returns the value found; the swap happened iff it equals `expected`. */
export function compareExchange(a: Int32Array, i: number, expected: number, next: number): number {
  if (hook !== null) hook('cas');
  return Atomics.compareExchange(a, i, expected, next);
}

export function load64(a: BigInt64Array, i: number): bigint {
  if (hook !== null) hook('load');
  return Atomics.load(a, i);
}
export function store64(a: BigInt64Array, i: number, v: bigint): bigint {
  if (hook !== null) hook('store');
  return Atomics.store(a, i, v);
}
export function add64(a: BigInt64Array, i: number, v: bigint): bigint {
  if (hook !== null) hook('rmw');
  return Atomics.add(a, i, v);
}
export function exchange64(a: BigInt64Array, i: number, v: bigint): bigint {
  if (hook !== null) hook('rmw');
  return Atomics.exchange(a, i, v);
}
export function compareExchange64(a: BigInt64Array, i: number, expected: bigint, next: bigint): bigint {
  if (hook !== null) hook('cas');
  return Atomics.compareExchange(a, i, expected, next);
}

/** `Atomics.wait`: blocks this thread (never call it on an event loop that must stay live). */
export function wait(a: Int32Array, i: number, expected: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
  if (hook !== null) hook('wait');
  return Atomics.wait(a, i, expected, timeoutMs);
}

export type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };

/** `Atomics.waitAsync`: see `sync/park.ts` for the traps it has on Node 20. */
export function waitAsync(a: Int32Array, i: number, expected: number, timeoutMs: number): WaitAsyncResult {
  if (hook !== null) hook('wait');
  return Atomics.waitAsync(a, i, expected, timeoutMs) as WaitAsyncResult;
}

/** Wakes up to `count` waiters (FIFO on V8); returns how many were woken. */
export function notify(a: Int32Array, i: number, count: number = Infinity): number {
  if (hook !== null) hook('notify');
  return Atomics.notify(a, i, count);
}

/**
 * Sleeps this thread for `ms` without touching shared state (used by backoff
 * and by test delays). Blocks: only for worker threads or very short waits.
 */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
