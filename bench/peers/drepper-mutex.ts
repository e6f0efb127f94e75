/**
 * The peer for the contended Mutex benchmark: Ulrich Drepper's futex mutex
 * ("Futexes Are Tricky", 2011, mutex3), with the short spin of glibc's
 * adaptive mutexes in front of the park. It is the textbook fast futex lock:
 * no owner, no poisoning, no fairness, no liveness checks, nothing sabre's
 * Mutex pays for. Written to be as fast as it honestly can be: direct
 * `Atomics` (no seam), no options, no allocation.
 *
 * State word, the three states of mutex3:
 *   UNLOCKED  = 0  free
 *   LOCKED    = 1  held, nobody waits
 *   CONTENDED = 2  held, someone may be parked (unlock must wake one)
 *
 * lock:   CAS 0→1 (fast path). Otherwise spin up to `spins` times, retrying
 *         the CAS whenever the word reads 0 (glibc PTHREAD_MUTEX_ADAPTIVE_NP,
 *         default 100). Then mark the lock contended with an exchange to 2 and
 *         park on 2 until an exchange finds it 0. A thread that parked always
 *         leaves the word at 2 when it takes the lock, so a later unlock wakes
 *         whoever else may be parked.
 * unlock: atomic decrement; if the old value was 2 (not 1), store 0 and wake
 *         one waiter. The woken thread may lose to a newcomer (barging), which
 *         is what makes it fast, and unfair.
 */

/** Int32 offsets and values of the state word. */
const UNLOCKED = 0,
  LOCKED = 1,
  CONTENDED = 2;

/** glibc's default adaptive spin count (`DEFAULT_ADAPTIVE_COUNT`). */
export const DREPPER_SPINS = 100;

export class DrepperMutex {
  /**
   * @param words a shared Int32Array (all threads pass views of the same buffer)
   * @param index the word this mutex lives in (initially 0)
   * @param spins spin iterations before parking (0: park at once, mutex3 as printed)
   */
  constructor(
    private readonly words: Int32Array,
    private readonly index = 0,
    private readonly spins: number = DREPPER_SPINS,
  ) {}

  lock(): void {
    if (Atomics.compareExchange(this.words, this.index, UNLOCKED, LOCKED) === UNLOCKED) return;
    this.lockSlow();
  }

  private lockSlow(): void {
    const w = this.words,
      i = this.index;
    for (let n = 0; n < this.spins; n++) {
      const c = Atomics.load(w, i);
      if (c === UNLOCKED && Atomics.compareExchange(w, i, UNLOCKED, LOCKED) === UNLOCKED) return;
    }
    let c = Atomics.exchange(w, i, CONTENDED);
    while (c !== UNLOCKED) {
      Atomics.wait(w, i, CONTENDED);
      c = Atomics.exchange(w, i, CONTENDED);
    }
  }

  unlock(): void {
    if (Atomics.sub(this.words, this.index, 1) !== LOCKED) {
      Atomics.store(this.words, this.index, UNLOCKED);
      Atomics.notify(this.words, this.index, 1);
    }
  }
}
