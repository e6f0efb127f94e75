/**
 * A SharedHashTable's memory and the steps every write is made of: the
 * layout's words as views, the probe of a segment's index, and inserting,
 * replacing and removing a slot (each inside a write: the caller holds the
 * segment lock and made SEQ odd where it says). The classes above it add, one
 * file each: locking and repair (table-repair.ts), reclamation and eviction
 * (table-reclaim.ts), lock-free reads (table-reads.ts), and the public API
 * with the one write path (shared-hash-table.ts); the layout of the words is
 * table-layout.ts.
 */
import * as seam from '../memory/atomics.js';
import type { Codec } from '../memory/codec.js';
import { Mutex, MUTEX_WORDS } from '../sync/mutex.js';
import { randomHashKey, type HashKey } from './hash.js';
import { KeyBuffer } from './key.js';
import type { EvictionPolicy } from './eviction.js';
import type { LapsePolicy } from './lapse.js';
import { MAX_BLOCK_BYTES, PAGE_BYTES, SlabHeap } from './slab-heap.js';
import * as tableLayout from './table-layout.js';
import type { DEF } from './table-layout.js';
import { type Layout, type SharedHashTableHandle } from './table-layout.js';

const { add, load, load64, store, store64, sub } = seam; // module constants: see memory/atomics.ts
// The table's words and codes, as module constants too (a named import is re-checked on every use).
const {
  BUMP,
  CONTROL_BYTES,
  COUNT,
  ENTRY_WORDS,
  EPOCH,
  E_HASH,
  E_SLOT,
  FREE,
  FREE_TOP,
  GLOBAL_BYTES,
  HEAP_GLOBALS,
  K0,
  K1,
  LEN_MASK,
  LIVE,
  LOCK,
  OWNED,
  SEQ,
  SIZE,
  SOON,
  STAMP_WORDS,
  S_BORN,
  S_HASH,
  S_KEYLEN,
  S_NEXT,
  S_REF,
  S_STAMP,
  S_STATE,
  S_VALLEN,
  S_WSEQ,
  S_WSEQ_HI,
  TICKS,
  T_LAPSE,
  T_OWNER,
  WSEQ,
  WSEQ_HI,
  layoutOf,
} = tableLayout;

/*
 * Implementation notes
 *
 * Inside a write, only the commit points are atomic stores (a slot's STATE,
 * an index entry's SLOT word, the SEQ adds); the other words and bytes are
 * plain writes, published by the SEQ add that ends the write (each atomic
 * store costs a locked instruction, and they were most of a `set`).
 */

const bits = new Float64Array(1);
const whole = new BigInt64Array(bits.buffer);
/** Whether a write found room: yes, no entry left, none in its segment, no heap bytes. */
export const ROOM = 0,
  NO_ENTRY = 1,
  NO_SEGMENT_ENTRY = 2,
  NO_BYTES = 3;
export type Room = typeof ROOM | typeof NO_ENTRY | typeof NO_SEGMENT_ENTRY | typeof NO_BYTES;

export type TableParts = ReturnType<typeof DEF.resolve>;

export abstract class TableMemory<V> {
  readonly handle: SharedHashTableHandle;

  /** Entries the table holds. */
  readonly capacity: number;

  readonly maxKeyBytes: number;

  readonly maxValueBytes: number;

  /** Bytes for keys and values (a multiple of 4 KiB). */
  readonly maxBytes: number;

  protected readonly codec: Codec<V>;

  protected readonly heap: SlabHeap;

  protected readonly layout: Layout;

  protected readonly i32: Int32Array;

  protected readonly i64: BigInt64Array;

  /** The body as float64s (the slots' lapse stamps). */
  protected readonly f64: Float64Array;

  protected readonly u8: Uint8Array;

  protected readonly hashKey: HashKey;

  protected readonly locks: readonly Mutex[];

  protected readonly key: KeyBuffer;

  /** Private copies of values: one being read or written, one compared against. */
  protected readonly value: Uint8Array;

  protected readonly expected: Uint8Array;

  /** True while this instance holds a segment lock (and so runs a `compute` function). */
  protected busy = false;

  /** Set by `find`: the index position it stopped at. */
  protected foundAt = -1;

  /** Set by `setEviction`: inserts into a full table evict instead of refusing. */
  protected policy: EvictionPolicy | undefined;

  protected lapse: LapsePolicy<V> | undefined;

  /** The lapse stamp (time, owner threadId + 1) of the value staged in `this.value`. */
  protected stagedLapse = Infinity;

  protected stagedOwner = 0;

  /**
   * Internal: the slot (word index) of the last read that found its key, or
   * -1; and the keyed hash of the last key read or written.
   * @internal
   */
  lastSlot = -1;

  /** @internal */
  lastHash = 0;

  protected constructor(parts: TableParts) {
    const { region, options: o, created } = parts;
    this.codec = o.codec.codec as Codec<V>;
    const hashKey = created ? (o.hashKey ?? randomHashKey()) : undefined;
    this.handle = region.handle;
    const { capacity, maxKeyBytes, maxValueBytes } = region.options;
    this.capacity = capacity;
    this.maxKeyBytes = maxKeyBytes;
    this.maxValueBytes = maxValueBytes;
    const layout = (this.layout = layoutOf(region.options));
    this.maxBytes = layout.pages * PAGE_BYTES;
    this.i32 = region.i32();
    this.i64 = region.i64();
    this.f64 = new Float64Array(this.i64.buffer, this.i64.byteOffset, this.i64.length);
    this.u8 = region.u8();
    // The data starts at a page boundary of the buffer (whose memory the OS maps in pages): the same for every thread.
    const dataAt = layout.dataFrom + ((PAGE_BYTES - ((this.u8.byteOffset + layout.dataFrom) % PAGE_BYTES)) % PAGE_BYTES);
    this.heap = new SlabHeap(this.i32, this.i64, this.u8, {
      tableAt: layout.pageTableAt,
      globalAt: HEAP_GLOBALS,
      dataAt,
      pages: layout.pages,
    });
    if (hashKey !== undefined) {
      // Before publication: plain stores, ordered before any other thread's
      // first read by the postMessage that carries the handle.
      this.i32[K0] = hashKey.k0;
      this.i32[K1] = hashKey.k1;
    }
    this.hashKey = { k0: this.i32[K0]!, k1: this.i32[K1]! };
    if (created) for (let s = 0; s < layout.segments; s++) this.setSoon(this.segment(s), Infinity);
    const locks: Mutex[] = [];
    for (let s = 0; s < layout.segments; s++) {
      const at = this.segment(s) + LOCK;
      locks.push(Mutex.embedded(this.i32.subarray(at, at + MUTEX_WORDS)));
    }
    this.locks = locks;
    this.key = new KeyBuffer(maxKeyBytes);
    this.value = new Uint8Array(maxValueBytes);
    this.expected = new Uint8Array(maxValueBytes);
  }

  /**
   * Probes for the key in `this.key`: returns its slot (or -1) and leaves in
   * `foundAt` its index position or, when absent, the first empty one (where
   * an insert goes; -1 if none). Bounded by the index
   * size, so a probe racing a writer ends even on an index it sees mid-change.
   */
  protected find(seg: number, h: number, keyWord: number): number {
    const mask = this.layout.indexSize - 1;
    const idx = this.index(seg);
    let pos = h & mask;
    const i32 = this.i32;
    for (let i = 0; i <= mask; i++, pos = (pos + 1) & mask) {
      const e = idx + pos * ENTRY_WORDS;
      const slotPlus1 = i32[e + E_SLOT]!;
      this.foundAt = pos;
      if (slotPlus1 === 0) return -1;
      if (i32[e + E_HASH] === (h | 0) && this.keyEquals(seg, slotPlus1 - 1, keyWord)) return slotPlus1 - 1;
    }
    this.foundAt = -1;
    return -1;
  }

  protected keyEquals(seg: number, slot: number, keyWord: number): boolean {
    const at = this.slot(seg, slot);
    if (this.i32[at + S_KEYLEN] !== keyWord) return false;
    const n = keyWord & LEN_MASK;
    const total = n + Math.min(this.i32[at + S_VALLEN]! >>> 0, this.maxValueBytes);
    const ref = this.i32[at + S_REF]!;
    const bytes = this.key.bytes;
    if (total > MAX_BLOCK_BYTES) return this.heap.equals(ref, total, 0, bytes, n);
    // The common case inline (a block is contiguous): a racing read past the view reads undefined, unequal.
    const u8 = this.u8;
    const base = this.heap.dataAt + ref;
    for (let i = 0; i < n; i++) if (u8[base + i] !== bytes[i]) return false;
    return true;
  }

  /** The index position that points at `slot` (a LIVE slot of `seg`, its lock held). */
  protected positionOf(seg: number, slot: number): number {
    const mask = this.layout.indexSize - 1;
    const idx = this.index(seg);
    let pos = this.i32[this.slot(seg, slot) + S_HASH]! & mask;
    for (let i = 0; i <= mask; i++, pos = (pos + 1) & mask) {
      if (this.i32[idx + pos * ENTRY_WORDS + E_SLOT] === slot + 1) return pos;
    }
    throw new Error('sabre: SharedHashTable slot is LIVE but not indexed (an internal invariant is broken)');
  }

  /**
   * Inserts into segment `seg` (its lock held, one unit of SIZE reserved);
   * if the segment is full or the heap has no room, gives the unit back and
   * says which.
   */
  protected insert(seg: number, pos: number, h: number, keyWord: number, vlen: number): Room {
    if (load(this.i32, seg + COUNT) >= this.layout.perSegment || pos < 0) {
      sub(this.i32, SIZE, 1);
      return NO_SEGMENT_ENTRY;
    }
    // Before the write begins: taking a block writes only heap words no reader reads (see slab-heap.ts).
    const ref = this.heap.alloc(this.owner(seg), seg + this.layout.headsAt, (keyWord & LEN_MASK) + vlen);
    if (ref < 0) {
      sub(this.i32, SIZE, 1);
      return NO_BYTES;
    }
    add(this.i32, seg + SEQ, 1);
    const slot = this.allocate(seg);
    this.fillSlot(seg, slot, h, keyWord, vlen, ref); // marks it LIVE: the insert's commit for repair
    if (this.policy !== undefined) {
      const at = this.slot(seg, slot);
      this.i32[at + S_BORN] = this.i32[at + S_STAMP] = add(this.i32, TICKS, 1) + 1;
    }
    const e = this.index(seg) + pos * ENTRY_WORDS;
    this.i32[e + E_HASH] = h;
    store(this.i32, e + E_SLOT, slot + 1);
    this.i32[seg + COUNT] = this.i32[seg + COUNT]! + 1;
    // Linearization point of an insert.
    add(this.i32, seg + SEQ, 1);
    return ROOM;
  }

  /** Replaces a present key's value (its segment's lock held); false, changing nothing, if the heap has no room for it. */
  protected replace(seg: number, old: number, pos: number, h: number, keyWord: number, vlen: number): boolean {
    const ref = this.heap.alloc(this.owner(seg), seg + this.layout.headsAt, (keyWord & LEN_MASK) + vlen);
    if (ref < 0) return false;
    add(this.i32, seg + SEQ, 1);
    const slot = this.allocate(seg); // the spare slot guarantees one
    const at = this.slot(seg, slot);
    this.i32[at + S_BORN] = this.i32[this.slot(seg, old) + S_BORN]!;
    this.i32[at + S_STAMP] = this.i32[TICKS]!;
    this.fillSlot(seg, slot, h, keyWord, vlen, ref); // LIVE with a newer WSEQ: the commit for repair
    store(this.i32, this.index(seg) + pos * ENTRY_WORDS + E_SLOT, slot + 1);
    this.release(seg, old);
    // Linearization point of a replace.
    add(this.i32, seg + SEQ, 1);
    return true;
  }

  protected remove(seg: number, slot: number, pos: number): void {
    add(this.i32, seg + SEQ, 1);
    this.release(seg, slot); // FREE: the delete's commit for repair
    this.unindex(seg, pos);
    this.i32[seg + COUNT] = this.i32[seg + COUNT]! - 1;
    // Linearization point of a delete.
    add(this.i32, seg + SEQ, 1);
    sub(this.i32, SIZE, 1);
  }

  /** Empties index position `hole` by backward shift (Knuth's Algorithm R): no tombstones. */
  protected unindex(seg: number, hole: number): void {
    const mask = this.layout.indexSize - 1;
    const idx = this.index(seg);
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const e = idx + j * ENTRY_WORDS;
      const slotPlus1 = load(this.i32, e + E_SLOT);
      if (slotPlus1 === 0) break;
      const h = load(this.i32, e + E_HASH);
      const home = h & mask;
      // An entry may move back into the hole only if its home is not in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      const target = idx + hole * ENTRY_WORDS;
      store(this.i32, target + E_HASH, h);
      store(this.i32, target + E_SLOT, slotPlus1);
      hole = j;
    }
    const e = idx + hole * ENTRY_WORDS;
    store(this.i32, e + E_SLOT, 0);
    store(this.i32, e + E_HASH, 0);
  }

  protected allocate(seg: number): number {
    const i32 = this.i32;
    const top = i32[seg + FREE_TOP]!;
    if (top !== 0) {
      i32[seg + FREE_TOP] = i32[this.slot(seg, top - 1) + S_NEXT]!;
      return top - 1;
    }
    const bump = i32[seg + BUMP]!;
    if (bump >= this.layout.pool) throw new Error('sabre: SharedHashTable segment has no free slot (an internal invariant is broken)');
    i32[seg + BUMP] = bump + 1;
    return bump;
  }

  /** Frees a LIVE slot and its heap block (inside a write: the block's bytes change). */
  protected release(seg: number, slot: number): void {
    const i32 = this.i32;
    const at = this.slot(seg, slot);
    store(i32, at + S_STATE, FREE);
    this.heap.free(seg + this.layout.headsAt, i32[at + S_REF]!, (i32[at + S_KEYLEN]! & LEN_MASK) + i32[at + S_VALLEN]!);
    if (i32[this.stamp(seg, slot) + T_OWNER] !== 0) store(i32, seg + OWNED, i32[seg + OWNED]! - 1);
    this.setStamp(seg, slot, Infinity, 0); // a free slot never lapses: a sweep skips it without reading the slot
    i32[at + S_NEXT] = i32[seg + FREE_TOP]!;
    i32[seg + FREE_TOP] = slot + 1;
  }

  /** Writes the key in `this.key` and the value staged in `this.value` into heap block `ref` and `slot`, then marks it LIVE. */
  protected fillSlot(seg: number, slot: number, h: number, keyWord: number, vlen: number, ref: number): void {
    const at = this.slot(seg, slot);
    const keyLen = keyWord & LEN_MASK;
    this.heap.write(ref, keyLen + vlen, 0, this.key.bytes, keyLen);
    this.heap.write(ref, keyLen + vlen, keyLen, this.value, vlen);
    const i32 = this.i32;
    i32[at + S_REF] = ref;
    i32[at + S_HASH] = h;
    i32[at + S_KEYLEN] = keyWord;
    i32[at + S_VALLEN] = vlen;
    const lo = (i32[seg + WSEQ]! + 1) | 0;
    if (lo === 0) i32[seg + WSEQ_HI] = (i32[seg + WSEQ_HI]! + 1) | 0;
    i32[at + S_WSEQ] = i32[seg + WSEQ] = lo;
    i32[at + S_WSEQ_HI] = i32[seg + WSEQ_HI]!;
    this.setStamp(seg, slot, this.stagedLapse, this.stagedOwner);
    let widened = false; // the table's gate (see Reclamation) no longer holds
    if (this.stagedOwner !== 0) {
      const owned = i32[seg + OWNED]!;
      store(i32, seg + OWNED, owned + 1);
      widened = owned === 0;
    }
    if (this.stagedLapse !== Infinity && this.stagedLapse < this.soonOf(seg)) {
      this.setSoon(seg, this.stagedLapse);
      widened = true;
    }
    if (widened) add(i32, EPOCH, 1);
    store(i32, at + S_STATE, LIVE);
  }

  /** Stamps the value about to be staged (see `setLapse`). */
  protected stageLapse(value: V): void {
    const lapse = this.lapse;
    if (lapse === undefined) return;
    const at = lapse.lapsesAt(value);
    this.stagedLapse = Number.isNaN(at) ? -Infinity : at;
    const owner = lapse.ownerOf === undefined ? -1 : lapse.ownerOf(value);
    this.stagedOwner = Number.isInteger(owner) && owner >= 0 ? owner + 1 : 0;
  }

  /** A lower bound on the lapse time of segment `seg`'s live entries (Infinity: none lapses by time). */
  protected soonOf(seg: number): number {
    whole[0] = load64(this.i64, (seg + SOON) >> 1);
    return bits[0]!;
  }

  protected setSoon(seg: number, t: number): void {
    bits[0] = t;
    store64(this.i64, (seg + SOON) >> 1, whole[0]!);
  }

  /** A slot's lapse time (Infinity for a free slot). Read and written under the segment lock: plain. */
  protected lapseOf(seg: number, slot: number): number {
    return this.f64[(this.stamp(seg, slot) + T_LAPSE) >> 1]!;
  }

  protected setStamp(seg: number, slot: number, lapse: number, owner: number): void {
    const t = this.stamp(seg, slot);
    this.f64[(t + T_LAPSE) >> 1] = lapse;
    this.i32[t + T_OWNER] = owner;
  }

  /** A copy of a slot's key bytes (under its segment lock, or validated by the caller). */
  protected keyOf(at: number): Uint8Array {
    const keyLen = Math.min(this.i32[at + S_KEYLEN]! & LEN_MASK, this.maxKeyBytes);
    const total = keyLen + Math.min(this.i32[at + S_VALLEN]! >>> 0, this.maxValueBytes);
    const key = new Uint8Array(keyLen);
    this.heap.copy(this.i32[at + S_REF]!, total, 0, key, keyLen);
    return key;
  }

  protected segmentOf(h: number): number {
    return this.layout.segments === 1 ? 0 : h >>> this.layout.segmentShift;
  }

  /** The index of the segment whose control block is at `seg`: its heap owner number. */
  protected owner(seg: number): number {
    return (seg - GLOBAL_BYTES / 4) / this.layout.segmentWords;
  }

  /** Int32 index of segment `s`'s control block. */
  protected segment(s: number): number {
    return GLOBAL_BYTES / 4 + s * this.layout.segmentWords;
  }

  /** Int32 index of the segment holding slot word `at`, less than `at`. */
  protected slotOffset(at: number): number {
    const first = GLOBAL_BYTES / 4;
    return (at - first) % this.layout.segmentWords;
  }

  protected index(seg: number): number {
    return seg + CONTROL_BYTES / 4;
  }

  /** Int32 index of `slot`'s lapse stamp: kept apart from the slots, so a sweep reads one dense array. */
  protected stamp(seg: number, slot: number): number {
    return seg + this.layout.stampsAt + slot * STAMP_WORDS;
  }

  protected slot(seg: number, slot: number): number {
    return seg + CONTROL_BYTES / 4 + this.layout.indexSize * ENTRY_WORDS + slot * this.layout.slotWords;
  }
}
