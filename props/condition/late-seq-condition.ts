/**
 * Test-only twin of Condition with the classic lost wake-up: `wait` releases
 * the mutex first and reads the sequence word after. A notify that lands in
 * between (the notifier could take the mutex as soon as it was released)
 * bumps the sequence before the waiter reads it, so the waiter parks on the
 * new value and sleeps through the notification meant for it.
 * Same surface as the Condition methods the property uses.
 */
import { add, load, notify, sub } from '../../src/memory/atomics.js';
import type { Mutex } from '../../src/sync/mutex.js';
import { parkAsync, parkSync } from '../../src/threads/park.js';

const SEQ = 0,
  WAITERS = 1;

export class LateSeqCondition {
  /** `words`: two Int32 words of its own ([SEQ, WAITERS]). */
  constructor(private readonly words: Int32Array) {}

  wait(mutex: Mutex): boolean {
    add(this.words, WAITERS, 1);
    mutex.unlock();
    const seq = load(this.words, SEQ); // the bug: read after the unlock
    while (load(this.words, SEQ) === seq) parkSync(this.words, SEQ, seq, Infinity);
    sub(this.words, WAITERS, 1);
    mutex.lock();
    return true;
  }

  async waitAsync(mutex: Mutex): Promise<boolean> {
    add(this.words, WAITERS, 1);
    mutex.unlock();
    const seq = load(this.words, SEQ);
    while (load(this.words, SEQ) === seq) await parkAsync(this.words, SEQ, seq, Infinity);
    sub(this.words, WAITERS, 1);
    await mutex.lockAsync();
    return true;
  }

  notify(n = 1): void {
    if (load(this.words, WAITERS) === 0) return;
    add(this.words, SEQ, 1);
    notify(this.words, SEQ, n);
  }

  notifyAll(): void {
    if (load(this.words, WAITERS) === 0) return;
    add(this.words, SEQ, 1);
    notify(this.words, SEQ);
  }
}
