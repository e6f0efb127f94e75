/**
 * Test-only twin of Mutex: a handoff lock whose waiters leave blind. Its
 * unlock hands the lock to "a parked waiter" whenever one is counted (the
 * Mutex does so once a waiter starves), and a waiter that times out or is
 * aborted just uncounts itself and leaves, without a look at whether a
 * handoff was made to it meanwhile. An unlock that counted it then leaves the
 * lock free but unobtainable: the bug the Mutex had before its leave rule.
 */
import { threadId } from 'node:worker_threads';
import { add, compareExchange, load, notify, store, sub } from '../../src/memory/atomics.js';
import { systemClock } from '../../src/clock.js';
import { TimeoutError } from '../../src/errors.js';
import { parkAsync, parkSync, toDeadline } from '../../src/threads/park.js';

const STATE = 0,
  WAITERS = 1;
/** STATE values: free, handed to a parked waiter, else the owner's threadId + 1. */
const FREE = 0,
  HANDOFF = -1;
const me = threadId + 1;

export class LeaveBlindLock {
  constructor(private readonly words: Int32Array) {}

  get isLocked(): boolean {
    return load(this.words, STATE) > 0;
  }

  tryLock(): boolean {
    return compareExchange(this.words, STATE, FREE, me) === FREE;
  }

  lock(timeoutMs = Infinity): void {
    const deadline = toDeadline(timeoutMs);
    let parked = false;
    for (;;) {
      const s = load(this.words, STATE);
      if ((s === FREE || (s === HANDOFF && parked)) && compareExchange(this.words, STATE, s, me) === s) return;
      if (systemClock.now() >= deadline) throw new TimeoutError('timed out'); // the bug: a handoff made after the load above is lost
      add(this.words, WAITERS, 1);
      parkSync(this.words, STATE, s, deadline);
      sub(this.words, WAITERS, 1);
      parked = true;
    }
  }

  async lockAsync(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const deadline = toDeadline(options.timeoutMs ?? Infinity);
    let parked = false;
    for (;;) {
      const s = load(this.words, STATE);
      if ((s === FREE || (s === HANDOFF && parked)) && compareExchange(this.words, STATE, s, me) === s) return;
      if (systemClock.now() >= deadline) throw new TimeoutError('timed out');
      add(this.words, WAITERS, 1);
      try {
        await parkAsync(this.words, STATE, s, deadline, options.signal); // the bug: an abort leaves without a look
      } finally {
        sub(this.words, WAITERS, 1);
      }
      parked = true;
    }
  }

  unlock(): void {
    store(this.words, STATE, load(this.words, WAITERS) > 0 ? HANDOFF : FREE);
    notify(this.words, STATE, 1);
  }
}
