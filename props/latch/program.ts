/**
 * Each thread counts one latch down `input.countDowns` times (recording each
 * in COUNTED just before the call), then waits for it, sync (`wait`) or async
 * (`waitAsync`) as drawn from ctx.random(). A waiter that returns while
 * COUNTED is below the latch's initial count was released early.
 */
import { add, load } from '../../src/memory/atomics.js';
import { Latch, type LatchHandle } from '../../src/sync/latch.js';
import { defineProgram } from '../../src/testing/index.js';
import { EagerLatch } from './eager-latch.js';

export interface LatchShared {
  readonly total: number;
  readonly latch: { readonly kind: 'latch'; readonly handle: LatchHandle } | { readonly kind: 'eager'; readonly words: Int32Array };
  /** [COUNTED, EARLY, RELEASED] */
  readonly words: Int32Array;
}
export const COUNTED = 0,
  EARLY = 1,
  RELEASED = 2;
export interface LatchInput {
  /** 0 = a pure waiter. A thread waits only after its own countdowns (else it could wait for itself). */
  readonly countDowns: number;
  readonly asyncWait: boolean;
}

interface CountDown {
  countDown(): unknown;
  wait(): void;
  waitAsync(): Promise<void>;
}

export default defineProgram<LatchShared, LatchInput, void>(async (ctx) => {
  const { words, total } = ctx.shared;
  const latch: CountDown = ctx.shared.latch.kind === 'latch' ? Latch.from(ctx.shared.latch.handle) : new EagerLatch(ctx.shared.latch.words);
  for (let i = 0; i < ctx.input.countDowns; i++) {
    add(words, COUNTED, 1);
    latch.countDown();
    if (ctx.random() < 0.5) load(words, COUNTED); // an extra step between countdowns, where a yield may fall
  }
  if (ctx.input.asyncWait) await latch.waitAsync();
  else latch.wait();
  if (load(words, COUNTED) < total) add(words, EARLY, 1);
  add(words, RELEASED, 1);
});
