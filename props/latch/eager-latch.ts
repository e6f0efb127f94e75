/**
 * Test-only twin of Latch: waiters are woken on every countDown and return
 * without re-checking the count. Same surface as the Latch methods the
 * property uses.
 */
import { load, notify, sub, wait, waitAsync } from '../../src/memory/atomics.js';

const COUNT = 0;
const SLICE_MS = 20;

export class EagerLatch {
  /** `words[COUNT]` must start at the count. */
  constructor(private readonly words: Int32Array) {}

  countDown(): void {
    sub(this.words, COUNT, 1);
    notify(this.words, COUNT); // wakes every waiter, at every step
  }

  wait(): void {
    const c = load(this.words, COUNT);
    if (c === 0) return;
    wait(this.words, COUNT, c, SLICE_MS); // the bug: no loop re-checking that the count is 0
  }

  async waitAsync(): Promise<void> {
    const c = load(this.words, COUNT);
    if (c === 0) return;
    const r = waitAsync(this.words, COUNT, c, SLICE_MS);
    if (r.async) await r.value;
  }
}
