/**
 * Test-only twin of Bulkhead: the same two counts (calls admitted, calls
 * running), each taken by a check-then-act step: load the count, see room,
 * store the count plus one. Two threads that load the same count both take
 * the last slot, so more than maxConcurrent calls run at once. (Giving back
 * is a correct atomic subtract: the taking is the one bug.) Same surface as
 * the Bulkhead methods the occupancy property uses.
 */
import { load, notify, store, sub, wait } from '../../src/memory/atomics.js';
import { BulkheadFullError } from '../../src/errors.js';

/** `words`: ADMITTED and RUNNING, both starting at 0. */
export const ADMITTED = 0,
  RUNNING = 1;
const SLICE_MS = 20;

export class CheckThenActBulkhead {
  constructor(
    private readonly words: Int32Array,
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {}

  private tryTake(index: number, limit: number): boolean {
    const n = load(this.words, index);
    if (n >= limit) return false;
    store(this.words, index, n + 1); // the bug: not a compare-and-swap
    return true;
  }

  private enter(): void {
    if (!this.tryTake(ADMITTED, this.maxConcurrent + this.maxQueue)) throw new BulkheadFullError('bulkhead full');
  }

  private leave(): void {
    sub(this.words, RUNNING, 1);
    sub(this.words, ADMITTED, 1);
    notify(this.words, RUNNING);
  }

  executeSync<T>(fn: () => T): T {
    this.enter();
    while (!this.tryTake(RUNNING, this.maxConcurrent)) wait(this.words, RUNNING, load(this.words, RUNNING), SLICE_MS);
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  async execute<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    this.enter();
    while (!this.tryTake(RUNNING, this.maxConcurrent)) await new Promise((resolve) => setImmediate(resolve));
    try {
      return await fn();
    } finally {
      this.leave();
    }
  }

  stats(): { running: number; queued: number; available: number } {
    const running = load(this.words, RUNNING);
    return { running, queued: load(this.words, ADMITTED) - running, available: this.maxConcurrent - running };
  }
}
