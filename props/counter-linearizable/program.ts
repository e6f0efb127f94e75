/**
 * Each thread runs `ops` recorded operations on one shared counter: mostly
 * `increment` (→ the value after it), sometimes `get` (→ the value), through
 * the implementation named by `shared.target.kind`.
 */
import { AtomicCounter, type AtomicCounterHandle } from '../../src/atomic/counter.js';
import { VersionedCell, type VersionedCellHandle } from '../../src/atomic/versioned-cell.js';
import { defineProgram } from '../../src/testing/index.js';
import { UnsafeCounter } from '../no-lost-updates/unsafe-counter.js';

export type CounterTarget =
  | { readonly kind: 'counter32' | 'counter64'; readonly counter: AtomicCounterHandle }
  | { readonly kind: 'versioned'; readonly cell: VersionedCellHandle }
  /** The unsafe twin: `++` as a load then a store. */
  | { readonly kind: 'unsafe'; readonly cell: Int32Array };

export interface CounterShared {
  readonly target: CounterTarget;
}

interface Counter {
  increment(): number;
  get(): number;
}

function open(target: CounterTarget): Counter {
  switch (target.kind) {
    case 'counter32':
    case 'counter64': {
      const c = AtomicCounter.from(target.counter);
      return { increment: () => Number(c.increment()), get: () => Number(c.get()) };
    }
    case 'versioned': {
      const c = VersionedCell.from<number>(target.cell);
      return { increment: () => c.update((v) => v + 1, { retries: Infinity }).value, get: () => c.read().value };
    }
    case 'unsafe': {
      const c = new UnsafeCounter(target.cell);
      return {
        increment: () => {
          c.increment();
          return c.get();
        },
        get: () => c.get(),
      };
    }
  }
}

export default defineProgram<CounterShared, number, void>((ctx) => {
  const counter = open(ctx.shared.target);
  for (let i = 0; i < ctx.input; i++) {
    if (ctx.random() < 0.75) ctx.record('increment', null, () => counter.increment());
    else ctx.record('get', null, () => counter.get());
  }
});
