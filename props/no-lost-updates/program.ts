/**
 * Each thread increments one shared target `input` times, through the
 * implementation named by `shared.target.kind`.
 */
import { AtomicCounter, type AtomicCounterHandle } from '../../src/atomic/counter.js';
import { StripedCounter, type StripedCounterHandle } from '../../src/atomic/striped-counter.js';
import { VersionedCell, type VersionedCellHandle } from '../../src/atomic/versioned-cell.js';
import { load } from '../../src/memory/atomics.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { defineProgram } from '../../src/testing/index.js';
import { UnsafeCounter } from './unsafe-counter.js';
import { UnsafeVersionedCell } from './unsafe-versioned-cell.js';

export type IncrementTarget =
  | { readonly kind: 'counter32' | 'counter64'; readonly counter: AtomicCounterHandle }
  | { readonly kind: 'striped'; readonly counter: StripedCounterHandle }
  /** A plain (non-atomic) read-modify-write of `cell[0]`, under `mutex.lock()`. */
  | { readonly kind: 'mutex-rmw'; readonly mutex: MutexHandle; readonly cell: Int32Array }
  /** `update(v => v + 1)` with unbounded retries on conflict. */
  | { readonly kind: 'versioned'; readonly cell: VersionedCellHandle }
  /** The unsafe twin: `++` as a seam load then a seam store. */
  | { readonly kind: 'unsafe'; readonly cell: Int32Array }
  /** The unsafe VersionedCell twin: the version bump is not the step that checked it. */
  | { readonly kind: 'unsafe-versioned'; readonly cell: Int32Array };

export interface IncrementShared {
  readonly target: IncrementTarget;
}

const scratch = new Int32Array(new SharedArrayBuffer(4));
/** A seam step on a private word: a yield point between two plain accesses. */
const yieldPoint = (): void => void load(scratch, 0);

export default defineProgram<IncrementShared, number, void>(({ shared: { target }, input }) => {
  switch (target.kind) {
    case 'counter32':
    case 'counter64': {
      const counter = AtomicCounter.from(target.counter);
      for (let i = 0; i < input; i++) counter.increment();
      return;
    }
    case 'striped': {
      const counter = StripedCounter.from(target.counter);
      for (let i = 0; i < input; i++) counter.increment();
      return;
    }
    case 'mutex-rmw': {
      const mutex = Mutex.from(target.mutex);
      const cell = target.cell;
      for (let i = 0; i < input; i++) {
        mutex.lock();
        const v = cell[0]!;
        yieldPoint();
        cell[0] = v + 1;
        mutex.unlock();
      }
      return;
    }
    case 'versioned': {
      const cell = VersionedCell.from<number>(target.cell);
      for (let i = 0; i < input; i++) cell.update((v) => v + 1, { retries: Infinity });
      return;
    }
    case 'unsafe': {
      const counter = new UnsafeCounter(target.cell);
      for (let i = 0; i < input; i++) counter.increment();
      return;
    }
    case 'unsafe-versioned': {
      const cell = new UnsafeVersionedCell(target.cell);
      for (let i = 0; i < input; i++) cell.update((v) => v + 1, { retries: Infinity });
      return;
    }
  }
});
