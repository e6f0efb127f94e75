/**
 * The shape of a SharedHashTable: its options and handle, and where each
 * word of its region lives (a pure function of the options).
 */
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { codecOption, type Codec, type CodecName } from '../memory/codec.js';
import { regionBytes } from '../memory/region.js';
import { definePrimitive, type HandleOf } from '../memory/primitive.js';
import { custom, integer, local, withDefault } from '../options/field.js';
import type { SharedArena } from '../memory/arena.js';
import { MUTEX_WORDS } from '../sync/mutex.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, plainObject } from '../validate.js';
import type { HashKey } from './hash.js';
import { BYTES_KEY } from './key.js';
import { CLASSES, PAGE_BYTES, PAGE_WORDS, classesUpTo, entryCost } from './slab-heap.js';

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
 */

export const K0 = 0,
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
export const GLOBAL_BYTES = CACHE_LINE_BYTES;
export const LOCK = 0,
  SEQ = MUTEX_WORDS,
  COUNT = SEQ + 1,
  FREE_TOP = SEQ + 2,
  BUMP = SEQ + 3,
  WSEQ = SEQ + 4,
  WSEQ_HI = SEQ + 5,
  OWNED = SEQ + 6,
  SOON = (SEQ + 8) & ~1; // segment control words (SOON: a float64's bits, read as one BigInt64)
export const CONTROL_BYTES = CACHE_LINE_BYTES;
export const S_STATE = 0,
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
export const T_LAPSE = 0, // and 1: a float64, 8-byte aligned
  T_OWNER = 2,
  STAMP_WORDS = 4; // a slot's lapse stamp, in its segment's stamp array (word 3 unused: alignment)
export const E_HASH = 0,
  E_SLOT = 1,
  ENTRY_WORDS = 2; // index entry words
export const FREE = 0,
  LIVE = 1; // S_STATE values
export const LEN_MASK = BYTES_KEY - 1;

/** Reads that see SEQ move this many times fall back to reading under the lock. */
export const OPTIMISTIC_TRIES = 8;
/** Inserts that find SIZE at capacity recount at most this many times before refusing. */
export const RECOUNTS = 3;

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
export interface Layout {
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

export interface Sizes {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxBytes?: number | undefined;
}

export function segmentsOf(capacity: number): number {
  return capacity < 1024 ? 1 : Math.min(64, 2 ** Math.floor(Math.log2(capacity / 512)));
}

/**
 * `maxBytes` when not given: `capacity` entries of the largest size, one
 * more per segment (a replace writes the new value before it frees the old,
 * and each segment may be in one), and a partly used page per class per
 * segment. So a table never runs out of bytes before entries.
 */
export function defaultMaxBytes(o: Sizes): number {
  const largest = o.maxKeyBytes + o.maxValueBytes;
  const segments = segmentsOf(o.capacity);
  return (o.capacity + segments) * entryCost(largest) + segments * classesUpTo(largest) * PAGE_BYTES;
}

export function layoutOf(o: Sizes): Layout {
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

export const DEF = definePrimitive(
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

function checkHashKey(k: unknown): HashKey {
  const o = plainObject('hashKey', k);
  if (!Number.isInteger(o.k0) || !Number.isInteger(o.k1) || Object.keys(o).length !== 2)
    throw new InvalidArgumentError(`hashKey must be { k0, k1 } 32-bit integers, got ${describeValue(k)}`);
  return { k0: (o.k0 as number) | 0, k1: (o.k1 as number) | 0 };
}
