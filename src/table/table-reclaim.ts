/**
 * How a full SharedHashTable makes room before it refuses: reclaiming
 * lapsed entries for the keyed stores, evicting victims for the Cache.
 */
import * as seam from '../memory/atomics.js';
import { EVICTION_SAMPLE, EVICTION_SCAN, type EvictionPolicy } from './eviction.js';
import type { LapsePolicy } from './lapse.js';
import { MAX_BLOCK_BYTES, PAGE_BYTES, entryClass } from './slab-heap.js';
import { ThreadRegistry } from '../threads/registry.js';
import * as tableLayout from './table-layout.js';
import * as tableMemory from './table-memory.js';
import { type Room, type TableParts } from './table-memory.js';
import { TableRepair } from './table-repair.js';

const { compareExchange, load, load64, store, store64 } = seam; // module constants: see memory/atomics.ts
// The table's words and codes, as module constants too (a named import is re-checked on every use).
const {
  BASE,
  BASE_SET,
  BUMP,
  COUNT,
  CURSOR,
  EPOCH,
  GATE,
  LEN_MASK,
  LIVE,
  OWNED,
  RECOUNTS,
  SWEPT_DEATHS,
  S_KEYLEN,
  S_REF,
  S_STATE,
  S_VALLEN,
  T_OWNER,
} = tableLayout;
const { ROOM, NO_ENTRY, NO_BYTES } = tableMemory;

/*
 * Implementation notes
 *
 * Reclamation (internal, for the keyed stores: lapse.ts): a table given a
 * LapsePolicy stamps each value it writes with LAPSE (when it stops
 * mattering, on the store's clock) and OWNER (threadId + 1 of the thread
 * whose death makes it reclaimable, 0 for none), computed from the value
 * before it is encoded, and keeps per segment SOON (lowered by a write
 * whose LAPSE is below it, so never above a live entry's LAPSE) and OWNED.
 * An insert that finds the table full reclaims before it refuses: it sweeps
 * each segment whose SOON has passed (under its lock: removes the entries
 * whose LAPSE has passed, then sets SOON exactly), starting at CURSOR and
 * stopping at the first that freed one, so no call pays for the whole
 * table and a segment is swept only when it holds a lapsed entry or its
 * bound went stale (a rewrite that postponed an entry), which the sweep
 * then tightens. Owners: when some segment has OWNED > 0, the insert has
 * the registry look at every registered thread (answers are shared for a
 * window) and sweeps the owned segments for dead owners only if a death
 * was recorded since the last fruitless look (SWEPT_DEATHS). So a table
 * full of live entries refuses after reading S summaries (S <= 64), never
 * a value; the stores keep no scan of their own. SOON and OWNED are read
 * without the lock to choose segments: a stale or racing read only picks
 * a segment that frees nothing (then tightened) or misses an entry written
 * concurrently with the refusal. Repair recomputes both from the LIVE slots.
 *
 * Eviction (internal, for Cache): a table given an EvictionPolicy makes room
 * instead of refusing. An insert into a full table (or a full segment), under
 * its segment lock, samples up to EVICTION_SAMPLE LIVE slots of that segment,
 * asks the policy for a victim and removes it as a delete would, then
 * inserts: the eviction and the insert are one critical section. Policies
 * judge slots by BORN (TICKS when the key was inserted, kept by a replace),
 * STAMP (TICKS when it was last read or written; readers store it with a
 * plain write after their read, so it is approximate and may land on a slot
 * reused meanwhile: it only steers eviction) and HASH. An evicting reader
 * never sees a torn entry: removal is a write like any other.

 */

const bits = new Float64Array(1);
const halves = new Int32Array(bits.buffer);
const whole = new BigInt64Array(bits.buffer);
/** Scratch for the gate's float32. */
const gateFloat = new Float32Array(1);
const gateBits = new Int32Array(gateFloat.buffer);

export abstract class TableReclaim<V> extends TableRepair<V> {
  /** Eviction candidates (slot word indexes). */
  protected readonly candidates = new Int32Array(2 * EVICTION_SAMPLE);

  protected constructor(parts: TableParts) {
    super(parts);
    if (parts.created) this.closeGate(-1, -Infinity, true); // never valid: EPOCH starts at 0 and only grows
  }

  /**
   * Internal (Cache): from now on this instance makes room in a full table by
   * evicting the victims `policy` picks, and stamps the slots it reads.
   * Every instance that writes to the table must be given a policy, or its
   * inserts refuse when full as usual.
   * @internal
   */
  setEviction(policy: EvictionPolicy): void {
    this.policy = policy;
  }

  /**
   * Internal (the keyed stores): from now on this instance stamps every
   * value it writes with the time it lapses and the thread whose death
   * makes it reclaimable, and an insert into a full table first reclaims
   * lapsed entries (`reclaim`). Every instance that writes to the table
   * must be given the same policy.
   * @internal
   */
  setLapse(policy: LapsePolicy<V>): void {
    this.lapse = policy;
    // The first policy's clock reading is the gate's base: a float32 counted from near now is precise.
    if (compareExchange(this.i32, BASE_SET, 0, 1) === 0) {
      bits[0] = policy.now();
      store64(this.i64, BASE >> 1, whole[0]!);
      store(this.i32, BASE_SET, 2);
    }
  }

  /**
   * The gate's base, NaN until the first policy has set it: a gate computed
   * or read without a base compares false, so it never holds.
   */
  protected base(): number {
    if (load(this.i32, BASE_SET) !== 2) return NaN;
    whole[0] = load64(this.i64, BASE >> 1);
    return Number.isFinite(bits[0]) ? bits[0]! : NaN;
  }

  /**
   * An insert into an evicting table (under segment `seg`'s lock): evicts
   * from this segment until the segment and the table have room, then
   * inserts. False if the segment has nothing left to evict.
   */
  protected insertEvicting(seg: number, h: number, keyWord: number, vlen: number): Room {
    let room: Room = NO_ENTRY;
    for (let i = 0; i < RECOUNTS + EVICTION_SAMPLE; i++) {
      if (load(this.i32, seg + COUNT) < this.layout.perSegment && this.reserve()) {
        this.find(seg, h, keyWord); // the key is still absent; evictions may have moved its place
        room = this.insert(seg, this.foundAt, h, keyWord, vlen); // the segment has room: it was checked above
        if (room === ROOM) return ROOM;
      }
      if (!(room === NO_BYTES ? this.evictForBytes(seg, (keyWord & LEN_MASK) + vlen, -1) : this.evictOne(seg))) return room;
    }
    return room;
  }

  /**
   * A replace (under segment `seg`'s lock); in an evicting table whose heap
   * has no room for the new value, it first evicts other entries of the
   * segment (never the key itself) to make room.
   */
  protected replaceEvicting(seg: number, slot: number, pos: number, h: number, keyWord: number, vlen: number): Room {
    for (let i = 0; ; i++) {
      if (this.replace(seg, slot, pos, h, keyWord, vlen)) return ROOM;
      if (this.policy === undefined || i === RECOUNTS + EVICTION_SAMPLE) return NO_BYTES;
      if (!this.evictForBytes(seg, (keyWord & LEN_MASK) + vlen, this.slot(seg, slot))) return NO_BYTES;
      slot = this.find(seg, h, keyWord); // evictions move index entries
      pos = this.foundAt;
    }
  }

  /**
   * Makes heap room for an entry of `bytes` in segment `seg` of an evicting
   * table (its lock held), without evicting the slot at word `except`: a
   * victim of the entry's size class if the segment has one (its block is
   * what the entry needs: the segment's pages of that class are full, or it
   * would have fit), else every entry of the segment's page with the fewest
   * (so the page goes back to the heap). False if there was nothing to evict.
   */
  protected evictForBytes(seg: number, bytes: number, except: number): boolean {
    const cls = entryClass(bytes);
    const i32 = this.i32;
    const sizeOf = (at: number): number => (i32[at + S_KEYLEN]! & LEN_MASK) + i32[at + S_VALLEN]!;
    if (cls >= 0 && this.evictOne(seg, (at) => at !== except && entryClass(sizeOf(at)) === cls)) return true;
    return this.emptyPage(seg, except) || this.evictOne(seg, (at) => at !== except);
  }

  /**
   * Evicts every entry (but the slot at word `except`) of segment `seg`'s
   * size-class page with the fewest in use, and gives the page back to the
   * heap (its lock held); false if it had no such page or evicted nothing.
   */
  protected emptyPage(seg: number, except: number): boolean {
    const i32 = this.i32;
    const page = this.heap.emptiestPage(this.owner(seg));
    if (page < 0) return false;
    const lo = page * PAGE_BYTES;
    let evicted = 0;
    const bump = Math.min(i32[seg + BUMP]!, this.layout.pool);
    for (let slot = 0; slot < bump; slot++) {
      const at = this.slot(seg, slot);
      const ref = i32[at + S_REF]!;
      const bytes = (i32[at + S_KEYLEN]! & LEN_MASK) + i32[at + S_VALLEN]!;
      if (at === except || i32[at + S_STATE] !== LIVE || bytes > MAX_BLOCK_BYTES || ref < lo || ref >= lo + PAGE_BYTES) continue;
      this.policy!.evicted(at);
      this.remove(seg, slot, this.positionOf(seg, slot));
      evicted++;
    }
    this.heap.trim(seg + this.layout.headsAt); // the emptied page, if the segment kept it
    return evicted > 0;
  }

  /**
   * Evicts one entry of segment `seg` (its lock held) chosen by the policy
   * among sampled LIVE slots (those `accept` takes, if given); false if none.
   */
  protected evictOne(seg: number, accept?: (at: number) => boolean): boolean {
    const i32 = this.i32;
    const bump = Math.min(i32[seg + BUMP]!, this.layout.pool);
    if (bump === 0 || i32[seg + COUNT] === 0) return false;
    const ok = (at: number): boolean => i32[at + S_STATE] === LIVE && (accept === undefined || accept(at));
    // Independent random slots (neighbours were allocated together and would be judged together);
    // every slot of a small segment.
    let n = 0;
    if (bump <= 2 * EVICTION_SAMPLE)
      for (let slot = 0; slot < bump; slot++) if (ok(this.slot(seg, slot))) this.candidates[n++] = this.slot(seg, slot);
    for (let k = 0; k < EVICTION_SCAN && n < EVICTION_SAMPLE && bump > 2 * EVICTION_SAMPLE; k++) {
      const at = this.slot(seg, (Math.random() * bump) | 0);
      if (ok(at)) this.candidates[n++] = at;
    }
    if (n === 0) {
      // A sparse segment (or few slots `accept` takes): the first that qualifies.
      for (let slot = 0; slot < bump && n === 0; slot++) if (ok(this.slot(seg, slot))) this.candidates[n++] = this.slot(seg, slot);
      if (n === 0) return false;
    }
    const at = this.policy!.victim(this.candidates, n);
    const victim = (at - this.slot(seg, 0)) / this.layout.slotWords;
    this.policy!.evicted(at);
    this.remove(seg, victim, this.positionOf(seg, victim));
    return true;
  }

  /**
   * Makes room in a full table of a store (see `setLapse`): sweeps, one
   * segment at a time and each under its lock, the segments that may hold a
   * lapsed entry, and stops at the first that freed one. True if it freed
   * any. Reads only the stamps and the segments' summaries, never a value.
   */
  protected reclaim(): boolean {
    const lapse = this.lapse!;
    const now = lapse.now();
    let owned = this.gateOwned(now);
    if (owned < 0) {
      const epoch = load(this.i32, EPOCH);
      const segments = this.layout.segments;
      const start = load(this.i32, CURSOR) % segments;
      let soonest = Infinity;
      owned = 0;
      for (let k = 0; k < segments; k++) {
        const s = (start + k) % segments;
        const seg = this.segment(s);
        // SOON is a lower bound: a segment past it holds a lapsed entry, or its bound is stale and the sweep tightens it.
        const soon = this.soonOf(seg);
        if (soon <= now && this.sweep(s, now, undefined) > 0) {
          store(this.i32, CURSOR, s);
          return true;
        }
        soonest = Math.min(soonest, soon <= now ? this.soonOf(seg) : soon); // a sweep that freed nothing tightened it
        owned += load(this.i32, seg + OWNED);
      }
      this.closeGate(epoch, soonest, owned > 0);
    }
    if (owned === 0) return false;
    // Entries that lapse when their owner dies: look again only when a death was recorded since the last fruitless look.
    const registry = ThreadRegistry.current;
    const deaths = registry.learnDeaths();
    if (deaths === load(this.i32, SWEPT_DEATHS)) return false;
    const dead = (id: number): boolean => !registry.isAlive(id);
    for (let s = 0; s < this.layout.segments; s++) {
      if (load(this.i32, this.segment(s) + OWNED) > 0 && this.sweep(s, now, dead) > 0) return true;
    }
    store(this.i32, SWEPT_DEATHS, deaths);
    return false;
  }

  /**
   * The gate: after a pass that freed nothing, GATE holds the least SOON it
   * saw (as a float32 counted from BASE, rounded down, so still a lower
   * bound, and precise near the time the table was first used), whether any
   * segment had owned entries, and the EPOCH it began in, in one 64-bit word.
   * It is valid while EPOCH has not moved: every write that lowers a SOON,
   * or gives a segment its first owned entry, bumps EPOCH first (sweeps only
   * raise SOON, and owned entries only leave). While it holds and `now` is
   * before the gate, no entry has lapsed by time, and the answer (1 or 0:
   * any owned entries) costs two loads instead of a pass over the segments.
   * Returns -1 when the gate does not hold.
   */
  protected gateOwned(now: number): number {
    whole[0] = load64(this.i64, GATE >> 1);
    if (halves[1] !== load(this.i32, EPOCH)) return -1;
    const lo = halves[0]!;
    gateBits[0] = lo & ~1;
    return now < this.base() + gateFloat[0]! ? lo & 1 : -1;
  }

  /** Publishes the gate of a fruitless pass that began at EPOCH = `epoch` (a later writer of EPOCH has made it stale already). */
  protected closeGate(epoch: number, soonest: number, ownedAny: boolean): void {
    const base = this.base();
    gateFloat[0] = soonest - base;
    // Round down (float32 steps towards -Infinity) until base + gate, as gateOwned computes it, is at or below `soonest`.
    while (base + gateFloat[0] > soonest) gateBits[0] = gateBits[0]! + (gateFloat[0] > 0 ? -1 : 1);
    let b = gateBits[0]!;
    if ((b & 1) !== 0) b += b > 0 ? -1 : 1; // the low bit carries ownedAny: clear it rounding down (a negative's bits grow downwards)
    halves[0] = b | (ownedAny ? 1 : 0);
    halves[1] = epoch;
    store64(this.i64, GATE >> 1, whole[0]!);
  }

  /**
   * Removes segment `s`'s lapsed entries (by time, or, given `dead`, by
   * owner), under its lock, and sets its SOON and OWNED exactly. Returns how
   * many it removed.
   */
  protected sweep(s: number, now: number, dead: ((threadId: number) => boolean) | undefined): number {
    const seg = this.segment(s);
    this.lock(s);
    try {
      const i32 = this.i32;
      const bump = Math.min(i32[seg + BUMP]!, this.layout.pool);
      let removed = 0;
      let soon = Infinity;
      for (let slot = 0; slot < bump; slot++) {
        const t = this.lapseOf(seg, slot);
        const owner = i32[this.stamp(seg, slot) + T_OWNER]!;
        if ((t <= now || (owner !== 0 && dead?.(owner - 1) === true)) && i32[this.slot(seg, slot) + S_STATE] === LIVE) {
          this.remove(seg, slot, this.positionOf(seg, slot));
          removed++;
        } else if (t < soon) {
          soon = t;
        }
      }
      this.setSoon(seg, soon);
      return removed;
    } finally {
      this.unlock(s);
    }
  }

  /**
   * Internal: gives back the empty heap pages every segment keeps (one lock
   * at a time); true if there were any. Writes that find the heap full do
   * this before refusing.
   * @internal
   */
  trimHeap(): boolean {
    let n = 0;
    for (let s = 0; s < this.layout.segments; s++) {
      this.lock(s);
      try {
        n += this.heap.trim(this.segment(s) + this.layout.headsAt);
      } finally {
        this.unlock(s);
      }
    }
    return n > 0;
  }

  /**
   * Evicts one entry from the first other segment that has one (one lock at
   * a time), or, `forBytes`, empties a page of it for segment `s` to take;
   * false if none could.
   */
  protected evictElsewhere(s: number, forBytes: boolean): boolean {
    for (let k = 1; k < this.layout.segments; k++) {
      const other = (s + k) % this.layout.segments;
      this.lock(other);
      try {
        const seg = this.segment(other);
        if ((forBytes && this.emptyPage(seg, -1)) || this.evictOne(seg)) return true;
      } finally {
        this.unlock(other);
      }
    }
    return false;
  }
}
