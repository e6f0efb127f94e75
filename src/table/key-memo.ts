/**
 * A per-instance memo of recent reads, for tables whose decoded values are
 * immutable (the 'string' codec, or a parent that never hands out a decoded
 * value that can be changed): string key -> the slot that held its value,
 * the 64-bit number of the write that filled the slot, the key's hash, and
 * the decoded value.
 *
 * A hit skips the key's encoding, its hash, the probe and the decoding: the
 * reader only checks, between two loads of the segment's sequence word, that
 * the slot is still LIVE with that write number. A slot's contents change
 * only by a new write, with a new number that never repeats in its segment,
 * and at every even sequence a key has exactly one LIVE slot; so a match means
 * the slot still holds the key's current value, and the value in the memo is
 * its decoding. Nothing ever needs invalidating: a stale entry fails the
 * check and is replaced by the read that follows.
 *
 * Bounded: past `limit` entries, the oldest entry is dropped (insertion
 * order), so a thread holds at most `limit` keys and values of a table.
 */

/**
 * Entries for a table of `capacity`: one per entry, from 256 to 4096. Each
 * costs about 370 bytes of this thread's heap with a short string value (a
 * whole lru-cache entry is about 270): more would trade the point of a
 * shared table, one copy for all threads, for hits on a larger hot set.
 */
export function keyMemoSize(capacity: number): number {
  return Math.min(Math.max(capacity, 256), 4096);
}

export interface MemoEntry {
  /** Int32 index of the segment's control block. */
  readonly seg: number;
  /** Int32 index of the slot. */
  readonly at: number;
  /** The write number (low and high words). */
  readonly lo: number;
  readonly hi: number;
  /** The key's keyed hash. */
  readonly h: number;
  readonly value: unknown;
}

export class KeyMemo {
  private readonly map = new Map<string, MemoEntry>();

  constructor(private readonly limit: number) {}

  get(key: string): MemoEntry | undefined {
    return this.map.get(key);
  }

  set(key: string, entry: MemoEntry): void {
    const map = this.map;
    if (map.size >= this.limit && !map.has(key)) map.delete(map.keys().next().value!);
    map.set(key, entry);
  }
}
