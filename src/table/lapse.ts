/**
 * The reclamation hook of SharedHashTable (internal): how a keyed store on
 * the table (IdempotencyStore, LeaseLock, BookingTable, LockManager) says
 * when an entry stops mattering, so that an insert into a full table can
 * make room by itself. The table stamps each entry with what the policy
 * says when the entry is written, and sweeps by those stamps alone: no
 * value is decoded, no store keeps a scan of its own.
 */

import type { TableKey } from './key.js';

/** @internal */
export interface LapsePolicy<V> {
  /** The store's clock: an entry whose `lapsesAt` is at or before `now()` may be reclaimed. */
  now(): number;
  /**
   * When `value` lapses, on the `now()` clock: `Infinity` for never by time
   * (a confirmed booking, a held lock), `-Infinity` for at once (an idle
   * record kept only as a convenience).
   */
  lapsesAt(value: V): number;
  /**
   * The thread whose death makes `value` reclaimable (a lease's holder, an
   * in-flight request's owner), or -1 for none. Absent: -1 for every value.
   */
  ownerOf?(value: V): number;
  /**
   * The error an insert throws when nothing could be reclaimed (the store's
   * own CapacityError, with its message): built once, where the table
   * refuses, instead of the table's error caught and replaced (each error
   * captures a stack, which is most of what a refusal costs).
   */
  full?(key: TableKey): Error;
}
