/**
 * Each thread makes `input.ops` calls through one Bulkhead (or its
 * check-then-act twin), each by a style drawn per call: the blocking
 * `executeSync`, `execute` of a synchronous fn, or `execute` of an async fn
 * that holds its slot across a turn of the event loop. Inside, it adds one to
 * a shared occupancy word and counts a violation if the occupancy went above
 * maxConcurrent. Refusals (BulkheadFullError) are counted; any other error
 * fails the run.
 */
import { add, load, sub } from '../../src/memory/atomics.js';
import { isSabreError } from '../../src/errors.js';
import { Bulkhead, type BulkheadHandle } from '../../src/resilience/bulkhead.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenActBulkhead } from './check-then-act-bulkhead.js';

export interface BulkheadShared {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly bulkhead:
    | { readonly kind: 'bulkhead'; readonly handle: BulkheadHandle }
    /** ADMITTED and RUNNING words, both 0 at the start. */
    | { readonly kind: 'check-then-act'; readonly words: Int32Array };
  /** [OCCUPANCY, VIOLATIONS, MAX_SEEN, RAN, REFUSED] */
  readonly words: Int32Array;
}
export const OCCUPANCY = 0,
  VIOLATIONS = 1,
  MAX_SEEN = 2,
  RAN = 3,
  REFUSED = 4,
  OCCUPANCY_WORDS = 5;

export interface BulkheadInput {
  readonly ops: number;
  /** Chance that a call uses an async form rather than executeSync. */
  readonly asyncShare: number;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export default defineProgram<BulkheadShared, BulkheadInput, void>(async (ctx) => {
  const { words, maxConcurrent, maxQueue } = ctx.shared;
  const b = ctx.shared.bulkhead;
  const bulkhead = b.kind === 'bulkhead' ? Bulkhead.from(b.handle) : new CheckThenActBulkhead(b.words, maxConcurrent, maxQueue);
  const enter = (): void => {
    const inside = add(words, OCCUPANCY, 1) + 1;
    add(words, RAN, 1);
    if (inside > maxConcurrent) add(words, VIOLATIONS, 1);
    if (inside > load(words, MAX_SEEN)) words[MAX_SEEN] = inside; // a diagnostic only
  };
  const leave = (): void => {
    load(words, OCCUPANCY); // a step inside, where a yield lets others try to enter
    sub(words, OCCUPANCY, 1);
  };
  for (let i = 0; i < ctx.input.ops; i++) {
    const style = ctx.random() >= ctx.input.asyncShare ? 'sync' : ctx.random() < 0.5 ? 'async-sync-fn' : 'async';
    try {
      if (style === 'sync') {
        bulkhead.executeSync(() => {
          enter();
          leave();
        });
      } else if (style === 'async-sync-fn') {
        await bulkhead.execute(() => {
          enter();
          leave();
        });
      } else {
        await bulkhead.execute(async () => {
          enter();
          await tick();
          leave();
        });
      }
    } catch (e) {
      if (!isSabreError(e, 'ERR_BULKHEAD_FULL')) throw e;
      add(words, REFUSED, 1);
      await tick();
    }
  }
});
