/**
 * Cache: a fixed-capacity cache in shared memory, one for every thread of
 * the process, with LRU or W-TinyLFU eviction, per-entry TTL, invalidation
 * by key, prefix and tag, and single-flight `getOrCompute` across threads.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { codecByName, codecOption, type Codec, type CodecName } from '../memory/codec.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { InvalidArgumentError } from '../errors.js';
import { custom, duration, integer, oneOf, signal, timeout, withDefault } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { SharedHashTable, MAX_KEY_BYTES, MAX_TABLE_CAPACITY, MAX_VALUE_BYTES, maxBytesOption } from '../table/shared-hash-table.js';
import type { EvictionPolicy } from '../table/eviction.js';
import type { TableKey } from '../table/key.js';
import { toDeadline } from '../threads/park.js';
import { describeValue, fn as checkFn, isBytes, wellFormed } from '../validate.js';
import { encodeTags, recordCodec, recordExpiry, recordHasTag, RECORD_HEAD_BYTES, type CacheRecord } from './cache-record.js';
import { FrequencySketch, sketchBytes } from './frequency-sketch.js';
import { Flights, FLIGHT_RECORD_BYTES, WAIT_STRIPES, type FlightRecord } from './single-flight.js';

const { add, load, store } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body (byte offsets):
 *   0      STATS: STAT_STRIPES padded lines of counters [HITS, MISSES,
 *          EVICTIONS, EXPIRATIONS, LOADS, LOAD_FAILURES, STALE, JOINS]; a
 *          thread adds to the stripe of its threadId (one uncontended atomic
 *          add per operation, as LongAdder), `stats()` sums the stripes
 *   1024   CONTROL line: SKETCH_COUNT (accesses since the sketch last aged),
 *          FLIGHT_IDS (the last flight id), EXPIRING (1 once any entry was
 *          given a finite TTL: until then eviction skips the expiry pass)
 *   1152   WAITS: WAIT_STRIPES words for single-flight waiters
 *   1280   the frequency sketch (LFU only; 0 bytes for LRU)
 *   then   the flights table (SharedHashTable, key -> running or failed
 *          computation, see single-flight.ts)
 *   then   the entries (SharedHashTable, key -> record [expiresAt, tags,
 *          value], see cache-record.ts), created evicting (eviction.ts)
 *
 * Reads and writes are the table's: a `get` is a lock-free seqlock read
 * (linearization point: its first load of the segment's sequence word), a
 * `set` or `delete` a write under the key's segment lock (at the store that
 * ends it). An entry is never torn by an eviction: an eviction is a removal
 * under the same segment lock, in the same critical section as the insert
 * that needed the room.
 *
 * Expiry: a record carries `expiresAt` on the cache's clock. A read of an
 * expired record answers a miss; the record stays until it is evicted
 * (victims that have expired go first), overwritten or, once past its
 * stale-while-revalidate window, removed by the read that finds it.
 *
 * Eviction: the table samples LIVE slots of the full segment (eviction.ts)
 * and this policy picks: an expired one first; else, LRU: the least
 * recently used (STAMP, the table's insert clock at the last access); LFU:
 * W-TinyLFU in sampled form (Einziger et al. 2017, as Caffeine): the
 * WINDOW_FRACTION most recently inserted entries (by BORN) are an admission
 * window and are not evicted while older ones are sampled; among the older,
 * the one with the lowest estimated frequency (FrequencySketch, aged) goes,
 * the least recently used among equals. Every access of a key (hit or miss)
 * counts in the sketch, so a key that misses often is admitted against keys
 * that are rarely read, and a scan (keys read once) evicts itself.
 *
 * Invalidation by prefix and tag scans the entries, one segment at a time
 * under its lock (O(capacity); each segment's removal is atomic, the whole
 * is not, as `clear`). Keys written while it runs may survive it.
 *
 * Owner death: a thread that dies inside a write leaves the table to repair
 * itself (the write happened whole or not at all). One that dies while
 * computing a value for `getOrCompute` leaves a flight whose owner is dead:
 * its waiters see that within LIVENESS_SLICE_MS and one of them computes.
 * Statistics are plain counts and lose nothing but the dead thread's future.
 */

const STAT_STRIPES = 8;
const HITS = 0,
  MISSES = 1,
  EVICTIONS = 2,
  EXPIRATIONS = 3,
  LOADS = 4,
  LOAD_FAILURES = 5,
  STALE = 6,
  JOINS = 7; // words of a stats stripe
const STATS_AT = 0;
const CONTROL_AT = STAT_STRIPES * CACHE_LINE_BYTES;
const SKETCH_COUNT = 0,
  FLIGHT_IDS = 1,
  EXPIRING = 2; // CONTROL words
const WAITS_AT = CONTROL_AT + CACHE_LINE_BYTES;
const SKETCH_AT = WAITS_AT + CACHE_LINE_BYTES;

/** Share of the capacity that LFU keeps as its admission window (Caffeine starts at 1%). */
export const WINDOW_FRACTION = 0.01;
/** Default number of `getOrCompute` computations that may run at once. */
export const DEFAULT_MAX_PENDING_COMPUTES = 256;

export type CachePolicy = 'lru' | 'lfu';

export interface CacheOptions<V> {
  /** Entries the cache holds (1 .. 2^24); beyond it, it evicts by its policy. */
  readonly capacity: number;
  /** Longest key, in UTF-8 bytes. */
  readonly maxKeyBytes: number;
  /** Longest encoded value, in bytes: a ceiling, not a reservation. */
  readonly maxValueBytes: number;
  /**
   * Bytes for keys, values and tags (rounded up to 4 KiB), as lru-cache's
   * `maxSize`: beyond it, the cache evicts by its policy to make room. An
   * entry takes its bytes rounded up to a size class (see SharedHashTable's
   * `maxBytes`). Default: room for `capacity` entries of the largest size.
   */
  readonly maxBytes?: number;
  /** `'lru'` (default) or `'lfu'` (W-TinyLFU: frequency-aware, scan-resistant). */
  readonly policy?: CachePolicy;
  /** Default time to live of an entry, in ms of the cache's clock (default: entries never expire). */
  readonly ttlMs?: number;
  /**
   * After an entry expires, `getOrCompute` may still return it for this many
   * ms while one thread recomputes it in the background (default 0: never).
   */
  readonly staleWhileRevalidateMs?: number;
  /** Bytes of tags an entry may carry (each tag takes 1 + its UTF-8 length; default 0: no tags). */
  readonly maxTagBytes?: number;
  /** `getOrCompute` computations that may run at once across threads (default 256). */
  readonly maxPendingComputes?: number;
  /** `'v8'` (default), `'json'`, `'string'`, `'bytes'`, or a `Codec<V>`. */
  readonly codec?: CodecName | Codec<V>;
  /** The clock TTLs run on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  readonly arena?: SharedArena;
}

export interface CacheSetOptions {
  /** Time to live of this entry, in ms (> 0; Infinity: never expires). Default: the cache's `ttlMs`. */
  readonly ttlMs?: number;
  /** Tags for `invalidateTag` (needs `maxTagBytes`). */
  readonly tags?: readonly string[];
}

export interface GetOrComputeOptions extends CacheSetOptions {
  /** Longest wait for another thread's computation of the key, in ms (default: forever; 0: do not wait). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}

/** Counts since the cache was created, summed over every thread. */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses), or 0 before any read. */
  readonly hitRate: number;
  /** Entries removed to make room (expired ones count as expirations instead). */
  readonly evictions: number;
  /** Expired entries removed (by a read, or as an eviction victim). */
  readonly expirations: number;
  /** `getOrCompute` computations that stored a value. */
  readonly loads: number;
  /** `getOrCompute` computations that threw. */
  readonly loadFailures: number;
  /** Stale values returned by `getOrCompute` while a refresh ran. */
  readonly stale: number;
  /** `getOrCompute` calls that waited for another thread's computation instead of computing (each also counts one miss). */
  readonly joins: number;
  readonly size: number;
  readonly capacity: number;
}

const flightCodec = codecByName('json') as Codec<FlightRecord>;

/** The sizes the layout depends on (a handle's options). */
interface Sizes {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly policy: CachePolicy;
  readonly maxTagBytes: number;
  readonly maxPendingComputes: number;
  readonly maxBytes?: number | undefined;
}

function entrySizes(o: Sizes) {
  return {
    capacity: o.capacity,
    maxKeyBytes: o.maxKeyBytes,
    maxValueBytes: RECORD_HEAD_BYTES + o.maxTagBytes + o.maxValueBytes,
    maxBytes: o.maxBytes,
  };
}
function flightSizes(o: Sizes) {
  return { capacity: o.maxPendingComputes, maxKeyBytes: o.maxKeyBytes, maxValueBytes: FLIGHT_RECORD_BYTES };
}
function flightsAt(o: Sizes): number {
  return SKETCH_AT + (o.policy === 'lfu' ? padToCacheLine(sketchBytes(o.capacity)) : 0);
}
function entriesAt(o: Sizes): number {
  return flightsAt(o) + padToCacheLine(SharedHashTable.byteLength(flightSizes(o)));
}

/** A TTL: > 0 ms, or Infinity (never expires). */
const ttlField = () => duration({ positive: true });

const DEF = definePrimitive(
  'Cache',
  1,
  {
    capacity: integer({ max: MAX_TABLE_CAPACITY }),
    maxKeyBytes: integer({ max: MAX_KEY_BYTES }),
    maxValueBytes: integer({ max: MAX_VALUE_BYTES }),
    maxBytes: maxBytesOption(),
    policy: oneOf(['lru', 'lfu'] as const, 'lru'),
    ttlMs: withDefault(ttlField(), Infinity),
    staleWhileRevalidateMs: duration({ default: 0 }),
    maxTagBytes: integer({ min: 0, max: 65_535, default: 0 }),
    maxPendingComputes: integer({ max: 65_536, default: DEFAULT_MAX_PENDING_COMPUTES }),
    codec: codecOption('Cache'),
    clock: clock(),
  },
  {
    bodyBytes: (o) => entriesAt(o) + SharedHashTable.byteLength(entrySizes(o)),
  },
);
export type CacheHandle = HandleOf<typeof DEF>;

/** Tags as given (checked against `maxTagBytes` when encoded). */
const tagsField = () =>
  withDefault(
    custom<readonly string[]>((v, name) => {
      if (!Array.isArray(v)) throw new InvalidArgumentError(`${name} must be an array of strings, got ${describeValue(v)}`);
      return v as readonly string[];
    }),
    undefined,
  );

// Per-call options: parsed once per call; no options at all costs no allocation.
const SET_OPTIONS = defineOptions('cache.set(key, value, options)', {
  ttlMs: withDefault(ttlField(), undefined),
  tags: tagsField(),
});
const GET_OR_COMPUTE_OPTIONS = defineOptions(
  'cache.getOrCompute(key, fn, options)',
  {
    ttlMs: withDefault(ttlField(), undefined),
    tags: tagsField(),
    timeoutMs: timeout(),
    signal: signal(),
  },
  {
    renamed: { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } },
  },
);

/**
 * A cache in shared memory: every thread that opens its handle sees the same
 * entries, so a value computed by one worker is a hit for all of them, and
 * one invalidation reaches them all.
 *
 * Capacity is fixed; when full, an insert evicts an entry by the policy:
 * `'lru'` (least recently used, sampled) or `'lfu'` (W-TinyLFU: a small
 * admission window for new entries, then the least frequently used by an
 * aged frequency sketch, which keeps a popular working set through scans).
 * Entries expire after their TTL on the cache's clock. `getOrCompute` is
 * single-flight across threads: when many threads miss one key at once, one
 * computes it and the others wait for its value (or its error); with
 * `staleWhileRevalidateMs`, an expired value is served while one thread
 * refreshes it.
 *
 * Every `get` returns a fresh decoded copy (strings, with the `'string'`
 * codec, are shared: they are immutable). A reader never sees a torn value,
 * whatever other threads write or evict.
 *
 * Memory synchronization: a `set` happens-before every `get` that returns its
 * value; the computation of a `getOrCompute` happens-before the return of
 * every call that waited for it.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a key too long, a value
 *   too large or not encodable, a TTL that is not > 0, tags beyond
 *   `maxTagBytes`, a bad option, an unknown option (named, with the one
 *   likely meant); the cache is unchanged
 * @throws CapacityError (`ERR_CAPACITY`) from `getOrCompute` when more than
 *   `maxPendingComputes` computations run at once
 * @throws TimeoutError (after `timeoutMs`), AbortError from `getOrCompute`
 *   while waiting for another thread's computation
 * @throws HandleError from `from` for a foreign handle
 *
 * @example
 * ```ts
 * const reports = new Cache<string>({ capacity: 10_000, maxKeyBytes: 64, maxValueBytes: 4096, codec: 'string', policy: 'lfu', ttlMs: 60_000 });
 * // in any worker, with Cache.from(handle):
 * const html = await reports.getOrCompute(`report:${id}`, () => renderReport(id), { tags: [`user:${owner}`] });
 * reports.invalidateTag(`user:${owner}`); // after the user's data changed
 * ```
 * @remarks Since 0.1
 */
export class Cache<V = unknown> {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: CacheHandle;
  readonly capacity: number;
  readonly policy: CachePolicy;
  readonly clock: Clock;
  /** The default TTL of an entry (Infinity: none). */
  private readonly ttlMs: number;
  private readonly staleWhileRevalidateMs: number;
  private readonly maxTagBytes: number;
  private readonly entries: SharedHashTable<CacheRecord<V>>;
  private readonly records: ReturnType<typeof recordCodec<V>>;
  private readonly flights: Flights;
  private readonly sketch: FrequencySketch | undefined;
  private readonly stats32: Int32Array;
  private readonly stripe: number;
  /** Set by the policy for `evicted`: the victim had expired. */
  private victimExpired = false;
  private readonly head = new Uint8Array(8);
  private readonly windowSize: number;
  private readonly control: Int32Array;

  /** @param options the cache's options, or (internally) a region `from` opened */
  constructor(options: CacheOptions<V> | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    const mode = created ? 'create' : 'open';
    this.handle = region.handle;
    this.capacity = o.capacity;
    this.policy = o.policy;
    this.ttlMs = o.ttlMs;
    this.staleWhileRevalidateMs = o.staleWhileRevalidateMs;
    this.maxTagBytes = o.maxTagBytes;
    this.windowSize = Math.max(1, Math.round(o.capacity * WINDOW_FRACTION));
    this.records = recordCodec(o.codec.codec as Codec<V>, o.maxValueBytes);
    // Decoded records may be reused only when the value inside is immutable.
    this.entries = SharedHashTable.nested(region, entriesAt(o), entrySizes(o), this.records, mode, o.codec.name === 'string');
    this.entries.setEviction(this.evictionPolicy());
    const control = region.i32(CONTROL_AT, 3);
    this.control = control;
    this.flights = new Flights(
      SharedHashTable.nested(region, flightsAt(o), flightSizes(o), flightCodec, mode),
      region.i32(WAITS_AT, WAIT_STRIPES),
      control,
      FLIGHT_IDS,
    );
    this.sketch =
      o.policy === 'lfu'
        ? new FrequencySketch(region.u8(SKETCH_AT, sketchBytes(o.capacity)), control, SKETCH_COUNT, o.capacity)
        : undefined;
    this.stats32 = region.i32(STATS_AT, (STAT_STRIPES * CACHE_LINE_BYTES) / 4);
    this.stripe = ((threadId & (STAT_STRIPES - 1)) * CACHE_LINE_BYTES) / 4;
  }

  /**
   * Re-opens a cache from its handle, in any thread. A cache made with a
   * custom codec needs that codec again: `from(handle, { codec })`.
   * @throws HandleError for a handle that is not a live Cache
   * @throws InvalidArgumentError for an option other than `codec`
   */
  static from<V = unknown>(handle: CacheHandle, options?: { readonly codec?: CodecName | Codec<V> }): Cache<V> {
    return new Cache<V>(DEF.open(handle, options));
  }

  /** Bytes a cache of these options takes. */
  static byteLength(options: CacheOptions<unknown>): number {
    return DEF.byteLength(options);
  }

  /** Entries present, expired ones included until they are removed. */
  get size(): number {
    return this.entries.size;
  }

  /** The value of `key`, or `undefined` if it is absent or expired. Counts a hit or a miss. */
  get(key: TableKey): V | undefined {
    const r = this.entries.get(key);
    this.sketch?.increment(this.entries.lastHash);
    if (r === undefined) {
      this.count(MISSES);
      return undefined;
    }
    if (r.expiresAt !== Infinity && r.expiresAt <= this.clock.now()) {
      this.expire(key);
      this.count(MISSES);
      return undefined;
    }
    this.count(HITS);
    return r.value;
  }

  /** True if `key` has a value that has not expired (counts nothing, changes no recency). */
  has(key: TableKey): boolean {
    const r = this.entries.get(key);
    return r !== undefined && (r.expiresAt === Infinity || r.expiresAt > this.clock.now());
  }

  /**
   * Stores `value` under `key`, evicting an entry by the policy if the cache
   * is full. `ttlMs` (default: the cache's) and `tags` apply to this entry.
   */
  set(key: TableKey, value: V, options?: CacheSetOptions): this {
    const o = SET_OPTIONS.parse(options);
    this.store(key, value, o.ttlMs, o.tags);
    return this;
  }

  /** Removes `key`. Returns true if it was present (expired or not). */
  delete(key: TableKey): boolean {
    return this.entries.delete(key);
  }

  /** Removes every entry (each segment atomically; not the whole cache in one step). Statistics are kept. */
  clear(): void {
    this.entries.clear();
  }

  /** Removes every entry whose key starts with `prefix` (a string prefix matches string keys, bytes match byte keys); returns how many. */
  invalidatePrefix(prefix: TableKey): number {
    const bytes = isBytes(prefix);
    if (typeof prefix !== 'string' && !bytes)
      throw new InvalidArgumentError(`prefix must be a string or a Uint8Array, got ${describeValue(prefix)}`);
    const p = bytes ? prefix : new TextEncoder().encode(wellFormed('prefix', prefix));
    return this.entries.removeWhere((key, keyIsBytes) => {
      if (keyIsBytes !== bytes || key.length < p.length) return false;
      for (let i = 0; i < p.length; i++) if (key[i] !== p[i]) return false;
      return true;
    });
  }

  /** Removes every entry tagged `tag`; returns how many. */
  invalidateTag(tag: string): number {
    const t = encodeTags([tag], Infinity).subarray(1);
    return this.entries.removeWhere((_key, _isBytes, record) => recordHasTag(record, t));
  }

  /**
   * The value of `key`; on a miss, computes it with `fn(key)` and stores it.
   * Single-flight across threads: while one call computes a key, the others
   * (in any thread) wait for it and return its value, or throw its error; the
   * next call after a failure computes again. With `staleWhileRevalidateMs`,
   * an expired value still in its window is returned at once while one call
   * refreshes it in the background.
   * @throws whatever `fn` throws (the entry is unchanged); TimeoutError
   *   (after `timeoutMs`), AbortError while waiting; CapacityError beyond
   *   maxPendingComputes; InvalidArgumentError for bad or unknown options
   */
  async getOrCompute(key: TableKey, fn: (key: TableKey) => V | Promise<V>, options?: GetOrComputeOptions): Promise<V> {
    checkFn('fn', fn);
    const o = GET_OR_COMPUTE_OPTIONS.parse(options);
    const deadline = toDeadline(o.timeoutMs);
    // One hit or one miss per call, decided by its first look (a call that
    // waited for another thread's computation is a miss that joined).
    let joined = false;
    for (let first = true; ; first = false) {
      const r = this.entries.get(key);
      if (first) this.sketch?.increment(this.entries.lastHash);
      const now = r === undefined || r.expiresAt === Infinity ? 0 : this.clock.now();
      if (r !== undefined && (r.expiresAt === Infinity || r.expiresAt > now)) {
        if (first) this.count(HITS);
        return r.value;
      }
      const stale = r !== undefined && now < r.expiresAt + this.staleWhileRevalidateMs;
      if (first) this.count(MISSES);
      const flight = this.flights.begin(key);
      if (stale) {
        // Serve the stale value; the flight's leader (perhaps this call) refreshes it.
        this.count(STALE);
        if (flight.lead) void this.compute(key, fn, flight.id, o.ttlMs, o.tags).catch(() => {});
        return r.value;
      }
      if (flight.lead) {
        // Another thread's flight may have stored the value and ended between
        // the read above and this begin: look once more before computing.
        const again = this.entries.get(key);
        if (again !== undefined && (again.expiresAt === Infinity || again.expiresAt > this.clock.now())) {
          this.flights.succeed(key, flight.id);
          return again.value;
        }
        return this.compute(key, fn, flight.id, o.ttlMs, o.tags);
      }
      if (!joined) this.count(JOINS);
      joined = true;
      await this.flights.wait(key, flight.id, deadline, o.signal);
      // The flight ended well (or its leader died): look again.
    }
  }

  /** Counts since creation, summed over every thread (not an atomic snapshot while others run). */
  stats(): CacheStats {
    const sum = (word: number) => {
      let n = 0;
      for (let s = 0; s < STAT_STRIPES; s++) n += load(this.stats32, (s * CACHE_LINE_BYTES) / 4 + word) >>> 0;
      return n;
    };
    const hits = sum(HITS),
      misses = sum(MISSES);
    return {
      hits,
      misses,
      hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      evictions: sum(EVICTIONS),
      expirations: sum(EXPIRATIONS),
      loads: sum(LOADS),
      loadFailures: sum(LOAD_FAILURES),
      stale: sum(STALE),
      joins: sum(JOINS),
      size: this.size,
      capacity: this.capacity,
    };
  }

  /** Sets every statistic to 0 (for a benchmark's fresh start). */
  resetStats(): void {
    for (let i = 0; i < this.stats32.length; i++) store(this.stats32, i, 0);
  }

  /** Runs flight `id`'s computation of `key` as its leader: stores the value, or records the failure for the waiters. */
  private async compute(
    key: TableKey,
    fn: (key: TableKey) => V | Promise<V>,
    id: number,
    ttlMs: number | undefined,
    tags: readonly string[] | undefined,
  ): Promise<V> {
    let value: V;
    try {
      value = await fn(key);
      this.store(key, value, ttlMs, tags);
    } catch (e) {
      this.count(LOAD_FAILURES);
      this.flights.fail(key, id, e);
      throw e;
    }
    this.count(LOADS);
    this.flights.succeed(key, id);
    return value;
  }

  /** `set` with its options checked: the entry's TTL (default: the cache's) and tags. */
  private store(key: TableKey, value: V, ttlMs: number | undefined, tags: readonly string[] | undefined): void {
    const ttl = ttlMs ?? this.ttlMs;
    this.records.tagBytes = tags === undefined ? NO_TAG_BYTES : encodeTags(tags, this.maxTagBytes);
    if (ttl !== Infinity && this.control[EXPIRING] === 0) store(this.control, EXPIRING, 1);
    try {
      this.entries.set(key, { expiresAt: ttl === Infinity ? Infinity : this.clock.now() + ttl, tags: [], value });
    } finally {
      this.records.tagBytes = NO_TAG_BYTES;
    }
  }

  /** Removes `key` if its record has passed its stale window (a read found it expired). */
  private expire(key: TableKey): void {
    const swr = this.staleWhileRevalidateMs;
    let removed = false;
    this.entries.compute(key, (r) => {
      if (r === undefined || r.expiresAt + swr > this.clock.now()) return r;
      removed = true;
      return undefined;
    });
    if (removed) this.count(EXPIRATIONS);
  }

  private count(word: number): void {
    add(this.stats32, this.stripe + word, 1);
  }

  private evictionPolicy(): EvictionPolicy {
    const table = this.entries;
    const swr = this.staleWhileRevalidateMs;
    return {
      victim: (candidates, n) => {
        // Expired first (once any entry has had a TTL).
        const now = this.control[EXPIRING] === 0 ? -Infinity : this.clock.now();
        for (let i = 0; i < n && now !== -Infinity; i++) {
          const at = candidates[i]!;
          if (table.valueHead(at, this.head) === 8 && recordExpiry(this.head) + swr <= now) {
            this.victimExpired = true;
            return at;
          }
        }
        this.victimExpired = false;
        const ticks = table.ticks();
        let best = candidates[0]!;
        if (this.sketch === undefined) {
          for (let i = 1; i < n; i++)
            if (age(ticks, table.stampOf(candidates[i]!)) > age(ticks, table.stampOf(best))) best = candidates[i]!;
          return best;
        }
        // W-TinyLFU: spare the admission window; among the rest, the least frequent, then the least recent.
        let bestFreq = Infinity;
        for (let i = 0; i < n; i++) {
          const at = candidates[i]!;
          if (age(ticks, table.bornOf(at)) < this.windowSize) continue;
          const f = this.sketch.frequency(table.hashOf(at));
          if (f < bestFreq || (f === bestFreq && age(ticks, table.stampOf(at)) > age(ticks, table.stampOf(best)))) {
            best = at;
            bestFreq = f;
          }
        }
        if (bestFreq === Infinity) {
          // All in the window: the least recent of them.
          for (let i = 1; i < n; i++)
            if (age(ticks, table.stampOf(candidates[i]!)) > age(ticks, table.stampOf(best))) best = candidates[i]!;
        }
        return best;
      },
      evicted: () => this.count(this.victimExpired ? EXPIRATIONS : EVICTIONS),
    };
  }
}

const NO_TAG_BYTES = new Uint8Array(0);

/** Ticks since `stamp` (insert counts wrap at 2^32). */
function age(ticks: number, stamp: number): number {
  return (ticks - stamp) >>> 0;
}
