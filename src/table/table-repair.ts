/**
 * A SharedHashTable's segment locks and its repair after a writer died,
 * and the SIZE reservation that the repair and the recount keep honest.
 */
import * as seam from '../memory/atomics.js';
import { DeadlockError } from '../errors.js';
import { ThreadRegistry } from '../threads/registry.js';
import * as tableLayout from './table-layout.js';
import { TableMemory } from './table-memory.js';

const { add, compareExchange, load, store } = seam; // module constants: see memory/atomics.ts
// The table's words and codes, as module constants too (a named import is re-checked on every use).
const {
  BUMP,
  COUNT,
  ENTRY_WORDS,
  EPOCH,
  E_HASH,
  E_SLOT,
  FREE,
  FREE_TOP,
  LEN_MASK,
  LIVE,
  OWNED,
  RECOUNTED_DEATHS,
  SEQ,
  SIZE,
  S_HASH,
  S_KEYLEN,
  S_NEXT,
  S_REF,
  S_STATE,
  S_VALLEN,
  S_WSEQ,
  S_WSEQ_HI,
  T_OWNER,
} = tableLayout;

/*
 * Implementation notes
 *
 * Capacity: an insert first reserves one unit of SIZE (CAS, refusing at
 * `capacity`), and a delete gives it back before unlocking, so SIZE is never
 * below the true count. Each segment also refuses beyond perSegment entries:
 * with one segment (capacity < 1024) that is exact; with more, perSegment is
 * mean + 6 standard deviations of a uniform spread, so a segment fills before
 * the table only with probability below 1e-8 per segment: the keyed hash
 * means no one can aim keys at one segment.
 *
 * Owner death: the truth of a segment is its set of LIVE slots (STATE, WSEQ,
 * key); the index, free list, BUMP and COUNT are derived. A writer that dies
 * at any point leaves the segment lock poisoned and perhaps SEQ odd (readers
 * then fall back to the lock and wait on it). The next thread to take the
 * lock sees the poison and repairs: it rebuilds the index from the LIVE slots
 * (of two LIVE slots with one key, a `set` that died between marking the new
 * slot and freeing the old one, it keeps the newer WSEQ), the free list and
 * COUNT, makes SEQ even and clears the poison. So the dead write either took
 * effect whole (its new slot was LIVE) or not at all; no slot is torn or
 * locked forever. A death between an insert's reservation and its commit (or a
 * delete's commit and its give-back) leaves SIZE one too high, never too low:
 * an insert that finds SIZE at capacity recounts the segments under all their
 * locks, in order, and corrects it.
 */

export abstract class TableRepair<V> extends TableMemory<V> {
  protected lock(s: number): void {
    if (this.busy) throw reentered();
    const mutex = this.locks[s]!;
    mutex.lockIgnoringPoison();
    this.busy = true;
    if (mutex.isPoisoned) {
      this.repair(this.segment(s));
      mutex.clearPoison();
    }
  }

  protected unlock(s: number): void {
    this.busy = false;
    this.locks[s]!.unlock();
  }

  /**
   * Rebuilds a segment whose last writer died holding its lock, from its LIVE
   * slots alone (see the notes). Idempotent: a repairer that dies is repaired.
   */
  protected repair(seg: number): void {
    if ((load(this.i32, seg + SEQ) & 1) === 0) add(this.i32, seg + SEQ, 1);
    const mask = this.layout.indexSize - 1;
    const idx = this.index(seg);
    this.i32.fill(0, idx, idx + this.layout.indexSize * ENTRY_WORDS);
    const bump = Math.min(load(this.i32, seg + BUMP), this.layout.pool);
    let count = 0;
    let freeTop = 0;
    let owned = 0;
    let soon = Infinity;
    for (let slot = bump - 1; slot >= 0; slot--) {
      const at = this.slot(seg, slot);
      if (load(this.i32, at + S_STATE) === LIVE) {
        const h = load(this.i32, at + S_HASH);
        let pos = h & mask;
        let placed = false;
        for (; load(this.i32, idx + pos * ENTRY_WORDS + E_SLOT) !== 0; pos = (pos + 1) & mask) {
          const other = load(this.i32, idx + pos * ENTRY_WORDS + E_SLOT) - 1;
          if (load(this.i32, idx + pos * ENTRY_WORDS + E_HASH) !== h || !this.sameKey(seg, slot, other)) continue;
          // One key in two LIVE slots: a replace died before freeing the old one. Keep the newer.
          const keep = this.newer(at, this.slot(seg, other)) ? slot : other;
          const drop = keep === slot ? other : slot;
          store(this.i32, idx + pos * ENTRY_WORDS + E_SLOT, keep + 1);
          store(this.i32, this.slot(seg, drop) + S_STATE, FREE);
          store(this.i32, this.slot(seg, drop) + S_NEXT, freeTop);
          this.setStamp(seg, drop, Infinity, 0);
          freeTop = drop + 1;
          // The kept one's stamp counts too (OWNED may count the dropped one as well: an upper bound is safe).
          soon = Math.min(soon, this.lapseOf(seg, keep));
          if (load(this.i32, this.stamp(seg, keep) + T_OWNER) !== 0) owned++;
          placed = true;
          break;
        }
        if (placed) continue;
        store(this.i32, idx + pos * ENTRY_WORDS + E_HASH, h);
        store(this.i32, idx + pos * ENTRY_WORDS + E_SLOT, slot + 1);
        count++;
        soon = Math.min(soon, this.lapseOf(seg, slot));
        if (load(this.i32, this.stamp(seg, slot) + T_OWNER) !== 0) owned++;
      } else {
        store(this.i32, at + S_NEXT, freeTop);
        this.setStamp(seg, slot, Infinity, 0);
        freeTop = slot + 1;
      }
    }
    this.heap.rebuild(this.owner(seg), seg + this.layout.headsAt, (visit) => {
      for (let slot = 0; slot < bump; slot++) {
        const at = this.slot(seg, slot);
        if (load(this.i32, at + S_STATE) === LIVE)
          visit(this.i32[at + S_REF]!, (this.i32[at + S_KEYLEN]! & LEN_MASK) + this.i32[at + S_VALLEN]!);
      }
    });
    store(this.i32, seg + FREE_TOP, freeTop);
    store(this.i32, seg + COUNT, count);
    store(this.i32, seg + OWNED, owned);
    this.setSoon(seg, soon);
    add(this.i32, EPOCH, 1); // SOON may have gone down: the gate no longer holds
    add(this.i32, seg + SEQ, 1);
  }

  /** True if the slot at word `a` was filled by a later write than the one at `b` (64-bit write numbers). */
  protected newer(a: number, b: number): boolean {
    const i32 = this.i32;
    const ha = i32[a + S_WSEQ_HI]!,
      hb = i32[b + S_WSEQ_HI]!;
    return ha !== hb ? ((ha - hb) | 0) > 0 : i32[a + S_WSEQ]! >>> 0 > i32[b + S_WSEQ]! >>> 0;
  }

  protected sameKey(seg: number, a: number, b: number): boolean {
    const at = this.slot(seg, a),
      bt = this.slot(seg, b);
    const keyWord = load(this.i32, at + S_KEYLEN);
    if (load(this.i32, bt + S_KEYLEN) !== keyWord) return false;
    const n = keyWord & LEN_MASK;
    return this.heap.equals(this.i32[bt + S_REF]!, n + this.i32[bt + S_VALLEN]!, 0, this.keyOf(at), n);
  }

  /**
   * Sets SIZE to the true number of entries, holding every segment lock (in
   * order, so two recounts cannot deadlock); returns it. Only inserts that
   * find the table full come here.
   */
  /**
   * True if SIZE may count more than the entries (a writer died between an
   * insert's reservation and its commit): only after a death was recorded
   * since the last recount, so a full table refuses without taking every lock.
   */
  protected sizeMayBeHigh(): boolean {
    return ThreadRegistry.current.deaths !== load(this.i32, RECOUNTED_DEATHS);
  }

  protected recount(): number {
    store(this.i32, RECOUNTED_DEATHS, ThreadRegistry.current.deaths); // before: a death during the recount is not missed
    let held = 0;
    try {
      let n = 0;
      for (; held < this.layout.segments; held++) {
        this.lock(held);
        this.busy = false; // this method holds many locks; `busy` guards re-entry, not them
        n += load(this.i32, this.segment(held) + COUNT);
      }
      store(this.i32, SIZE, n);
      return n;
    } finally {
      while (held > 0) this.locks[--held]!.unlock();
    }
  }

  /** Takes one unit of SIZE; false if the table is (or looks) full. */
  protected reserve(): boolean {
    for (;;) {
      const n = load(this.i32, SIZE);
      if (n >= this.capacity) return false;
      if (compareExchange(this.i32, SIZE, n, n + 1) === n) return true;
    }
  }
}

export function reentered(): DeadlockError {
  return new DeadlockError(
    'a SharedHashTable was used from inside its own compute() function or codec, while this thread holds one of its segment locks',
  );
}
