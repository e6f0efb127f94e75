/**
 * SharedHashTable: a fixed-capacity hash map in shared memory, read and
 * written by every thread of the process. The base of sabre's keyed
 * structures (leases, named locks, caches, idempotency records, votes, limits).
 *
 * Built in layers, one file each, every one a subclass of the one below:
 * table-memory.ts (the words and a write's steps), table-repair.ts (segment
 * locks, repair after a dead writer), table-reclaim.ts (making room when
 * full), table-reads.ts (lock-free reads), and this file (the API and the
 * one write path). The region's layout is table-layout.ts.
 */
import * as seam from '../memory/atomics.js';
import { encodeInto, type Codec, type CodecName } from '../memory/codec.js';
import type { Region } from '../memory/region.js';
import type { OpenedOf } from '../memory/primitive.js';
import { CapacityError, InvalidArgumentError } from '../errors.js';
import { fn as checkFn } from '../validate.js';
import { halfSipHash } from './hash.js';
import { BYTES_KEY, type TableKey } from './key.js';
import type { KeyedStats } from './when-full.js';
import { PAGE_BYTES } from './slab-heap.js';
import * as tableLayout from './table-layout.js';
import { type SharedHashTableHandle, type SharedHashTableOptions, type Sizes } from './table-layout.js';
import * as tableMemory from './table-memory.js';
import { type Room } from './table-memory.js';
import { TableReads } from './table-reads.js';
export {
  MAX_KEY_BYTES,
  MAX_TABLE_CAPACITY,
  MAX_VALUE_BYTES,
  maxBytesOption,
  type SharedHashTableHandle,
  type SharedHashTableOptions,
} from './table-layout.js';

const { add, load, store, sub } = seam; // module constants: see memory/atomics.ts
// The table's words and codes, as module constants too (a named import is re-checked on every use).
const {
  BUMP,
  COUNT,
  DEF,
  ENTRY_WORDS,
  E_HASH,
  E_SLOT,
  FREE,
  FREE_TOP,
  LEN_MASK,
  LIVE,
  OWNED,
  RECOUNTS,
  REFUSED,
  SEQ,
  SIZE,
  S_BORN,
  S_HASH,
  S_KEYLEN,
  S_REF,
  S_STAMP,
  S_STATE,
  S_VALLEN,
  TICKS,
} = tableLayout;
const { ROOM, NO_ENTRY, NO_SEGMENT_ENTRY, NO_BYTES } = tableMemory;

/*
 * Implementation notes
 *
 * Writers take the segment lock, make SEQ odd, change the segment, make SEQ
 * even and unlock. A value is never overwritten in place: `set` of a present
 * key writes a fresh slot (hence the one spare slot), marks it LIVE with a
 * newer WSEQ, points the index entry at it and frees the old slot.
 *
 * Linearization points: a write at its store that makes SEQ even again (no
 * reader can see any part of it before); a read at its first load of SEQ
 * (the value it returns was current then). `size` sums the segments' COUNTs
 * (each exact; the sum is not an atomic snapshot, as LongAdder's); `entries()`
 * is consistent per segment, weakly consistent across segments.

 */

/**
 * A hash map of fixed capacity in shared memory: every thread that opens its
 * handle reads and writes the same entries.
 *
 * Keys are strings or `Uint8Array`s of at most `maxKeyBytes` UTF-8 bytes (a
 * string key and a byte key are different keys, as in a `Map`); values go
 * through a codec and take at most `maxValueBytes` encoded. Reads take no lock
 * and never see a torn value; writers of one segment exclude each other, and
 * writers of different segments run in parallel. Every `get` returns a fresh
 * decoded copy: change it and put it back with `set`.
 *
 * Memory synchronization: a `set` (or `delete`) happens-before every `get`
 * that sees its effect. `compareAndSet` compares encodings: two values are
 * equal when the codec encodes them to the same bytes.
 *
 * A thread that dies mid-write leaves no torn slot and no stuck lock: the
 * next writer (or a reader that waits for it) repairs the segment from its
 * live records within `LIVENESS_SLICE_MS` of the death, and the dead write
 * either happened whole or not at all.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a key too long or not a
 *   string or Uint8Array, a value too large or not encodable (the table is
 *   unchanged), a bad option
 * @throws CapacityError (`ERR_CAPACITY`) when a new key finds the table full
 *   (nothing present is overwritten)
 * @throws DeadlockError (`ERR_DEADLOCK`) when `compute`'s function (or a
 *   codec) uses the table it is running for
 * @throws HandleError (`ERR_HANDLE`) from `from` for a foreign handle, or a
 *   custom-codec handle re-opened without its codec
 *
 * @example
 * ```ts
 * const sessions = new SharedHashTable<{ user: string }>({ capacity: 10_000, maxKeyBytes: 64, maxValueBytes: 256, codec: 'json' });
 * sessions.set('s:1f3a', { user: 'ada' });       // main thread
 * SharedHashTable.from(handle).get('s:1f3a');    // any worker: { user: 'ada' }
 * sessions.setIfAbsent('s:1f3a', { user: 'eve' }); // false: present, not overwritten
 * ```
 * @remarks Since 0.1
 */
export class SharedHashTable<V = unknown> extends TableReads<V> {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;

  /**
   * @param options the table's options, or (internally) an opened region
   * @param immutableValues internal: the codec's values are never changed by their users, so decodings may be reused
   */
  constructor(options: SharedHashTableOptions<V> | OpenedOf<typeof DEF>, immutableValues = false) {
    super(DEF.resolve(options), immutableValues);
  }

  /**
   * Re-opens a table from its handle, in any thread. A table made with a
   * custom codec needs that codec again: `from(handle, { codec })`.
   * @throws HandleError
   */
  static from<V = unknown>(handle: SharedHashTableHandle, options?: { readonly codec?: CodecName | Codec<V> }): SharedHashTable<V> {
    return new SharedHashTable<V>(DEF.open(handle, options));
  }

  /**
   * A table that is part of a composite primitive's region (a LeaseLock's
   * leases, a store's records), at `byteOffset` of `parent`'s body:
   * `'create'` lays it out (when the parent is created), `'open'` validates
   * and re-opens it (when the parent is re-opened from its handle).
   * `immutableValues`: the parent never hands out decoded values that can be
   * changed (strings, frozen records), so the table may reuse decodings.
   * @internal
   */
  static nested<V>(
    parent: Region,
    byteOffset: number,
    sizes: Sizes,
    codec: Codec<V>,
    mode: 'create' | 'open',
    immutableValues = false,
  ): SharedHashTable<V> {
    const { capacity, maxKeyBytes, maxValueBytes, maxBytes } = sizes;
    return new SharedHashTable<V>(
      DEF.part(parent, byteOffset, Infinity, { capacity, maxKeyBytes, maxValueBytes, maxBytes, codec }, mode),
      immutableValues,
    );
  }

  /** Internal: inserts so far (the clock of STAMP and BORN; counted only by evicting instances). @internal */
  ticks(): number {
    return this.i32[TICKS]!;
  }

  /** Internal: a LIVE slot's STAMP, BORN and HASH words (plain reads: call under the slot's segment lock, i.e. from a policy). @internal */
  stampOf(at: number): number {
    return this.i32[at + S_STAMP]!;
  }

  /** @internal */
  bornOf(at: number): number {
    return this.i32[at + S_BORN]!;
  }

  /** @internal */
  hashOf(at: number): number {
    return this.i32[at + S_HASH]!;
  }

  /** Internal: copies up to `into.length` leading value bytes of a LIVE slot (from a policy); returns how many. @internal */
  valueHead(at: number, into: Uint8Array): number {
    const keyLen = this.i32[at + S_KEYLEN]! & LEN_MASK;
    const vlen = this.i32[at + S_VALLEN]!;
    const n = Math.min(vlen, into.length);
    this.heap.copy(this.i32[at + S_REF]!, keyLen + vlen, keyLen, into, n);
    return n;
  }

  /**
   * Internal: removes every entry for which `pred(keyBytes, keyIsBytes,
   * valueBytes)` is true (views valid only during the call), one segment at a
   * time under its lock; returns how many it removed. Each segment's removal
   * is atomic, the whole call is not (as `clear`).
   * @internal
   */
  removeWhere(pred: (key: Uint8Array, keyIsBytes: boolean, value: Uint8Array) => boolean): number {
    checkFn('pred', pred);
    let removed = 0;
    for (let s = 0; s < this.layout.segments; s++) {
      const seg = this.segment(s);
      this.lock(s);
      try {
        const doomed: number[] = [];
        const bump = Math.min(load(this.i32, seg + BUMP), this.layout.pool);
        for (let slot = 0; slot < bump; slot++) {
          const at = this.slot(seg, slot);
          if (this.i32[at + S_STATE] !== LIVE) continue;
          const keyWord = this.i32[at + S_KEYLEN]!;
          const key = this.keyOf(at);
          const value = this.value.subarray(0, this.copyValue(seg, slot, this.value));
          if (pred(key, (keyWord & BYTES_KEY) !== 0, value)) doomed.push(slot);
        }
        for (const slot of doomed) this.remove(seg, slot, this.positionOf(seg, slot));
        removed += doomed.length;
      } finally {
        this.unlock(s);
      }
    }
    return removed;
  }

  /** Bytes a table of these options takes (in an arena, rounded up to 128). */
  static byteLength(options: SharedHashTableOptions<unknown>): number {
    return DEF.byteLength(options);
  }

  /**
   * Heap bytes taken by keys and values now: whole 4 KiB pages, each with at
   * least one entry, or kept empty for the next (at most one per size class
   * per segment). Reads a word per page: for operators, not for a hot path.
   */
  get bytesInUse(): number {
    return this.heap.pagesInUse() * PAGE_BYTES;
  }

  /** New keys refused for want of room so far, by every thread (mod 2^32). */
  get refusedWhenFull(): number {
    return load(this.i32, REFUSED) >>> 0;
  }

  /**
   * Its room, for operators: entries now, capacity, new keys refused
   * because it was full, and its heap's use and budget. A table has no `whenFull` option: it always
   * throws (the stores built on it offer one).
   */
  stats(): KeyedStats {
    return {
      keys: this.size,
      capacity: this.capacity,
      refusedWhenFull: this.refusedWhenFull,
      bytesInUse: this.bytesInUse,
      maxBytes: this.maxBytes,
    };
  }

  /** Live entries (the sum of exact per-segment counts; not an atomic snapshot while writers run). */
  get size(): number {
    let n = 0;
    for (let s = 0; s < this.layout.segments; s++) n += load(this.i32, this.segment(s) + COUNT);
    return n;
  }

  /** The value stored under `key`, or `undefined`. */
  get(key: TableKey): V | undefined {
    const memo = this.memo;
    if (memo !== undefined && typeof key === 'string') {
      const e = memo.get(key);
      if (e !== undefined && this.stillCurrent(e)) {
        e.used = true;
        return e.value as V;
      }
    }
    const len = this.read(key, true);
    if (len === ABSENT) return undefined;
    const value = this.codec.decode(this.value.subarray(0, len));
    if (memo !== undefined && typeof key === 'string') {
      const at = this.lastSlot;
      memo.set(key, { seg: at - this.slotOffset(at), at, lo: this.readLo, hi: this.readHi, h: this.lastHash, value, used: false });
    }
    return value;
  }

  /** True if `key` has a value. */
  has(key: TableKey): boolean {
    if (this.memo !== undefined && typeof key === 'string') {
      const e = this.memo.get(key);
      if (e !== undefined && this.stillCurrent(e)) return true;
    }
    return this.read(key, false) >= 0;
  }

  /**
   * Stores `value` under `key`, replacing any value there.
   * @throws CapacityError when `key` is new and the table is full
   */
  set(key: TableKey, value: V): this {
    const vlen = this.encodeValue(value, this.value);
    this.write(key, (_slot) => vlen);
    return this;
  }

  /** Stores `value` only if `key` has none. Returns true if it stored. */
  setIfAbsent(key: TableKey, value: V): boolean {
    const vlen = this.encodeValue(value, this.value);
    return this.write(key, (slot) => (slot < 0 ? vlen : KEEP)) !== KEEP;
  }

  /**
   * Replaces the value of `key` with `next` only if it is `expected` (equal
   * encodings). Returns false, changing nothing, if the key is absent or holds
   * another value.
   */
  compareAndSet(key: TableKey, expected: V, next: V): boolean {
    const elen = this.encodeValue(expected, this.expected);
    const vlen = this.encodeValue(next, this.value);
    return this.write(key, (slot, seg) => (slot >= 0 && this.valueEquals(seg, slot, elen) ? vlen : KEEP)) !== KEEP;
  }

  /** Removes `key`. Returns true if it was present. */
  delete(key: TableKey): boolean {
    return this.write(key, (slot) => (slot >= 0 ? REMOVE : KEEP)) === REMOVE;
  }

  /**
   * Atomically replaces the value of `key` with `fn(current)` (`current` is
   * `undefined` when absent; returning `undefined` deletes the key, returning
   * `current` itself writes nothing), and returns what `fn` returned. `fn`
   * runs under the key's segment lock: keep it short, synchronous, and away
   * from this table. It runs once, or again only when a new key found the
   * table full and a recount made room. If `fn` or the encoding of its
   * result throws, nothing changes.
   * @throws DeadlockError if `fn` uses this table
   */
  compute(key: TableKey, fn: (current: V | undefined) => V | undefined): V | undefined {
    checkFn('fn', fn);
    return this.computeOr(key, fn, false) as V | undefined;
  }

  /**
   * Internal (the stores' `whenFull: 'fail-closed'`): `compute`, but with
   * `quiet` a new key that finds no room, even after reclaiming, answers
   * TABLE_FULL instead of throwing (it still counts in `refusedWhenFull`).
   * @internal
   */
  computeIfRoom(key: TableKey, fn: (current: V | undefined) => V | undefined, quiet = true): V | undefined | typeof TABLE_FULL {
    return this.computeOr(key, fn, quiet);
  }

  /**
   * Internal: the least lapse time any live entry may have (a lower bound,
   * from the segments' bounds; Infinity if none lapses by time), for a
   * store's "retry after" when it is full.
   * @internal
   */
  nextLapse(): number {
    let soonest = Infinity;
    for (let s = 0; s < this.layout.segments; s++) soonest = Math.min(soonest, this.soonOf(this.segment(s)));
    return soonest;
  }

  private computeOr(key: TableKey, fn: (current: V | undefined) => V | undefined, quiet: boolean): V | undefined | typeof TABLE_FULL {
    let result: V | undefined;
    const answer = this.write(
      key,
      (slot, seg) => {
        const current = slot < 0 ? undefined : this.codec.decode(this.value.subarray(0, this.copyValue(seg, slot, this.value)));
        result = fn(current);
        if (result === undefined) return slot >= 0 ? REMOVE : KEEP;
        if (slot >= 0 && result === current) return KEEP; // handed back unchanged: no write
        return this.encodeValue(result, this.value);
      },
      quiet,
    );
    return answer === FULL ? TABLE_FULL : result;
  }

  /** Removes every entry. Each segment is cleared atomically; the whole table is not one step. */
  clear(): void {
    for (let s = 0; s < this.layout.segments; s++) {
      const seg = this.segment(s);
      this.lock(s);
      try {
        const n = load(this.i32, seg + COUNT);
        if (n === 0) continue;
        add(this.i32, seg + SEQ, 1);
        const bump = load(this.i32, seg + BUMP);
        for (let slot = 0; slot < bump; slot++) store(this.i32, this.slot(seg, slot) + S_STATE, FREE);
        this.i32.fill(0, this.index(seg), this.index(seg) + this.layout.indexSize * ENTRY_WORDS);
        store(this.i32, seg + FREE_TOP, 0);
        store(this.i32, seg + BUMP, 0);
        store(this.i32, seg + COUNT, 0);
        store(this.i32, seg + OWNED, 0);
        this.setSoon(seg, Infinity);
        this.heap.rebuild(s, seg + this.layout.headsAt); // no entry: gives back every page
        add(this.i32, seg + SEQ, 1);
        sub(this.i32, SIZE, n);
      } finally {
        this.unlock(s);
      }
    }
  }

  /** A snapshot of the entries, consistent per segment (weakly consistent across segments). */
  entries(): IterableIterator<[TableKey, V]> {
    const out: [TableKey, V][] = [];
    for (let s = 0; s < this.layout.segments; s++) {
      for (const [key, bytes] of this.segmentEntries(s)) out.push([key, this.codec.decode(bytes)]);
    }
    return out[Symbol.iterator]();
  }

  /** The keys of an `entries()` snapshot. */
  *keys(): IterableIterator<TableKey> {
    for (const [k] of this.entries()) yield k;
  }

  /** The values of an `entries()` snapshot. */
  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[TableKey, V]> {
    return this.entries();
  }

  /**
   * The longest probe sequence among present keys (how many index entries a
   * lookup may visit). Diagnostics: hash flooding shows up here first.
   */
  maxProbeLength(): number {
    let longest = 0;
    const mask = this.layout.indexSize - 1;
    for (let s = 0; s < this.layout.segments; s++) {
      const seg = this.segment(s);
      this.lock(s);
      try {
        const idx = this.index(seg);
        for (let pos = 0; pos <= mask; pos++) {
          const e = idx + pos * ENTRY_WORDS;
          if (load(this.i32, e + E_SLOT) === 0) continue;
          const home = load(this.i32, e + E_HASH) & mask;
          longest = Math.max(longest, ((pos - home) & mask) + 1);
        }
      } finally {
        this.unlock(s);
      }
    }
    return longest;
  }

  /**
   * The one write path. Under the segment lock, `decide(slot, seg)` looks at
   * the key's slot (-1 if absent) and answers KEEP (change nothing), REMOVE,
   * or the length of a value staged in `this.value` to store.
   * Returns what `decide` answered.
   */
  private write(key: TableKey, decide: (slot: number, seg: number) => number, quiet = false): number {
    const keyWord = this.key.encode(key);
    const h = halfSipHash(this.hashKey, this.key.bytes, keyWord & LEN_MASK);
    this.lastHash = h;
    const s = this.segmentOf(h);
    const seg = this.segment(s);
    for (let recount = 0; ; recount++) {
      this.lock(s);
      let room: Room = ROOM;
      let answer: number;
      try {
        const slot = this.find(seg, h, keyWord);
        const pos = this.foundAt;
        answer = decide(slot, seg);
        if (answer === KEEP) return KEEP;
        if (answer === REMOVE) this.remove(seg, slot, pos);
        else if (slot >= 0) room = this.replaceEvicting(seg, slot, pos, h, keyWord, answer);
        else if (this.policy !== undefined) room = this.insertEvicting(seg, h, keyWord, answer);
        else if (this.reserve()) room = this.insert(seg, pos, h, keyWord, answer);
        else room = NO_ENTRY;
      } finally {
        this.unlock(s);
      }
      if (room === ROOM) return answer;
      if (room === NO_SEGMENT_ENTRY) {
        add(this.i32, REFUSED, 1);
        if (quiet) return FULL;
        throw new CapacityError(
          `a segment of the table is full (${this.layout.perSegment} entries) before the table (${this.capacity}): ` +
            'keys spread this unevenly with odds below 1e-8; create the table with a larger capacity',
        );
      }
      // Out of heap bytes: first the empty pages segments keep, on the first try.
      if (room === NO_BYTES && recount === 0 && this.trimHeap()) continue;
      // An evicting table whose segment had nothing to give: take a victim (or, for bytes, a page) from another segment.
      if (this.policy !== undefined && recount < RECOUNTS && this.evictElsewhere(s, room === NO_BYTES)) continue;
      // A store's table: reclaim lapsed entries, then try again.
      if (this.lapse !== undefined && recount < RECOUNTS && this.reclaim()) continue;
      if (room === NO_BYTES || recount === RECOUNTS || !this.sizeMayBeHigh() || this.recount() >= this.capacity) {
        add(this.i32, REFUSED, 1);
        if (quiet) return FULL;
        if (this.lapse?.full !== undefined) throw this.lapse.full(key);
        if (room === NO_BYTES) {
          const bytes = (keyWord & LEN_MASK) + answer;
          throw new CapacityError(
            `the table's ${this.maxBytes} bytes for keys and values have no room for an entry of ${bytes} bytes; ` +
              'delete some entries, or create it with a larger maxBytes',
          );
        }
        throw new CapacityError(
          `the table is full: all ${this.capacity} entries are in use; delete some, or create it with a larger capacity`,
        );
      }
    }
  }

  private encodeValue(value: V, into: Uint8Array): number {
    if (into === this.value) this.stageLapse(value);
    const len = encodeInto(this.codec, value, into);
    if (len < 0) {
      throw new InvalidArgumentError(`value is too large: it encodes to more than maxValueBytes (${this.maxValueBytes}) bytes`);
    }
    return len;
  }
}

/** `decide` answers: change nothing, or remove the key (lengths are >= 0). */
const KEEP = -1,
  REMOVE = -2,
  FULL = -3; // and `write` answers: no room for a new key (quiet writes only)
/** What `computeIfRoom` answers for a new key that found no room. @internal */
export const TABLE_FULL: unique symbol = Symbol('sabre.table.full');
/** `read` answers besides a length: no such key. */
const ABSENT = -1;
