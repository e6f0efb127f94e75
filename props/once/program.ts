/**
 * Each thread calls `run` (sync) or `runAsync` on one Once `input.calls`
 * times, the form drawn per call from ctx.random(). Its fn counts itself in
 * (RUNS, and INSIDE to catch two runners at once), takes a few seam steps,
 * and fails (throws) with chance `input.failShare`, counting FAILS; a fn that
 * succeeds sets SUCCEEDED as its last step, and a fn that starts after that
 * counts LATE_RUNS. A call that answers true counts TRUE_RESULTS.
 */
import { add, load, store, sub } from '../../src/memory/atomics.js';
import { Once, type OnceHandle } from '../../src/sync/once.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenSetOnce } from './check-then-set-once.js';

export interface OnceShared {
  readonly once: { readonly kind: 'once'; readonly handle: OnceHandle } | { readonly kind: 'check-then-set'; readonly words: Int32Array };
  /** [RUNS, FAILS, TRUE_RESULTS, INSIDE, OVERLAPS, SUCCEEDED, LATE_RUNS] */
  readonly words: Int32Array;
}
export const RUNS = 0,
  FAILS = 1,
  TRUE_RESULTS = 2,
  INSIDE = 3,
  OVERLAPS = 4,
  SUCCEEDED = 5,
  LATE_RUNS = 6;
export const ONCE_WORDS = 7;
export interface OnceInput {
  readonly calls: number;
  readonly failShare: number;
  readonly asyncShare: number;
}

interface RunOnce {
  run(fn: () => unknown): boolean;
  runAsync(fn: () => unknown): Promise<boolean>;
}

/** Thrown by fn on purpose; any other error is a real failure. */
class PlannedFailure extends Error {}

export default defineProgram<OnceShared, OnceInput, void>(async (ctx) => {
  const { words } = ctx.shared;
  const once: RunOnce = ctx.shared.once.kind === 'once' ? Once.from(ctx.shared.once.handle) : new CheckThenSetOnce(ctx.shared.once.words);
  const fn = (fail: boolean) => (): void => {
    add(words, RUNS, 1);
    if (load(words, SUCCEEDED) !== 0) add(words, LATE_RUNS, 1);
    if (add(words, INSIDE, 1) !== 0) add(words, OVERLAPS, 1);
    load(words, INSIDE); // steps inside fn, where a yield lets others call run
    load(words, INSIDE);
    sub(words, INSIDE, 1);
    if (fail) {
      add(words, FAILS, 1);
      throw new PlannedFailure('planned');
    }
    store(words, SUCCEEDED, 1);
  };
  for (let i = 0; i < ctx.input.calls; i++) {
    const fail = ctx.random() < ctx.input.failShare;
    try {
      const ran = ctx.random() < ctx.input.asyncShare ? await once.runAsync(fn(fail)) : once.run(fn(fail));
      if (ran) add(words, TRUE_RESULTS, 1);
    } catch (e) {
      if (!(e instanceof PlannedFailure)) throw e;
    }
  }
});
