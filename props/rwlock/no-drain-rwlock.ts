/**
 * Test-only twin of RWLock whose writer does not wait for readers to leave:
 * readers check the writer word correctly, but a writer takes the word and
 * enters at once, beside any reader already inside.
 */
import { add, compareExchange, load, store, sub } from '../../src/memory/atomics.js';
import { Backoff } from '../../src/memory/backoff.js';

const READERS = 0,
  WRITER = 1;
const tick = () => new Promise((resolve) => setImmediate(resolve));

export class NoDrainRWLock {
  constructor(private readonly words: Int32Array) {}

  /** This twin's writers never wait for readers, so no writer is ever "waiting". */
  readonly isWriterWaiting = false;

  private tryRead(): boolean {
    if (load(this.words, WRITER) !== 0) return false;
    add(this.words, READERS, 1);
    if (load(this.words, WRITER) === 0) return true;
    sub(this.words, READERS, 1);
    return false;
  }

  readLock(): void {
    const backoff = new Backoff();
    while (!this.tryRead()) backoff.snooze();
  }

  async readLockAsync(): Promise<void> {
    while (!this.tryRead()) await tick();
  }

  readUnlock(): void {
    sub(this.words, READERS, 1);
  }

  writeLock(): void {
    const backoff = new Backoff();
    while (compareExchange(this.words, WRITER, 0, 1) !== 0) backoff.snooze();
    // the bug: no wait for READERS to reach 0
  }

  async writeLockAsync(): Promise<void> {
    while (compareExchange(this.words, WRITER, 0, 1) !== 0) await tick();
  }

  writeUnlock(): void {
    store(this.words, WRITER, 0);
  }
}
