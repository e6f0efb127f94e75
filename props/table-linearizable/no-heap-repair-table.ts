/**
 * Test-only twin: a SharedHashTable whose repair after a dead writer rebuilds
 * the segment's index and slots but leaves its heap pages as the writer left
 * them: a block taken for an entry that never became LIVE stays taken, a free
 * list cut mid-push stays cut. Used to show that the owner-death property
 * sees heap memory a dead writer leaked.
 */
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';

/** Opens `handle` as a table whose repairs skip the heap. */
export function openNoHeapRepairTable<V>(handle: SharedHashTableHandle): SharedHashTable<V> {
  const table = SharedHashTable.from<V>(handle);
  // The twin reaches into a private field on purpose: the same table, minus the heap's repair.
  const inside = table as unknown as { heap: { rebuild(owner: number, heads: number, live?: unknown): void } };
  const heap = inside.heap;
  const rebuild = heap.rebuild.bind(heap);
  heap.rebuild = (owner, heads, live) => {
    if (live === undefined) rebuild(owner, heads); // clear() still gives pages back
  };
  return table;
}
