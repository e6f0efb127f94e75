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
 * Bounded: past `limit` entries one is dropped, by second chance (CLOCK):
 * the oldest entry goes unless it was hit since it was last looked at, in
 * which case it moves to the back and the next oldest is looked at. So a
 * hot key stays, and a thread holds at most `limit` keys and values of a
 * table.
 */

/**
 * Entries for a table of `capacity`: one per entry, from 256 to 16384. Each
 * costs about 370 bytes of this thread's heap with a short string value (a
 * whole lru-cache entry is about 270), so at most about 6 MB per thread and
 * table: the price of reads that cost a few Map lookups. A memo smaller than
 * the hot set is paid for on every miss (a full read, ten times a hit):
 * 8,192 entries over a Zipf(0.9) stream of 10,000 keys missed 6% of reads and
 * doubled the mean read.
 */
export function keyMemoSize(capacity: number): number {
  return Math.min(Math.max(capacity, 256), 16_384);
}

/** Entries a full memo looks at, at most, for one that was not hit (then it drops the oldest anyway). */
const SECOND_CHANCES = 8;

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
  /** Hit since the memo last looked at it for eviction. */
  used: boolean;
}

export class KeyMemo {
  private readonly map = new Map<string, MemoEntry>();
  /** The keys in the memo, in a ring swept by `hand` (CLOCK); a JS Map cannot drop its oldest key cheaply (its iteration skips the holes of every earlier delete). */
  private readonly ring: string[] = [];
  private hand = 0;

  constructor(private readonly limit: number) {}

  get(key: string): MemoEntry | undefined {
    return this.map.get(key);
  }

  set(key: string, entry: MemoEntry): void {
    const map = this.map;
    if (map.has(key)) {
      map.set(key, entry); // a newer read of a key already in the ring
      return;
    }
    if (this.ring.length < this.limit) {
      this.ring.push(key);
    } else {
      const at = this.victim();
      map.delete(this.ring[at]!);
      this.ring[at] = key;
    }
    map.set(key, entry);
  }

  /** The ring position to reuse: the first not hit since the hand last passed, within SECOND_CHANCES, else the one under the hand. */
  private victim(): number {
    const n = this.ring.length;
    for (let i = 0; i < SECOND_CHANCES; i++) {
      const at = this.hand;
      this.hand = at + 1 === n ? 0 : at + 1;
      const e = this.map.get(this.ring[at]!)!;
      if (!e.used) return at;
      e.used = false; // a second chance
    }
    const at = this.hand;
    this.hand = at + 1 === n ? 0 : at + 1;
    return at;
  }
}
