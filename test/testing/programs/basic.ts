/**
 * A test program for the harness itself. Each thread does what its input says:
 *   add       n seam increments of `shared.counts[thread]` (its own word)
 *   record    n recorded seam increments of `shared.counts[0]` (a shared word)
 *   private   n seam loads of a thread-private word: a step sequence that never
 *             depends on the schedule
 *   hang      waits forever on a word nobody notifies
 *   throw     throws a TypeError
 */
import { threadId } from 'node:worker_threads';
import { add, load, wait } from '../../../src/memory/atomics.js';
import { defineProgram } from '../../../src/testing/index.js';

export type Mode = 'add' | 'record' | 'private' | 'hang' | 'throw';
export interface BasicInput {
  readonly mode: Mode;
  readonly n: number;
}
export interface BasicShared {
  readonly counts: Int32Array;
}
export interface BasicResult {
  readonly threadId: number;
  readonly random: number;
}

export default defineProgram<BasicShared, BasicInput, BasicResult>((ctx) => {
  const { mode, n } = ctx.input;
  const counts = ctx.shared.counts;
  if (mode === 'add') for (let i = 0; i < n; i++) add(counts, ctx.thread, 1);
  if (mode === 'record') for (let i = 0; i < n; i++) ctx.record('add', 1, () => add(counts, 0, 1));
  if (mode === 'private') {
    const own = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < n; i++) load(own, 0);
  }
  if (mode === 'hang') wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Infinity);
  if (mode === 'throw') throw new TypeError(`thread ${ctx.thread} was told to throw`);
  return { threadId, random: ctx.random() };
});
