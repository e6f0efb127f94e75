/**
 * A thread program for the checker's real-thread test: each thread records
 * `input.ops` operations on one shared counter, a mix of `add(1)` and `get`.
 * `kind: 'atomic'` uses AtomicCounter; `kind: 'broken'` is a non-atomic add
 * (load, a seam step on a private word where the harness may yield, store),
 * whose lost updates show in the history as two adds returning the same value.
 */
import { AtomicCounter, type AtomicCounterHandle } from '../../../src/atomic/counter.js';
import { load, store } from '../../../src/memory/atomics.js';
import { defineProgram } from '../../../src/testing/index.js';

export type CounterShared =
  { readonly kind: 'atomic'; readonly counter: AtomicCounterHandle<32> } | { readonly kind: 'broken'; readonly words: Int32Array };

const VALUE = 0;
const scratch = new Int32Array(new SharedArrayBuffer(4));

export default defineProgram<CounterShared, { ops: number }, void>((ctx) => {
  const { shared } = ctx;
  const counter = shared.kind === 'atomic' ? AtomicCounter.from(shared.counter) : undefined;
  const words = shared.kind === 'broken' ? shared.words : undefined;
  const add = (d: number): number => {
    if (counter !== undefined) return counter.add(d);
    const v = load(words!, VALUE);
    load(scratch, 0); // a yield point between the load and the store
    store(words!, VALUE, v + d);
    return v + d;
  };
  const get = (): number => (counter !== undefined ? counter.get() : load(words!, VALUE));
  for (let i = 0; i < ctx.input.ops; i++) {
    if (ctx.random() < 0.7) ctx.record('add', 1, () => add(1));
    else ctx.record('get', null, get);
  }
});
