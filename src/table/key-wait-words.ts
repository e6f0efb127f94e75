/**
 * KeyWaitWords: where a thread waits for a change to one key of a keyed
 * structure (a lease released, a named lock's queue moved, a computation
 * ended), and how the thread that changes the key wakes it.
 *
 * Implementation notes
 *
 * A fixed set of Int32 words (stripes), `stride` words apart, in the owner's
 * region; a key's word is chosen by FNV-1a over the key, unkeyed: a
 * collision, even a crafted one, only costs waiters of another key a
 * spurious wake-up (they look again and park again). A word is an epoch:
 * a waiter loads it before it looks at the key, and parks on that value
 * (park.ts), so a change made after its look always ends the park: `wake`
 * adds 1 (the change's publication to waiters) and notifies every waiter
 * of the word (waiters of several keys share it, so waking one could pick
 * the wrong one). An owner that counts its waiters (LockManager) calls
 * `wake` only when there are some.
 *
 * Owner death: a word holds no ownership, only a count of changes; a thread
 * dying anywhere leaves nothing to repair. A waiter whose key's holder died
 * learns it from its own watch (park.ts), not from this word.
 */
import { isBytes } from '../validate.js';
import * as seam from '../memory/atomics.js';
import { fnv1a } from '../memory/fnv.js';
import type { TableKey } from './key.js';

const { add, load, notify } = seam; // module constants: see memory/atomics.ts

/** @internal */
export class KeyWaitWords {
  private readonly count: number;

  /** `stripes` words of `words`, `stride` words apart, from index 0. */
  constructor(
    readonly words: Int32Array,
    stripes: number,
    private readonly stride = 1,
  ) {
    this.count = stripes;
  }

  /** The index in `words` of `key`'s word (0 for a key of another type: the table refuses it first). */
  wordOf(key: TableKey): number {
    return typeof key === 'string' || isBytes(key) ? (fnv1a(key) % this.count) * this.stride : 0;
  }

  /** The word's epoch: load it before looking at the key, then park on it. */
  epoch(word: number): number {
    return load(this.words, word);
  }

  /** Publishes a change to a key of `word` and wakes every thread parked on it. */
  wake(word: number): void {
    add(this.words, word, 1);
    notify(this.words, word);
  }
}
