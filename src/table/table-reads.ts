/**
 * How a SharedHashTable is read without a lock: a seqlock read of the key's
 * segment, copied into private memory and re-checked (falling back to the
 * lock after a few tries), and the memo of recent reads for immutable values.
 */
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { halfSipHash } from './hash.js';
import { BYTES_KEY, KeyBuffer, type TableKey } from './key.js';
import { KeyMemo, keyMemoSize } from './key-memo.js';
import * as tableLayout from './table-layout.js';
import type { TableParts } from './table-memory.js';
import { TableReclaim } from './table-reclaim.js';
import { reentered } from './table-repair.js';

const { add, load } = seam; // module constants: see memory/atomics.ts
// The table's words and codes, as module constants too (a named import is re-checked on every use).
const {
  ENTRY_WORDS,
  E_SLOT,
  LEN_MASK,
  LIVE,
  OPTIMISTIC_TRIES,
  SEQ,
  S_KEYLEN,
  S_REF,
  S_STAMP,
  S_STATE,
  S_VALLEN,
  S_WSEQ,
  S_WSEQ_HI,
  TICKS,
} = tableLayout;

/*
 * Implementation notes
 *
 * Readers take no lock: load SEQ (even), probe the index and copy the value
 * bytes into private memory, then re-check SEQ; if it moved, a write
 * overlapped and they retry; after a few tries they read under the lock.
 * Index words, slot headers, key and value bytes are read plainly; an
 * Atomics call costs ~18 ns here (a builtin call, not an inlined load), so
 * per-word atomic copies would cost more than the lookup. Aligned Int32
 * words never tear, and every value ever stored in an index word is a valid
 * slot, so even a racing probe stays in bounds; lengths are clamped.
 * Decoding runs on the private copy. With an immutable codec ('string'),
 * each instance also keeps a memo of recent reads by string key (key-memo.ts):
 * a hit checks only that the remembered slot is still LIVE with the same
 * write number between a load of SEQ (even) and its re-check, and returns the value it
 * decoded before, without encoding, hashing or probing.
 *
 * Memory model (why the plain reads are sound on every CPU, ARM64 included,
 * under the ECMAScript memory model itself rather than x86's ordering):
 * the re-check is a read-modify-write, `Atomics.add(SEQ, 0)`, not a load, and
 * every change of SEQ is an RMW too (the writers' and the repair's adds).
 * A plain read followed by an atomic *load* may be satisfied after the load
 * (ARM64 lets a later acquire load pass an earlier plain one; the JS model
 * orders nothing there), so a load re-check can pass while the copy holds
 * bytes of a write that began after it. With an RMW re-check R2 that returns
 * s1: R2 precedes, in SEQ's modification order, the add that begins the
 * next write W, and since every change of SEQ is an RMW, W's add reads from
 * R2 or from an RMW that (transitively) did; so R2 synchronizes-with W's
 * add, and the reader's plain reads, before R2 in program order,
 * happen-before every plain write of W: they cannot see it. The first load
 * (s1, even) reads from the add that ended the last write before it, so
 * every write up to s1 happens-before the reads and they see nothing older.
 * The copy is exactly the state at s1. This is the "read-dont-modify-write"
 * re-check of Boehm, "Can Seqlocks Get Along with Programming Language
 * Memory Models?" (MSPC 2012); on ARM64 V8 compiles it to an exclusive
 * load/store-release pair (or CASAL), whose release orders the earlier
 * plain loads. It costs what the load cost (one builtin call); readers now
 * write SEQ's cache line, so readers of one segment on different cores
 * share it (measured in bench tables 9, 10 and 12).
 */
/**
 * A reader's re-check: true if the segment's SEQ is still `s1`. A
 * read-modify-write (add 0), not a load: see "Memory model" in the notes.
 */
function unchanged(i32: Int32Array, seg: number, s1: number): boolean {
  return add(i32, seg + SEQ, 0) === s1;
}
/** `read` answers besides a length: no such key. */
export const ABSENT = -1;

export abstract class TableReads<V> extends TableReclaim<V> {
  /** Recent reads by string key, for codecs whose values are immutable ('string'). */
  protected readonly memo: KeyMemo | undefined;
  /** Set by `readValue` inside a read's validated window: the write number of the slot it copied. */
  protected readLo = 0;
  protected readHi = 0;

  protected constructor(parts: TableParts, immutableValues: boolean) {
    super(parts);
    this.memo = parts.options.codec.name === 'string' || immutableValues ? new KeyMemo(keyMemoSize(this.capacity)) : undefined;
  }

  /**
   * Finds `key`; with `copy`, copies its value into `this.value`. Returns the
   * value's length, or ABSENT.
   */
  protected read(key: TableKey, copy: boolean): number {
    if (this.busy) throw reentered();
    const keyWord = this.key.encode(key);
    const h = halfSipHash(this.hashKey, this.key.bytes, keyWord & LEN_MASK);
    this.lastHash = h;
    const s = this.segmentOf(h);
    const seg = this.segment(s);
    let backoff: Backoff | undefined;
    for (let attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
      // Linearization point of a read: this load (when the re-check passes).
      const s1 = load(this.i32, seg + SEQ);
      if ((s1 & 1) === 0) {
        const slot = this.find(seg, h, keyWord);
        const len = slot < 0 ? ABSENT : copy ? this.readValue(seg, slot) : 0;
        if (unchanged(this.i32, seg, s1)) return this.found(seg, slot, len);
      }
      (backoff ??= new Backoff()).spin();
    }
    // Writers keep overlapping (or one died mid-write): read under the lock.
    this.lock(s);
    try {
      const slot = this.find(seg, h, keyWord);
      return this.found(seg, slot, slot < 0 ? ABSENT : copy ? this.readValue(seg, slot) : 0);
    } finally {
      this.unlock(s);
    }
  }

  /** Records the slot a read found (and, in an evicting table, stamps it); passes `len` through. */
  protected found(seg: number, slot: number, len: number): number {
    if (slot < 0) {
      this.lastSlot = -1;
      return len;
    }
    const at = this.slot(seg, slot);
    this.lastSlot = at;
    if (this.policy !== undefined) this.i32[at + S_STAMP] = this.i32[TICKS]!; // approximate by design: see the notes
    return len;
  }

  /** Copies the value into `this.value` and returns its length; for the memo, notes the slot's write number (inside the read's window). */
  protected readValue(seg: number, slot: number): number {
    if (this.memo !== undefined) {
      const at = this.slot(seg, slot);
      this.readLo = this.i32[at + S_WSEQ]!;
      this.readHi = this.i32[at + S_WSEQ_HI]!;
    }
    return this.copyValue(seg, slot, this.value);
  }

  /** Copies a slot's value bytes into `into`; returns their length (clamped, for a racing read). */
  protected copyValue(seg: number, slot: number, into: Uint8Array): number {
    const at = this.slot(seg, slot);
    const keyLen = Math.min(this.i32[at + S_KEYLEN]! & LEN_MASK, this.maxKeyBytes);
    const len = Math.min(this.i32[at + S_VALLEN]! >>> 0, this.maxValueBytes);
    this.heap.copy(this.i32[at + S_REF]!, keyLen + len, keyLen, into, len);
    return len;
  }

  protected valueEquals(seg: number, slot: number, len: number): boolean {
    const at = this.slot(seg, slot);
    if (this.i32[at + S_VALLEN] !== len) return false;
    const keyLen = this.i32[at + S_KEYLEN]! & LEN_MASK;
    return this.heap.equals(this.i32[at + S_REF]!, keyLen + len, keyLen, this.expected, len);
  }

  /**
   * True if the memo entry's slot still holds the key's current value: LIVE
   * with the same write number, checked between a load of its segment's
   * sequence word (even) and the re-check (the read's linearization point is the first).
   * Then records the read as `read` does.
   */
  protected stillCurrent(e: { seg: number; at: number; lo: number; hi: number; h: number }): boolean {
    if (this.busy) throw reentered();
    const i32 = this.i32;
    const s1 = load(i32, e.seg + SEQ);
    if ((s1 & 1) !== 0 || i32[e.at + S_STATE] !== LIVE || i32[e.at + S_WSEQ] !== e.lo || i32[e.at + S_WSEQ_HI] !== e.hi) return false;
    if (!unchanged(i32, e.seg, s1)) return false;
    this.lastHash = e.h;
    this.lastSlot = e.at;
    if (this.policy !== undefined) i32[e.at + S_STAMP] = i32[TICKS]!;
    return true;
  }

  protected segmentEntries(s: number): [TableKey, Uint8Array][] {
    const seg = this.segment(s);
    for (let attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
      const s1 = load(this.i32, seg + SEQ);
      if ((s1 & 1) !== 0) continue;
      const found = this.copyEntries(seg);
      if (unchanged(this.i32, seg, s1)) return found;
    }
    this.lock(s);
    try {
      return this.copyEntries(seg);
    } finally {
      this.unlock(s);
    }
  }

  protected copyEntries(seg: number): [TableKey, Uint8Array][] {
    const out: [TableKey, Uint8Array][] = [];
    const idx = this.index(seg);
    for (let pos = 0; pos < this.layout.indexSize; pos++) {
      const slotPlus1 = load(this.i32, idx + pos * ENTRY_WORDS + E_SLOT);
      if (slotPlus1 === 0) continue;
      const at = this.slot(seg, slotPlus1 - 1);
      const keyWord = load(this.i32, at + S_KEYLEN);
      const keyBytes = this.keyOf(at);
      const len = this.copyValue(seg, slotPlus1 - 1, this.value);
      out.push([KeyBuffer.decode(keyBytes, (keyWord & BYTES_KEY) !== 0), this.value.slice(0, len)]);
    }
    return out;
  }
}
