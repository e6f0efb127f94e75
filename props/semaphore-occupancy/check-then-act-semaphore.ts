/**
 * Test-only twin of Semaphore: a check-then-act semaphore. It loads the
 * count, sees enough permits, then stores the count less n: two steps, so two
 * threads that both load the same count both take from it. (Release is a
 * correct atomic add: the acquire is the one bug.) Same surface as the
 * Semaphore methods the occupancy property uses.
 */
import { add, load, notify, store, wait } from '../../src/memory/atomics.js';
import { Backoff } from '../../src/memory/backoff.js';

const COUNT = 0;
const SLICE_MS = 20;

export class CheckThenActSemaphore {
  /** `words[COUNT]` must start at the number of permits. */
  constructor(private readonly words: Int32Array) {}

  private tryTake(n: number): boolean {
    const c = load(this.words, COUNT);
    if (c < n) return false;
    store(this.words, COUNT, c - n); // the bug: not a compare-and-swap
    return true;
  }

  acquire(n = 1): void {
    const backoff = new Backoff();
    while (!this.tryTake(n)) {
      if (!backoff.isCompleted()) backoff.snooze();
      else wait(this.words, COUNT, load(this.words, COUNT), SLICE_MS);
    }
  }

  async acquireAsync(n = 1): Promise<void> {
    while (!this.tryTake(n)) await new Promise((resolve) => setImmediate(resolve));
  }

  release(n = 1): void {
    add(this.words, COUNT, n);
    notify(this.words, COUNT);
  }

  async runExclusive<T>(fn: () => T | PromiseLike<T>, n = 1): Promise<T> {
    await this.acquireAsync(n);
    try {
      return await fn();
    } finally {
      this.release(n);
    }
  }
}
