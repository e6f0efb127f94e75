/**
 * Test-only twin of Mutex: a check-then-act lock. It loads the state, sees it
 * free, then stores its id: two steps, so two threads that both load "free"
 * both enter. Same surface as the Mutex methods the properties use.
 */
import { threadId } from 'node:worker_threads';
import { load, store } from '../../src/memory/atomics.js';
import { Backoff } from '../../src/memory/backoff.js';

const STATE = 0,
  FREE = 0;
const me = threadId + 1;

export class CheckThenActLock {
  constructor(private readonly words: Int32Array) {}

  lock(): void {
    const backoff = new Backoff();
    for (;;) {
      if (load(this.words, STATE) === FREE) {
        store(this.words, STATE, me); // the bug: not a compare-and-swap
        return;
      }
      backoff.snooze();
    }
  }

  async lockAsync(): Promise<void> {
    for (;;) {
      if (load(this.words, STATE) === FREE) {
        store(this.words, STATE, me);
        return;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  unlock(): void {
    store(this.words, STATE, FREE);
  }

  async runExclusive<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.lockAsync();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }
}
