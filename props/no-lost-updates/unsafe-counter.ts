/**
 * Test-only twin of AtomicCounter: `++` as two steps, a load then a store, so
 * an increment that runs between them is overwritten (a lost update). Both
 * steps go through the atomics seam, where the harness injects yields.
 */
import { load, store } from '../../src/memory/atomics.js';

const VALUE = 0;

export class UnsafeCounter {
  constructor(private readonly words: Int32Array) {}
  increment(): void {
    const v = load(this.words, VALUE);
    store(this.words, VALUE, v + 1); // not a CAS: whatever happened since the load is lost
  }
  get(): number {
    return load(this.words, VALUE);
  }
}
