/**
 * Test-only twin: a SharedHashTable whose segment locks are plain spin locks
 * on the same words, with no owner-death recovery: a writer killed while it
 * holds a segment's lock holds it forever, and every later writer of that
 * segment (and every reader that finds the segment mid-write) waits forever.
 * Used to show that the owner-death property sees a table that does not
 * recover.
 */
import { threadId } from 'node:worker_threads';
import { compareExchange, notify, store, wait } from '../../src/memory/atomics.js';
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';

const me = threadId + 1;

class SpinLock {
  constructor(private readonly words: Int32Array) {}
  lock(): void {
    for (;;) {
      const found = compareExchange(this.words, 0, 0, me);
      if (found === 0) return;
      wait(this.words, 0, found, 1); // no liveness check: a dead holder is waited for forever
    }
  }
  unlock(): void {
    store(this.words, 0, 0);
    notify(this.words, 0, 1);
  }
  readonly isPoisoned = false;
  clearPoison(): void {
    // nothing to clear: this twin never poisons
  }
}

/** Opens `handle` as a table whose segment locks never recover from a dead holder. */
export function openNoRecoveryTable<V>(handle: SharedHashTableHandle): SharedHashTable<V> {
  const table = SharedHashTable.from<V>(handle);
  // The twin reaches into private fields on purpose: the same table, minus recovery.
  const inside = table as unknown as { locks: { words: Int32Array }[] };
  inside.locks = inside.locks.map((m) => new SpinLock(m.words) as unknown as { words: Int32Array });
  return table;
}
