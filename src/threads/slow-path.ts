/**
 * Slow paths written once. A blocking operation's slow path is a generator
 * that yields a `Park` each time it must wait and receives that park's
 * result back; it returns the operation's answer or throws its error. Two
 * drivers run it: `runBlocking` parks with `parkSync` (the thread blocks),
 * `runAsync` with `parkAsync` (keep-alive, abort, the ticker's watch, death
 * wake-ups). So the blocking and the async form of an operation share one
 * body, and a fix to one is a fix to both (as parking_lot's one `park`
 * entry serves every lock).
 *
 * An abort (or any error of an async park) is thrown into the generator at
 * its `yield`, so the body's `try`/`finally` runs as for its own errors: a
 * waiter counted before its park is uncounted on every way out.
 */
import { parkAsync, parkSync, type ParkResult, type Waker, type Watch } from './park.js';

/** One wait a slow path asks for: on `word[index]` while it holds `expected`, until `deadline` (a systemClock time, or Infinity). */
export interface Park {
  readonly word: Int32Array;
  readonly index: number;
  readonly expected: number;
  readonly deadline: number;
  /** The one thread the waiter waits for, when known (blocking parks announce it: sleepers.ts). */
  readonly holder?: number;
  /** The async park's check by this thread's ticker, in place of slices (park.ts). */
  readonly watch?: Watch;
  /** Lets code of this thread end the async park early. */
  readonly waker?: Waker;
}

/** A slow path: yields parks, is resumed with each park's result, returns the answer. */
export type SlowPath<T> = Generator<Park, T, ParkResult>;

/** Runs `path`, blocking this thread at each park. */
export function runBlocking<T>(path: SlowPath<T>): T {
  let step = path.next();
  while (step.done !== true) {
    const p = step.value;
    step = path.next(parkSync(p.word, p.index, p.expected, p.deadline, p.holder));
  }
  return step.value;
}

/**
 * Runs `path` without blocking: each park is an async park, ended early by
 * `signal` (thrown into the path as an AbortError). A path that never parks
 * is run to its end in this call and its answer returned as is, so a caller
 * can go on in the same turn (`runAsync` of a Once calls its fn inside the
 * call when it claims the run at once); otherwise a promise of the answer.
 */
export function runAsync<T>(path: SlowPath<T>, signal?: AbortSignal): T | Promise<T> {
  const step = path.next();
  return step.done === true ? step.value : parked(path, step.value, signal);
}

async function parked<T>(path: SlowPath<T>, first: Park, signal: AbortSignal | undefined): Promise<T> {
  let p = first;
  for (;;) {
    let parkResult: ParkResult | undefined;
    let parkError: unknown;
    try {
      parkResult = await parkAsync(p.word, p.index, p.expected, p.deadline, signal, p.waker, p.watch);
    } catch (e) {
      parkError = e;
    }
    // The path's own errors propagate from next() or throw(); a park's error is thrown into the path.
    const step = parkResult === undefined ? path.throw(parkError) : path.next(parkResult);
    if (step.done === true) return step.value;
    p = step.value;
  }
}
