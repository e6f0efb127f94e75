/**
 * A bug of depth 2 (two ordering constraints), after Burckhardt et al.'s
 * examples: thread 0 sets a flag and clears it at its very next step, then
 * works on; thread 1 works `work` steps, then reads the flag once. The read
 * sees 1 only if it falls between those two stores: thread 0 must be
 * preempted right after its first step (constraint 1) and thread 1 must run
 * all of its steps before thread 0 runs again (constraint 2).
 */
import { load, store } from '../../../src/memory/atomics.js';
import { defineProgram } from '../../../src/testing/index.js';

export interface WindowShared {
  /** [0]: the flag; [1], [2]: each thread's own scratch word. */
  readonly words: Int32Array;
}

export default defineProgram<WindowShared, number, number>((ctx) => {
  const { words } = ctx.shared;
  const work = ctx.input;
  if (ctx.thread === 0) {
    store(words, 0, 1);
    store(words, 0, 0);
    for (let i = 0; i < work; i++) load(words, 1);
    return 0;
  }
  for (let i = 0; i < work; i++) load(words, 2);
  return load(words, 0); // 1: the bug
});
