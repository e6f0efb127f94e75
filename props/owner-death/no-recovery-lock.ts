/**
 * Test-only twin of Mutex without owner-death recovery: a correct CAS lock
 * that parks in slices, but never asks whether its owner is alive. A thread
 * that dies holding it leaves every other locker waiting forever.
 */
import { threadId } from 'node:worker_threads';
import { compareExchange, notify, store, wait } from '../../src/memory/atomics.js';

const STATE = 0,
  FREE = 0;
const SLICE_MS = 20;
const me = threadId + 1;

export class NoRecoveryLock {
  constructor(private readonly words: Int32Array) {}

  /** Options (`ignorePoison`) are accepted and meaningless: this lock is never poisoned. */
  lock(_options?: unknown): void {
    for (;;) {
      const found = compareExchange(this.words, STATE, FREE, me);
      if (found === FREE) return;
      wait(this.words, STATE, found, SLICE_MS); // the bug: no liveness check of `found - 1`
    }
  }

  unlock(): void {
    store(this.words, STATE, FREE);
    notify(this.words, STATE, 1);
  }

  /** Takes the lock if free. Never throws OwnerDiedError: it cannot tell. */
  tryLock(): boolean {
    return compareExchange(this.words, STATE, FREE, me) === FREE;
  }
}
