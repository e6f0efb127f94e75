/**
 * What a thread program is, what it sees, and what a run records: the types
 * shared by `runThreads` (main thread) and the harness worker.
 */

/** Marker that `defineProgram` puts on a program, checked by the worker. */
export const PROGRAM_KIND = 'sabre.testing.program';

/**
 * What each thread's program receives.
 *
 * `record` wraps one operation on the object under test and appends an
 * invoke event before it and a return event after it (or after its promise
 * settles) to the run's history. Both are stamped from one shared atomic
 * counter, so stamps order events of all threads totally, and an operation
 * whose return precedes another's invoke really finished before it started.
 *
 * `random` and `record` use no `this`: destructure them freely.
 */
export interface ThreadContext<Shared = unknown, Input = unknown> {
  /** This thread's index in `threads` (0-based). */
  readonly thread: number;
  /** How many threads the run has. */
  readonly threads: number;
  readonly input: Input;
  readonly shared: Shared;
  /** The run's seed. */
  readonly seed: number;
  /** A PRNG in [0, 1) seeded from (seed, thread): the same sequence on replay. */
  readonly random: () => number;
  /**
   * Runs `fn` as one recorded operation named `name` with argument `arg`
   * (both structured-cloneable, as is `fn`'s value). Returns what `fn`
   * returns; a promise is recorded when it settles. A throw is recorded as
   * an error return and rethrown.
   */
  readonly record: <T>(name: string, arg: unknown, fn: () => T) => T;
}

/** A thread program: the default export of a program module. */
export interface Program<Shared = unknown, Input = unknown, Result = unknown> {
  readonly kind: typeof PROGRAM_KIND;
  readonly run: (ctx: ThreadContext<Shared, Input>) => Result | Promise<Result>;
}

/**
 * Declares a thread program. A program module's default export must be one:
 *
 * @example
 * ```ts
 * // props/counter/program.ts
 * import { defineProgram } from 'sabre/testing';
 * import { AtomicCounter, type AtomicCounterHandle } from 'sabre';
 * export default defineProgram<{ counter: AtomicCounterHandle }, number, void>((ctx) => {
 *   const counter = AtomicCounter.from(ctx.shared.counter);
 *   for (let i = 0; i < ctx.input; i++) ctx.record('increment', null, () => counter.increment());
 * });
 * ```
 */
export function defineProgram<Shared = unknown, Input = unknown, Result = unknown>(
  run: (ctx: ThreadContext<Shared, Input>) => Result | Promise<Result>,
): Program<Shared, Input, Result> {
  if (typeof run !== 'function') throw new TypeError(`defineProgram(run): run must be a function, got ${typeof run}`);
  return Object.freeze({ kind: PROGRAM_KIND, run });
}

/** An error as recorded in a history (errors do not keep their class across threads). */
export interface RecordedError {
  readonly name: string;
  readonly message: string;
  /** The `SabreError` code, when it was one. */
  readonly code?: string;
}

/**
 * One event of a run's history. An operation is an `invoke` and, unless its
 * thread died or hung first, a `return` with the same `thread` and `op`.
 */
export interface HistoryEvent {
  readonly type: 'invoke' | 'return';
  /** Stamp from the run's shared counter: a total order of all threads' events. */
  readonly time: number;
  readonly thread: number;
  /** Index of the operation within its thread (0, 1, …). */
  readonly op: number;
  readonly name: string;
  /** The argument (on `invoke`). */
  readonly arg?: unknown;
  /** The value (on a `return` that did not throw). */
  readonly value?: unknown;
  /** What was thrown (on a `return` that threw). */
  readonly error?: RecordedError;
  /**
   * On a `return`: the operation ended but its outcome is not known (it
   * timed out, its connection dropped). It is checked as indeterminate: it
   * may take effect at any point after its invoke, even after this return,
   * or never, and its output is not checked (Jepsen's `:info`).
   */
  readonly unknown?: true;
}

/**
 * How often and how hard each thread is perturbed at the seam's yield points
 * (before every shared-memory step of `src/`).
 */
export interface YieldSettings {
  /** Chance, in [0, 1], that a step is preceded by a yield. */
  readonly probability: number;
  /** A spin yield busy-loops 1..maxSpins iterations (default 64). */
  readonly maxSpins?: number;
  /** A sleep yield sleeps the thread up to this many ms (default 0: never sleep). */
  readonly maxDelayMs?: number;
  /** Share of yields that sleep rather than spin, in [0, 1] (default 0.5 when maxDelayMs > 0). */
  readonly sleepShare?: number;
}

/** What the harness learned about one thread of a run. */
export interface ThreadReport {
  /** The `worker_threads.threadId` that ran it. */
  readonly threadId: number;
  /** Seam steps it took while the program ran. */
  readonly steps: number;
  /** History stamps: before entering the start barrier, after leaving it, after the program settled (-1 if it never did). */
  readonly arrivedAt: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Steps before which it yielded (only with `trace: true`). */
  readonly yieldSteps?: readonly number[];
}
