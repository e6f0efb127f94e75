/**
 * Test-only twin of RWLock that prefers readers: mutual exclusion is right
 * (a reader adds itself then checks the writer word; a writer takes the word
 * then checks the readers, Dekker-style), but a waiting writer only announces
 * itself in WAITING, which readers ignore. While readers overlap, new ones
 * keep coming in ahead of it: the writer starves for as long as they do.
 */
import { add, compareExchange, load, store, sub } from '../../src/memory/atomics.js';
import { Backoff } from '../../src/memory/backoff.js';

const READERS = 0,
  WRITER = 1,
  WAITING = 2;
const tick = () => new Promise((resolve) => setImmediate(resolve));

export class ReaderPreferringRWLock {
  constructor(private readonly words: Int32Array) {}

  get isWriterWaiting(): boolean {
    return load(this.words, WAITING) > 0;
  }

  private tryRead(): boolean {
    if (load(this.words, WRITER) !== 0) return false; // the bug: WAITING is not looked at
    add(this.words, READERS, 1);
    if (load(this.words, WRITER) === 0) return true;
    sub(this.words, READERS, 1);
    return false;
  }

  private tryWrite(): boolean {
    if (load(this.words, READERS) !== 0 || compareExchange(this.words, WRITER, 0, 1) !== 0) return false;
    if (load(this.words, READERS) === 0) return true;
    store(this.words, WRITER, 0);
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
    add(this.words, WAITING, 1);
    const backoff = new Backoff();
    while (!this.tryWrite()) backoff.snooze();
    sub(this.words, WAITING, 1);
  }

  async writeLockAsync(): Promise<void> {
    add(this.words, WAITING, 1);
    while (!this.tryWrite()) await tick();
    sub(this.words, WAITING, 1);
  }

  writeUnlock(): void {
    store(this.words, WRITER, 0);
  }
}
