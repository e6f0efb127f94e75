/**
 * SharedHashTable: a fixed-capacity hash map in shared memory, read and
 * written by every thread of the process. The base of sabre's keyed
 * structures (leases, named locks, caches, idempotency records, votes, limits).
 */
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { codecOption, encodeInto, type Codec, type CodecName } from '../memory/codec.js';
import { regionBytes, type Region } from '../memory/region.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import { custom, integer, local, withDefault } from '../options/field.js';
import type { SharedArena } from '../memory/arena.js';
import { Mutex, MUTEX_WORDS } from '../sync/mutex.js';
import { CapacityError, DeadlockError, InvalidArgumentError } from '../errors.js';
import { describeValue, fn as checkFn, plainObject } from '../validate.js';
import { halfSipHash, randomHashKey, type HashKey } from './hash.js';
import { BYTES_KEY, KeyBuffer, type TableKey } from './key.js';
import { KeyMemo, keyMemoSize } from './key-memo.js';
import { EVICTION_SAMPLE, EVICTION_SCAN, type EvictionPolicy } from './eviction.js';
import type { LapsePolicy } from './lapse.js';
import type { KeyedStats } from './when-full.js';
import { CLASSES, MAX_BLOCK_BYTES, PAGE_BYTES, PAGE_WORDS, SlabHeap, classesUpTo, entryClass, entryCost } from './slab-heap.js';
import { ThreadRegistry } from '../threads/registry.js';

const { add, compareExchange, load, load64, store, store64, sub } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Segments (as Java 7's ConcurrentHashMap): the table is S independent
 * segments, S a power of two chosen from the capacity; a key's segment is the
 * top log2(S) bits of its keyed hash (hash.ts), its home index position the
 * low bits. Each segment has a Mutex (writers), a sequence word SEQ (readers,
 * as a seqlock), an open-addressing index and a pool of slots.
 *
 * Region body (Int32 words unless said otherwise):
 *   GLOBAL block (128 B): K0, K1 (the table's random hash key, written before
 *   the region is published), SIZE (entries reserved by inserts, see below),
 *   TICKS (inserts so far, counted only in a table that evicts), CURSOR (the
 *   segment the last reclaim freed in), SWEPT_DEATHS (the registry's deaths
 *   count at the last fruitless look for dead owners; see Reclamation).
 *   Then S segments, each 128-B aligned:
 *     control (128 B): LOCK (MUTEX_WORDS words, an embedded Mutex), SEQ,
 *       COUNT (live entries), FREE_TOP (slot + 1 heading the free list, 0 =
 *       none), BUMP (slots ever handed out), WSEQ and WSEQ_HI (writes so
 *       far, a 64-bit count in two words), OWNED (live entries with an
 *       owner stamp), SOON (BigInt64: the bits of a float64 lower bound on
 *       the LAPSE of the live entries; Infinity when none lapses by time)
 *     index: M entries of [HASH, SLOT + 1] (SLOT + 1 = 0: empty), M a power
 *       of two >= 2 x pool: linear probing, load factor <= 1/2, deletion by
 *       backward shift, so there are no tombstones and churn leaks nothing
 *     slots: pool = perSegment + 1 records of [STATE, WSEQ, HASH, KEYLEN,
 *       VALLEN, NEXT, WSEQ_HI, STAMP, BORN, LAPSE (a float64 in two words),
 *       OWNER, key bytes (maxKeyBytes), value bytes (maxValueBytes)];
 *       (WSEQ, WSEQ_HI) names the write that filled it; STATE is FREE or
 *       LIVE, KEYLEN carries BYTES_KEY for Uint8Array keys; STAMP and BORN
 *       serve an eviction policy, LAPSE and OWNER a lapse policy (below)
 *
 * Writers take the segment lock, make SEQ odd, change the segment, make SEQ
 * even and unlock. A value is never overwritten in place: `set` of a present
 * key writes a fresh slot (hence the one spare slot), marks it LIVE with a
 * newer WSEQ, points the index entry at it and frees the old slot.
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
 * Inside a write, only the commit points are atomic stores (a slot's STATE,
 * an index entry's SLOT word, the SEQ adds); the other words and bytes are
 * plain writes, published by the SEQ add that ends the write (each atomic
 * store costs a locked instruction, and they were most of a `set`).
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
 *
 * Linearization points: a write at its store that makes SEQ even again (no
 * reader can see any part of it before); a read at its first load of SEQ
 * (the value it returns was current then). `size` sums the segments' COUNTs
 * (each exact; the sum is not an atomic snapshot, as LongAdder's); `entries()`
 * is consistent per segment, weakly consistent across segments.
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

const K0 = 0,
  K1 = 1,
  SIZE = 2,
  TICKS = 3,
  CURSOR = 4,
  SWEPT_DEATHS = 5,
  GATE = 6, // and 7, one BigInt64: [gate bits | ownedAny, EPOCH it was computed in] (see gateOwned)
  EPOCH = 8,
  RECOUNTED_DEATHS = 9,
  BASE = 10, // and 11: a float64's bits, the time the gate counts from (set once)
  BASE_SET = 12,
  REFUSED = 13,
  HEAP_GLOBALS = 14; // GLOBAL block words (the heap's: HEAP_GLOBAL_WORDS from here, 8-byte aligned)
const GLOBAL_BYTES = CACHE_LINE_BYTES;
const LOCK = 0,
  SEQ = MUTEX_WORDS,
  COUNT = SEQ + 1,
  FREE_TOP = SEQ + 2,
  BUMP = SEQ + 3,
  WSEQ = SEQ + 4,
  WSEQ_HI = SEQ + 5,
  OWNED = SEQ + 6,
  SOON = (SEQ + 8) & ~1; // segment control words (SOON: a float64's bits, read as one BigInt64)
const CONTROL_BYTES = CACHE_LINE_BYTES;
const S_STATE = 0,
  S_WSEQ = 1,
  S_HASH = 2,
  S_KEYLEN = 3,
  S_VALLEN = 4,
  S_NEXT = 5,
  S_WSEQ_HI = 6,
  S_STAMP = 7,
  S_BORN = 8,
  S_REF = 9,
  SLOT_WORDS = 10; // slot words
const T_LAPSE = 0, // and 1: a float64, 8-byte aligned
  T_OWNER = 2,
  STAMP_WORDS = 4; // a slot's lapse stamp, in its segment's stamp array (word 3 unused: alignment)
const E_HASH = 0,
  E_SLOT = 1,
  ENTRY_WORDS = 2; // index entry words
const FREE = 0,
  LIVE = 1; // S_STATE values
const LEN_MASK = BYTES_KEY - 1;

/** Reads that see SEQ move this many times fall back to reading under the lock. */
const OPTIMISTIC_TRIES = 8;
/** Inserts that find SIZE at capacity recount at most this many times before refusing. */
const RECOUNTS = 3;

/** Largest `capacity`. */
export const MAX_TABLE_CAPACITY = 2 ** 24;
/** Largest `maxKeyBytes`. */
export const MAX_KEY_BYTES = 65_535;
/** Largest `maxValueBytes`. */
export const MAX_VALUE_BYTES = 2 ** 24;

export interface SharedHashTableOptions<V> {
  /** Entries the table holds (1 .. 2^24). */
  readonly capacity: number;
  /** Longest key, in UTF-8 bytes (1 .. 65535). */
  readonly maxKeyBytes: number;
  /** Longest encoded value, in bytes (1 .. 2^24): a ceiling, not a reservation (see `maxBytes`). */
  readonly maxValueBytes: number;
  /**
   * Bytes for keys and values (rounded up to 4 KiB): the table's budget.
   * Each entry takes its key and encoded value rounded up to a size class
   * (at most 12.5% more up to 2 KiB; whole 4 KiB pages beyond). Default:
   * room for `capacity` entries of the largest size, so the table never
   * runs out of bytes before entries; memory becomes resident only as
   * entries are stored. `byteLength` is this plus a fixed part of about
   * 80 bytes per entry of capacity.
   */
  readonly maxBytes?: number;
  /** `'v8'` (default), `'json'`, `'string'`, `'bytes'`, or a `Codec<V>`. */
  readonly codec?: CodecName | Codec<V>;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
  /**
   * For tests only: a fixed hash key instead of a random one. With a key that
   * others know, crafted keys can be made to collide (hash flooding).
   */
  readonly hashKey?: HashKey;
}
/** The derived shape of a table (a pure function of its handle options). */
interface Layout {
  readonly segments: number;
  readonly segmentShift: number;
  readonly perSegment: number;
  readonly pool: number;
  readonly indexSize: number;
  readonly slotWords: number;
  /** Word offset, in a segment, of its stamp array (pool x STAMP_WORDS, after the slots). */
  readonly stampsAt: number;
  /** Word offset, in a segment, of its heap HEADS (CLASSES words, after the stamps). */
  readonly headsAt: number;
  readonly segmentWords: number;
  /** Heap pages (maxBytes / 4 KiB, rounded up). */
  readonly pages: number;
  /** Word index of the heap's page table, after the segments. */
  readonly pageTableAt: number;
  /** Byte index where the heap's data may start (it starts at the next 4 KiB boundary of the buffer). */
  readonly dataFrom: number;
  readonly bodyBytes: number;
}

interface Sizes {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxBytes?: number | undefined;
}

function segmentsOf(capacity: number): number {
  return capacity < 1024 ? 1 : Math.min(64, 2 ** Math.floor(Math.log2(capacity / 512)));
}

/**
 * `maxBytes` when not given: `capacity` entries of the largest size, one
 * more per segment (a replace writes the new value before it frees the old,
 * and each segment may be in one), and a partly used page per class per
 * segment. So a table never runs out of bytes before entries.
 */
function defaultMaxBytes(o: Sizes): number {
  const largest = o.maxKeyBytes + o.maxValueBytes;
  const segments = segmentsOf(o.capacity);
  return (o.capacity + segments) * entryCost(largest) + segments * classesUpTo(largest) * PAGE_BYTES;
}

function layoutOf(o: Sizes): Layout {
  const segments = segmentsOf(o.capacity);
  const mean = o.capacity / segments;
  const perSegment = segments === 1 ? o.capacity : Math.ceil(mean + 6 * Math.sqrt(mean) + 8);
  const pool = perSegment + 1;
  const indexSize = 2 ** Math.ceil(Math.log2(2 * pool));
  const slotWords = SLOT_WORDS;
  const stampsAt = Math.ceil((CONTROL_BYTES / 4 + indexSize * ENTRY_WORDS + pool * slotWords) / 2) * 2; // 8-byte aligned
  const headsAt = stampsAt + pool * STAMP_WORDS;
  const segmentWords = padToCacheLine((headsAt + CLASSES) * 4) / 4;
  const pages = Math.ceil((o.maxBytes ?? defaultMaxBytes(o)) / PAGE_BYTES);
  const pageTableAt = GLOBAL_BYTES / 4 + segments * segmentWords;
  const dataFrom = padToCacheLine((pageTableAt + pages * PAGE_WORDS) * 4);
  return {
    segments,
    segmentShift: 32 - Math.log2(segments),
    perSegment,
    pool,
    indexSize,
    slotWords,
    stampsAt,
    headsAt,
    segmentWords,
    pages,
    pageTableAt,
    dataFrom,
    bodyBytes: dataFrom + PAGE_BYTES + pages * PAGE_BYTES, // a page of room to align the data to the buffer's pages
  };
}

/** Largest region a table may take (an Int32Array view must span it). */
const MAX_REGION_BYTES = 2 ** 31 - 1;

/** The `maxBytes` option of a table, and of the stores that pass it on to theirs (absent: the table's default). */
export function maxBytesOption() {
  return withDefault(integer({ max: MAX_REGION_BYTES }), undefined);
}

const DEF = definePrimitive(
  'SharedHashTable',
  2,
  {
    capacity: integer({ max: MAX_TABLE_CAPACITY }),
    maxKeyBytes: integer({ max: MAX_KEY_BYTES }),
    maxValueBytes: integer({ max: MAX_VALUE_BYTES }),
    maxBytes: maxBytesOption(),
    codec: codecOption('SharedHashTable'),
    // Written into the body at creation (random unless given), never in the handle.
    hashKey: local(withDefault(custom(checkHashKey), undefined)),
  },
  {
    check: (o) => {
      const largest = o.maxKeyBytes + o.maxValueBytes;
      if (o.maxBytes !== undefined && o.maxBytes < entryCost(largest)) {
        throw new InvalidArgumentError(
          `maxBytes (${o.maxBytes}) cannot hold one entry of the largest size: a ${o.maxKeyBytes}-byte key and a ${o.maxValueBytes}-byte value take ${entryCost(largest)} bytes`,
        );
      }
      const bytes = regionBytes(DEF.spec, {
        capacity: o.capacity,
        maxKeyBytes: o.maxKeyBytes,
        maxValueBytes: o.maxValueBytes,
        maxBytes: o.maxBytes,
        codec: 'v8',
      });
      if (bytes > MAX_REGION_BYTES) {
        const given = o.maxBytes === undefined ? ' (give a smaller maxBytes: the default holds capacity entries of the largest size)' : '';
        throw new InvalidArgumentError(
          `a table of capacity ${o.capacity} with ${o.maxKeyBytes}-byte keys, ${o.maxValueBytes}-byte values and ${o.maxBytes ?? defaultMaxBytes(o)} bytes for them needs ${bytes} bytes; the limit is ${MAX_REGION_BYTES}${given}`,
        );
      }
    },
    bodyBytes: (o) => layoutOf(o).bodyBytes,
  },
);
export type SharedHashTableHandle = HandleOf<typeof DEF>;

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
export class SharedHashTable<V = unknown> {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: SharedHashTableHandle;
  /** Entries the table holds. */
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Bytes for keys and values (a multiple of 4 KiB). */
  readonly maxBytes: number;
  private readonly codec: Codec<V>;
  private readonly heap: SlabHeap;
  private readonly layout: Layout;
  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;
  /** The body as float64s (the slots' lapse stamps). */
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  private readonly hashKey: HashKey;
  private readonly locks: readonly Mutex[];
  private readonly key: KeyBuffer;
  /** Private copies of values: one being read or written, one compared against. */
  private readonly value: Uint8Array;
  private readonly expected: Uint8Array;
  /** True while this instance holds a segment lock (and so runs a `compute` function). */
  private busy = false;
  /** Set by `find`: the index position it stopped at. */
  private foundAt = -1;
  /** Recent reads by string key, for codecs whose values are immutable ('string'). */
  private readonly memo: KeyMemo | undefined;
  /** Set by `valueOf` inside a read's validated window: the write number of the slot it copied. */
  private readLo = 0;
  private readHi = 0;
  /** Set by `setEviction`: inserts into a full table evict instead of refusing. */
  private policy: EvictionPolicy | undefined;
  private lapse: LapsePolicy<V> | undefined;
  /** The lapse stamp (time, owner threadId + 1) of the value staged in `this.value`. */
  private stagedLapse = Infinity;
  private stagedOwner = 0;
  /** Eviction candidates (slot word indexes). */
  private readonly candidates = new Int32Array(2 * EVICTION_SAMPLE);
  /**
   * Internal: the slot (word index) of the last read that found its key, or
   * -1; and the keyed hash of the last key read or written.
   * @internal
   */
  lastSlot = -1;
  /** @internal */
  lastHash = 0;

  /**
   * @param options the table's options, or (internally) an opened region
   * @param codecOfRegion internal: the codec to use with an opened region
   * @param immutableValues internal: the codec's values are never changed by their users, so decodings may be reused
   */
  constructor(options: SharedHashTableOptions<V> | OpenedOf<typeof DEF>, immutableValues = false) {
    const { region, options: o, created } = DEF.resolve(options);
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
    if (created) {
      for (let s = 0; s < this.layout.segments; s++) this.setSoon(this.segment(s), Infinity);
      this.closeGate(-1, -Infinity, true); // never valid: EPOCH starts at 0 and only grows
    }
    const locks: Mutex[] = [];
    for (let s = 0; s < this.layout.segments; s++) {
      const at = this.segment(s) + LOCK;
      locks.push(Mutex.embedded(this.i32.subarray(at, at + MUTEX_WORDS)));
    }
    this.locks = locks;
    this.key = new KeyBuffer(maxKeyBytes);
    this.memo = o.codec.name === 'string' || immutableValues ? new KeyMemo(keyMemoSize(capacity)) : undefined;
    this.value = new Uint8Array(maxValueBytes);
    this.expected = new Uint8Array(maxValueBytes);
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
  private base(): number {
    if (load(this.i32, BASE_SET) !== 2) return NaN;
    whole[0] = load64(this.i64, BASE >> 1);
    return Number.isFinite(bits[0]) ? bits[0]! : NaN;
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

  /**
   * True if the memo entry's slot still holds the key's current value: LIVE
   * with the same write number, checked between a load of its segment's
   * sequence word (even) and the re-check (the read's linearization point is the first).
   * Then records the read as `read` does.
   */
  private stillCurrent(e: { seg: number; at: number; lo: number; hi: number; h: number }): boolean {
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

  // ---- reads -------------------------------------------------------------

  /**
   * Finds `key`; with `copy`, copies its value into `this.value`. Returns the
   * value's length, or ABSENT.
   */
  private read(key: TableKey, copy: boolean): number {
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
        const len = slot < 0 ? ABSENT : copy ? this.valueOf(seg, slot) : 0;
        if (unchanged(this.i32, seg, s1)) return this.found(seg, slot, len);
      }
      (backoff ??= new Backoff()).spin();
    }
    // Writers keep overlapping (or one died mid-write): read under the lock.
    this.lock(s);
    try {
      const slot = this.find(seg, h, keyWord);
      return this.found(seg, slot, slot < 0 ? ABSENT : copy ? this.valueOf(seg, slot) : 0);
    } finally {
      this.unlock(s);
    }
  }

  /** Records the slot a read found (and, in an evicting table, stamps it); passes `len` through. */
  private found(seg: number, slot: number, len: number): number {
    if (slot < 0) {
      this.lastSlot = -1;
      return len;
    }
    const at = this.slot(seg, slot);
    this.lastSlot = at;
    if (this.policy !== undefined) this.i32[at + S_STAMP] = this.i32[TICKS]!; // approximate by design: see the notes
    return len;
  }

  /**
   * Probes for the key in `this.key`: returns its slot (or -1) and leaves in
   * `foundAt` its index position or, when absent, the first empty one (where
   * an insert goes; -1 if none). Bounded by the index
   * size, so a probe racing a writer ends even on an index it sees mid-change.
   */
  private find(seg: number, h: number, keyWord: number): number {
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

  private keyEquals(seg: number, slot: number, keyWord: number): boolean {
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

  /** A copy of a slot's key bytes (under its segment lock, or validated by the caller). */
  private keyOf(at: number): Uint8Array {
    const keyLen = Math.min(this.i32[at + S_KEYLEN]! & LEN_MASK, this.maxKeyBytes);
    const total = keyLen + Math.min(this.i32[at + S_VALLEN]! >>> 0, this.maxValueBytes);
    const key = new Uint8Array(keyLen);
    this.heap.copy(this.i32[at + S_REF]!, total, 0, key, keyLen);
    return key;
  }

  /** Copies the value into `this.value` and returns its length; for the memo, notes the slot's write number (inside the read's window). */
  private valueOf(seg: number, slot: number): number {
    if (this.memo !== undefined) {
      const at = this.slot(seg, slot);
      this.readLo = this.i32[at + S_WSEQ]!;
      this.readHi = this.i32[at + S_WSEQ_HI]!;
    }
    return this.copyValue(seg, slot, this.value);
  }

  /** Copies a slot's value bytes into `into`; returns their length (clamped, for a racing read). */
  private copyValue(seg: number, slot: number, into: Uint8Array): number {
    const at = this.slot(seg, slot);
    const keyLen = Math.min(this.i32[at + S_KEYLEN]! & LEN_MASK, this.maxKeyBytes);
    const len = Math.min(this.i32[at + S_VALLEN]! >>> 0, this.maxValueBytes);
    this.heap.copy(this.i32[at + S_REF]!, keyLen + len, keyLen, into, len);
    return len;
  }

  private valueEquals(seg: number, slot: number, len: number): boolean {
    const at = this.slot(seg, slot);
    if (this.i32[at + S_VALLEN] !== len) return false;
    const keyLen = this.i32[at + S_KEYLEN]! & LEN_MASK;
    return this.heap.equals(this.i32[at + S_REF]!, keyLen + len, keyLen, this.expected, len);
  }

  private segmentEntries(s: number): [TableKey, Uint8Array][] {
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

  private copyEntries(seg: number): [TableKey, Uint8Array][] {
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

  // ---- writes ------------------------------------------------------------

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

  /**
   * An insert into an evicting table (under segment `seg`'s lock): evicts
   * from this segment until the segment and the table have room, then
   * inserts. False if the segment has nothing left to evict.
   */
  private insertEvicting(seg: number, h: number, keyWord: number, vlen: number): Room {
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
  private replaceEvicting(seg: number, slot: number, pos: number, h: number, keyWord: number, vlen: number): Room {
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
  private evictForBytes(seg: number, bytes: number, except: number): boolean {
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
  private emptyPage(seg: number, except: number): boolean {
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
  private evictOne(seg: number, accept?: (at: number) => boolean): boolean {
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
  private reclaim(): boolean {
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
  private gateOwned(now: number): number {
    whole[0] = load64(this.i64, GATE >> 1);
    if (halves[1] !== load(this.i32, EPOCH)) return -1;
    const lo = halves[0]!;
    gateBits[0] = lo & ~1;
    return now < this.base() + gateFloat[0]! ? lo & 1 : -1;
  }

  /** Publishes the gate of a fruitless pass that began at EPOCH = `epoch` (a later writer of EPOCH has made it stale already). */
  private closeGate(epoch: number, soonest: number, ownedAny: boolean): void {
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
  private sweep(s: number, now: number, dead: ((threadId: number) => boolean) | undefined): number {
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
  private evictElsewhere(s: number, forBytes: boolean): boolean {
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

  /** The index position that points at `slot` (a LIVE slot of `seg`, its lock held). */
  private positionOf(seg: number, slot: number): number {
    const mask = this.layout.indexSize - 1;
    const idx = this.index(seg);
    let pos = this.i32[this.slot(seg, slot) + S_HASH]! & mask;
    for (let i = 0; i <= mask; i++, pos = (pos + 1) & mask) {
      if (this.i32[idx + pos * ENTRY_WORDS + E_SLOT] === slot + 1) return pos;
    }
    throw new Error('sabre: SharedHashTable slot is LIVE but not indexed (an internal invariant is broken)');
  }

  /** Takes one unit of SIZE; false if the table is (or looks) full. */
  private reserve(): boolean {
    for (;;) {
      const n = load(this.i32, SIZE);
      if (n >= this.capacity) return false;
      if (compareExchange(this.i32, SIZE, n, n + 1) === n) return true;
    }
  }

  /**
   * Inserts into segment `seg` (its lock held, one unit of SIZE reserved);
   * if the segment is full or the heap has no room, gives the unit back and
   * says which.
   */
  private insert(seg: number, pos: number, h: number, keyWord: number, vlen: number): Room {
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
  private replace(seg: number, old: number, pos: number, h: number, keyWord: number, vlen: number): boolean {
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

  private remove(seg: number, slot: number, pos: number): void {
    add(this.i32, seg + SEQ, 1);
    this.release(seg, slot); // FREE: the delete's commit for repair
    this.unindex(seg, pos);
    this.i32[seg + COUNT] = this.i32[seg + COUNT]! - 1;
    // Linearization point of a delete.
    add(this.i32, seg + SEQ, 1);
    sub(this.i32, SIZE, 1);
  }

  /** Empties index position `hole` by backward shift (Knuth's Algorithm R): no tombstones. */
  private unindex(seg: number, hole: number): void {
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

  private allocate(seg: number): number {
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
  private release(seg: number, slot: number): void {
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
  private fillSlot(seg: number, slot: number, h: number, keyWord: number, vlen: number, ref: number): void {
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
  private stageLapse(value: V): void {
    const lapse = this.lapse;
    if (lapse === undefined) return;
    const at = lapse.lapsesAt(value);
    this.stagedLapse = Number.isNaN(at) ? -Infinity : at;
    const owner = lapse.ownerOf === undefined ? -1 : lapse.ownerOf(value);
    this.stagedOwner = Number.isInteger(owner) && owner >= 0 ? owner + 1 : 0;
  }

  /** A lower bound on the lapse time of segment `seg`'s live entries (Infinity: none lapses by time). */
  private soonOf(seg: number): number {
    whole[0] = load64(this.i64, (seg + SOON) >> 1);
    return bits[0]!;
  }

  private setSoon(seg: number, t: number): void {
    bits[0] = t;
    store64(this.i64, (seg + SOON) >> 1, whole[0]!);
  }

  /** A slot's lapse time (Infinity for a free slot). Read and written under the segment lock: plain. */
  private lapseOf(seg: number, slot: number): number {
    return this.f64[(this.stamp(seg, slot) + T_LAPSE) >> 1]!;
  }

  private setStamp(seg: number, slot: number, lapse: number, owner: number): void {
    const t = this.stamp(seg, slot);
    this.f64[(t + T_LAPSE) >> 1] = lapse;
    this.i32[t + T_OWNER] = owner;
  }

  // ---- locking and repair -------------------------------------------------

  private lock(s: number): void {
    if (this.busy) throw reentered();
    const mutex = this.locks[s]!;
    mutex.lockIgnoringPoison();
    this.busy = true;
    if (mutex.isPoisoned) {
      this.repair(this.segment(s));
      mutex.clearPoison();
    }
  }

  private unlock(s: number): void {
    this.busy = false;
    this.locks[s]!.unlock();
  }

  /**
   * Rebuilds a segment whose last writer died holding its lock, from its LIVE
   * slots alone (see the notes). Idempotent: a repairer that dies is repaired.
   */
  private repair(seg: number): void {
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
  private newer(a: number, b: number): boolean {
    const i32 = this.i32;
    const ha = i32[a + S_WSEQ_HI]!,
      hb = i32[b + S_WSEQ_HI]!;
    return ha !== hb ? ((ha - hb) | 0) > 0 : i32[a + S_WSEQ]! >>> 0 > i32[b + S_WSEQ]! >>> 0;
  }

  private sameKey(seg: number, a: number, b: number): boolean {
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
  private sizeMayBeHigh(): boolean {
    return ThreadRegistry.current.deaths !== load(this.i32, RECOUNTED_DEATHS);
  }

  private recount(): number {
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

  // ---- layout ------------------------------------------------------------

  private segmentOf(h: number): number {
    return this.layout.segments === 1 ? 0 : h >>> this.layout.segmentShift;
  }

  /** The index of the segment whose control block is at `seg`: its heap owner number. */
  private owner(seg: number): number {
    return (seg - GLOBAL_BYTES / 4) / this.layout.segmentWords;
  }

  /** Int32 index of segment `s`'s control block. */
  private segment(s: number): number {
    return GLOBAL_BYTES / 4 + s * this.layout.segmentWords;
  }

  /** Int32 index of the segment holding slot word `at`, less than `at`. */
  private slotOffset(at: number): number {
    const first = GLOBAL_BYTES / 4;
    return (at - first) % this.layout.segmentWords;
  }

  private index(seg: number): number {
    return seg + CONTROL_BYTES / 4;
  }

  /** Int32 index of `slot`'s lapse stamp: kept apart from the slots, so a sweep reads one dense array. */
  private stamp(seg: number, slot: number): number {
    return seg + this.layout.stampsAt + slot * STAMP_WORDS;
  }

  private slot(seg: number, slot: number): number {
    return seg + CONTROL_BYTES / 4 + this.layout.indexSize * ENTRY_WORDS + slot * this.layout.slotWords;
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

/** Scratch for a float64's bits: as one float, two Int32 halves, one BigInt64. */
const bits = new Float64Array(1);
const halves = new Int32Array(bits.buffer);
const whole = new BigInt64Array(bits.buffer);
/** Scratch for the gate's float32. */
const gateFloat = new Float32Array(1);
const gateBits = new Int32Array(gateFloat.buffer);

/**
 * A reader's re-check: true if the segment's SEQ is still `s1`. A
 * read-modify-write (add 0), not a load: see "Memory model" in the notes.
 */
function unchanged(i32: Int32Array, seg: number, s1: number): boolean {
  return add(i32, seg + SEQ, 0) === s1;
}

/** Whether a write found room: yes, no entry left, none in its segment, no heap bytes. */
const ROOM = 0,
  NO_ENTRY = 1,
  NO_SEGMENT_ENTRY = 2,
  NO_BYTES = 3;
type Room = typeof ROOM | typeof NO_ENTRY | typeof NO_SEGMENT_ENTRY | typeof NO_BYTES;

/** `decide` answers: change nothing, or remove the key (lengths are >= 0). */
const KEEP = -1,
  REMOVE = -2,
  FULL = -3; // and `write` answers: no room for a new key (quiet writes only)
/** What `computeIfRoom` answers for a new key that found no room. @internal */
export const TABLE_FULL: unique symbol = Symbol('sabre.table.full');
/** `read` answers besides a length: no such key. */
const ABSENT = -1;

function reentered(): DeadlockError {
  return new DeadlockError(
    'a SharedHashTable was used from inside its own compute() function or codec, while this thread holds one of its segment locks',
  );
}

function checkHashKey(k: unknown): HashKey {
  const o = plainObject('hashKey', k);
  if (!Number.isInteger(o.k0) || !Number.isInteger(o.k1) || Object.keys(o).length !== 2)
    throw new InvalidArgumentError(`hashKey must be { k0, k1 } 32-bit integers, got ${describeValue(k)}`);
  return { k0: (o.k0 as number) | 0, k1: (o.k1 as number) | 0 };
}
