/**
 * IdempotencyStore: the record behind an `Idempotency-Key`, shared by every
 * thread, so a request retried while it runs, or after it finished, does its
 * work once.
 */
import * as crypto from 'node:crypto';
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import type { StripedCounter } from '../atomic/striped-counter.js';
import { counterSet, counterSetBytes, sums } from '../atomic/counter-set.js';
import { idempotencyOutcome } from '../observe/channels.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { CapacityError, InvalidArgumentError, NotOwnerError } from '../errors.js';
import { boolean, duration, integer, oneOf } from '../options/field.js';
import { WHEN_FULL_CLOSED, type KeyedStats } from '../table/when-full.js';
import { ThreadRegistry } from '../threads/registry.js';
import { MAX_VALUE_BYTES, SharedHashTable, TABLE_FULL, maxBytesOption } from '../table/shared-hash-table.js';
import { describeValue, fieldsOf, isBytes, plainObject } from '../validate.js';
import { asStored } from '../memory/utf8.js';
import {
  COMPLETED,
  IN_FLIGHT,
  RECORD_HEADER_BYTES,
  RecordCodec,
  decodeResponse,
  encodeResponse,
  type IdempotencyRecord,
  type IdempotencyResponse,
  type StoredResponse,
} from './idempotency-record.js';

export type { IdempotencyResponse } from './idempotency-record.js';

const { add64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body:
 *   byte 0    ATTEMPTS  BigInt64: the last attempt number handed out (all
 *                       keys); it starts at a random point below 2^48, so a
 *                       token of another store is refused too
 *   byte 128  the records: a SharedHashTable (nested region) from key to
 *             one record (idempotency-record.ts: its layout and codec)
 *   then      the counts of stats() (atomic/counter-set.ts)
 *
 * States of a key: absent -> IN_FLIGHT (begin: 'new') -> COMPLETED
 * (complete) or absent (abort). A record whose expiresAt has passed is
 * treated as absent by every operation: `begin` replaces it in place (a
 * lapsed lease is taken over by the retry; a completed record past its
 * retention is forgotten), so nothing has to clean up; a completed one
 * past its retention is not even decoded beyond its header (RecordCodec).
 * When a new key finds the table full, the table reclaims lapsed records by
 * itself (each record is stamped with its expiry and, with
 * reclaimOnOwnerDeath, its owner when written: table/lapse.ts) before it
 * throws CapacityError.
 *
 * Linearization points: a begin that takes the key ('new'), complete and
 * abort are each one `compute` on the key's record, under its table
 * segment's lock. "Is the key taken?" and "take it" are that one step, so
 * two requests with one key can never both be told 'new' (the
 * check-then-act race that charges a card twice). A begin first reads the
 * record without the lock: if the read sees a live record, the answer
 * (replay, in flight, mismatch) is linearized at that read, a snapshot that
 * was true then, and the duplicates of a burst never queue on the lock;
 * only a read that sees no record, or a lapsed one, goes on to the compute,
 * which decides afresh. A response is validated and measured before its
 * step, which only copies it into the record, so a response that is
 * refused changes nothing.
 *
 * Owner death: a thread dying inside a compute leaves the table to repair
 * itself (the step happened whole or not at all). A thread dying between
 * begin and complete leaves its record in flight: by default the key is
 * retryable when the lease lapses, not at once, because the dead request may
 * have done its work (charged the card) before dying and nothing in memory
 * says whether it did; a retry then is the same decision a lease makes for a
 * stalled request. With `reclaimOnOwnerDeath` (for handlers whose effects
 * die with their thread, such as a transaction on the thread's own
 * connection), a record whose owner thread is known dead (ThreadRegistry) is
 * lapsed at once. An attempt number drawn by a thread that died before its
 * record was written is never used.
 */

const ATTEMPTS = 0; // BigInt64 word
const TABLE_AT = CACHE_LINE_BYTES;

/** Longest key, in characters (UTF-16 code units), as Stripe allows. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** Longest fingerprint, in UTF-8 bytes (a SHA-256 hex digest takes 64). */
export const MAX_IDEMPOTENCY_FINGERPRINT_BYTES = 128;
/** Default `maxKeyBytes`: the UTF-8 size of the longest key of 255 characters, so every valid key fits. */
export const DEFAULT_IDEMPOTENCY_KEY_BYTES = 3 * MAX_IDEMPOTENCY_KEY_LENGTH;
/** Default `maxResponseBytes`. */
export const DEFAULT_IDEMPOTENCY_RESPONSE_BYTES = 4 * 1024;
/**
 * An expiry (completion or begin + a duration, added in float milliseconds)
 * counts as reached this much early: the sum can land an ulp past the time
 * the clock reports at that instant (measured: 1.4% of completion times at
 * fractional milliseconds), and a record would then outlive its retention.
 */
const EXPIRY_SLACK_MS = 1e-3;
/** Default `retentionMs`: a day, as Stripe keeps keys for at least 24 hours. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 3600_000;
/** Largest `maxResponseBytes`. */
export const MAX_IDEMPOTENCY_RESPONSE_BYTES = MAX_VALUE_BYTES - RECORD_HEADER_BYTES - MAX_IDEMPOTENCY_FINGERPRINT_BYTES;

export interface IdempotencyStoreOptions {
  /** Records it holds: keys in flight plus completed keys within their retention. */
  readonly capacity: number;
  /** How long a request may hold its key before a retry may take over (ms of the store's clock, > 0). */
  readonly leaseMs: number;
  /** How long a completed key replays its response (ms from completion; default 24 h). */
  readonly retentionMs?: number;
  /** Longest key in UTF-8 bytes (1 .. 765; default 765: every key of up to 255 characters). */
  readonly maxKeyBytes?: number;
  /** Largest stored response: body bytes plus headers as UTF-8 JSON (default 4 KiB): a ceiling, not a reservation. */
  readonly maxResponseBytes?: number;
  /**
   * Bytes for the records (keys, fingerprints, responses; rounded up to 4
   * KiB): the store's budget, beside `capacity`. A record takes its bytes
   * rounded up to a size class (see SharedHashTable's `maxBytes`); when they
   * are spent, a new key is refused as when every record is live (`whenFull`).
   * Default: room for `capacity` records of the largest size. For example
   * 100,000 records of 20-byte keys, 64-character fingerprints and short
   * responses fit in 32 MiB.
   */
  readonly maxBytes?: number;
  /**
   * Free a record in flight as soon as its thread is known dead, instead of
   * when its lease lapses (default false). Only for handlers whose effects
   * cannot outlive their thread: see the class notes.
   */
  readonly reclaimOnOwnerDeath?: boolean;
  /** The clock leases and retention run on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  /**
   * What `begin` answers for a new key when every record is live (none has
   * lapsed to make room): `'throw'` a CapacityError (default), or
   * `'fail-closed'`: `{ status: 'full', retryAfterMs }` (an HTTP server
   * answers 503 with Retry-After), without the cost of an error. There is
   * no `'fail-open'`: a request run without its record could be charged
   * twice. `stats().refusedWhenFull` counts each refusal.
   */
  readonly whenFull?: 'throw' | 'fail-closed';
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

/** Proof that a request holds its key: pass it to `complete` or `abort`. Plain data: it can cross threads. */
export interface IdempotencyToken {
  readonly key: string;
  /** Unique within the store, strictly increasing: a retry that takes over gets a larger one. */
  readonly attempt: number;
}

/** What `begin` answers. */
export type IdempotencyBegin =
  /**
   * The key is this request's: do the work, then `complete(token, response)`
   * (or `abort(token)`). `recovered` is true when an earlier request held the
   * key and its lease lapsed before it completed (its thread died, or it took
   * longer than `leaseMs`): it may have done part of the work, so check the
   * upstream (a payment provider's charge under this key) before doing it again.
   */
  | { readonly status: 'new'; readonly token: IdempotencyToken; readonly recovered: boolean }
  /** The key was completed by an identical request: send this response again, do nothing. */
  | { readonly status: 'replay'; readonly response: IdempotencyResponse }
  /** An identical request holds the key now; its lease lapses in `retryAfterMs` at the latest. */
  | { readonly status: 'in-flight'; readonly retryAfterMs: number }
  /** The key belongs to a request with another fingerprint (another body, path or method). */
  | { readonly status: 'mismatch' }
  /** Only with `whenFull: 'fail-closed'`: no room for a new key; the first record may lapse in `retryAfterMs`. */
  | { readonly status: 'full'; readonly retryAfterMs: number };

/** What `fingerprint` hashes. */
export interface IdempotencyFingerprintInput {
  readonly method: string;
  readonly path: string;
  readonly body?: string | Uint8Array;
}

const tableSizes = (o: {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly maxResponseBytes: number;
  readonly maxBytes?: number | undefined;
}) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: RECORD_HEADER_BYTES + MAX_IDEMPOTENCY_FINGERPRINT_BYTES + o.maxResponseBytes,
  maxBytes: o.maxBytes,
});

const DEF = definePrimitive(
  'IdempotencyStore',
  1,
  {
    capacity: integer({ max: 2 ** 24 }),
    leaseMs: duration({ positive: true, infinite: false }),
    retentionMs: duration({ positive: true, infinite: false, default: DEFAULT_IDEMPOTENCY_RETENTION_MS }),
    maxKeyBytes: integer({ max: DEFAULT_IDEMPOTENCY_KEY_BYTES, default: DEFAULT_IDEMPOTENCY_KEY_BYTES }),
    maxResponseBytes: integer({ max: MAX_IDEMPOTENCY_RESPONSE_BYTES, default: DEFAULT_IDEMPOTENCY_RESPONSE_BYTES }),
    maxBytes: maxBytesOption(),
    reclaimOnOwnerDeath: boolean(false),
    clock: clock(),
    whenFull: oneOf(WHEN_FULL_CLOSED, 'throw'),
  },
  {
    bodyBytes: (o) => countsAt(o) + counterSetBytes(COUNTS.length),
  },
);
export type IdempotencyStoreHandle = HandleOf<typeof DEF>;

/** What `stats()` counts (striped counters after the records), by `begin`'s answer and the ends of a lease. */
const COUNTS = ['begun', 'replayed', 'inFlight', 'mismatched', 'completed', 'aborted'] as const;
const countsAt = (o: Parameters<typeof tableSizes>[0]): number => padToCacheLine(TABLE_AT + SharedHashTable.byteLength(tableSizes(o)));
/** The count each of `begin`'s answers (but 'full', which the table counts) goes to, in every store. */
export const COUNT_OF = { new: 'begun', replay: 'replayed', 'in-flight': 'inFlight', mismatch: 'mismatched' } as const;

/** What an IdempotencyStore reports (`stats()`): its records, and what every thread's calls answered since it was made. */
export interface IdempotencyStats extends KeyedStats, IdempotencyCounts {}

/** What an idempotency store counts, by `begin`'s answer and the ends of a lease (every store). */
export interface IdempotencyCounts {
  /** `begin` calls that took their key ('new'). */
  readonly begun: number;
  /** `begin` calls answered with a stored response ('replay'). */
  readonly replayed: number;
  /** `begin` calls that found the key's first request still running ('in-flight': an HTTP 409). */
  readonly inFlight: number;
  /** `begin` calls that reused a key with another request ('mismatch': an HTTP 422). */
  readonly mismatched: number;
  /** Leases ended with a response (`complete`). */
  readonly completed: number;
  /** Leases given up (`abort`). */
  readonly aborted: number;
}

/** An idempotency key as every store takes it. @throws InvalidArgumentError */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new InvalidArgumentError(
      `an idempotency key must be a non-empty string of at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${typeof key === 'string' ? `a string of ${key.length}` : describeValue(key)}`,
    );
  }
  return key;
}

/** The fingerprint as its record holds it (`asStored`); its UTF-8 is at most 128 bytes. */
export function checkFingerprint(fingerprint: unknown): string {
  if (typeof fingerprint !== 'string')
    throw new InvalidArgumentError(
      `fingerprint must be a string (IdempotencyStore.fingerprint hashes a request into one), got ${describeValue(fingerprint)}`,
    );
  const bytes = Buffer.byteLength(fingerprint);
  if (bytes > MAX_IDEMPOTENCY_FINGERPRINT_BYTES) {
    throw new InvalidArgumentError(
      `fingerprint is too long: ${bytes} bytes, and the limit is ${MAX_IDEMPOTENCY_FINGERPRINT_BYTES}; hash the request with IdempotencyStore.fingerprint`,
    );
  }
  return asStored(fingerprint);
}

export function checkToken(token: unknown): IdempotencyToken {
  const t = fieldsOf('token', token, ['key', 'attempt']);
  if (t === undefined || typeof t.key !== 'string' || typeof t.attempt !== 'number' || !Number.isSafeInteger(t.attempt)) {
    throw new InvalidArgumentError(`token must be the one begin() returned with status 'new', got ${describeValue(token)}`);
  }
  return { key: t.key, attempt: t.attempt };
}

const oneShotHash = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;
const sha256Hex = (data: Uint8Array): string =>
  typeof oneShotHash === 'function' ? oneShotHash('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');

const me = threadId + 1;
const MISMATCH = Object.freeze({ status: 'mismatch' } as const);
const ABSENT = Object.freeze({ status: 'absent' } as const);
const describeKey = (key: string): string => JSON.stringify(key);

/** What a live record answers a begin: a mismatch, in flight, or the stored response to replay (its headers still JSON). */
type LiveAnswer = typeof MISMATCH | { readonly status: 'in-flight'; readonly retryAfterMs: number } | StoredResponse;

function liveAnswer(r: IdempotencyRecord, fp: string, now: number): LiveAnswer {
  if (r.fingerprint !== fp) return MISMATCH;
  if (r.state === COMPLETED) return r.response!; // its headers parsed by `answer`, outside any lock
  return { status: 'in-flight', retryAfterMs: r.expiresAt - now };
}

function answer(a: LiveAnswer): Exclude<IdempotencyBegin, { status: 'new' }> {
  return typeof a.status === 'number' ? { status: 'replay', response: decodeResponse(a) } : a;
}

/**
 * Throws NotOwnerError unless `r` (the key's record: its attempt and state)
 * is the in-flight record of `t`'s attempt: the one rule of `complete` and
 * `abort`, in every store.
 */
export function checkHolds(
  t: IdempotencyToken,
  r: { readonly attempt: number; readonly state: number } | undefined,
  op: 'complete' | 'abort',
): void {
  if (r?.attempt === t.attempt && r.state === IN_FLIGHT) return;
  const what = `cannot ${op} attempt ${t.attempt} of idempotency key ${describeKey(t.key)}`;
  if (r === undefined) {
    throw new NotOwnerError(`${what}: no request holds the key (it was aborted, or its lease lapsed and the record was reclaimed)`);
  }
  if (r.attempt !== t.attempt) {
    throw new NotOwnerError(
      r.state === IN_FLIGHT
        ? `${what}: attempt ${r.attempt} holds the key now (this attempt's lease lapsed and a retry took over)`
        : `${what}: attempt ${r.attempt} completed the key (this attempt's lease lapsed and a retry took over)`,
    );
  }
  throw new NotOwnerError(`${what}: it was already completed`);
}

/**
 * The records behind idempotency keys, shared by every thread: the first
 * request with a key runs, a duplicate that arrives while it runs is told so
 * (HTTP 409), a duplicate that arrives after it completed gets the same
 * response again (a replay), and a request that reuses the key with another
 * body is refused (HTTP 422). Charge a card, create an order, send a payment:
 * once per key, whichever worker thread each retry lands on.
 *
 * `begin(key, fingerprint)` answers 'new' with a token (the request holds the
 * key), 'replay' with the stored response, 'in-flight' or 'mismatch'.
 * `complete(token, response)` records the response, which every later
 * `begin` with the same fingerprint replays exactly (status, headers, and a
 * string or byte body as it was given) for `retentionMs` after completion;
 * `abort(token)` gives the key up so a retry can run (the handler failed
 * before doing anything). For HTTP servers, `idempotent(store, request,
 * handler)` does all of this and maps the answers to status codes.
 *
 * A request holds its key for `leaseMs`. One that stalls or whose thread dies
 * is retryable when the lease lapses: the retry gets 'new' with a larger
 * attempt number, and the old token's late `complete` or `abort` throws
 * NotOwnerError (a late `complete` before any retry took over is still
 * recorded). Choose `leaseMs` above the slowest request. By default a
 * dead thread's key waits for its lease like a stalled one, because the dead
 * request may already have done its work; `reclaimOnOwnerDeath: true` frees
 * it at once, for handlers whose effects die with their thread.
 *
 * Expired records (past their retention, or abandoned past their lease)
 * count as absent and make room by themselves: a full store reclaims them
 * before it refuses a new key.
 *
 * Memory is fixed at construction: each record takes room for the longest
 * key and the largest response, about 6.4 KB with the defaults and 2.7 KB
 * with `maxKeyBytes: 64, maxResponseBytes: 2048` (`byteLength` tells the
 * exact size). Size `capacity` for the keys of one retention period.
 *
 * Memory synchronization: a `complete` happens-before every `begin` that
 * replays its response; each `begin`, `complete` and `abort` takes effect
 * in one atomic step on its key's record.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a key that is not a
 *   non-empty string of at most 255 characters (or longer than maxKeyBytes in
 *   UTF-8), a fingerprint that is not a string of at most 128 bytes, a token
 *   that is not one, a response that is malformed or larger than
 *   `maxResponseBytes` (nothing is stored: the request still holds its key),
 *   bad options
 * @throws NotOwnerError (`ERR_NOT_OWNER`) from `complete` or `abort` with a
 *   token that no longer holds its key: already completed or aborted, taken
 *   over by a retry after its lease lapsed, or issued for another attempt;
 *   nothing changes
 * @throws CapacityError (`ERR_CAPACITY`) when a new key finds `capacity` live
 *   records (in flight, or completed within their retention)
 * @throws HandleError (`ERR_HANDLE`) from `from` for a foreign handle
 *
 * @example
 * ```ts
 * const store = new IdempotencyStore({ capacity: 50_000, leaseMs: 30_000, maxKeyBytes: 64, maxResponseBytes: 2048 }); // ~143 MB
 * // in any worker, per request:
 * const fp = IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body });
 * const b = store.begin(key, fp);
 * if (b.status === 'replay') return b.response;             // charged before: same answer
 * if (b.status !== 'new') return { status: b.status === 'mismatch' ? 422 : 409 };
 * try {
 *   const charge = await payments.charge(JSON.parse(body));
 *   const response = { status: 201, headers: { 'content-type': 'application/json' }, body: JSON.stringify(charge) };
 *   store.complete(b.token, response);
 *   return response;
 * } catch (e) {
 *   store.abort(b.token); // nothing was charged: let the client retry
 *   throw e;
 * }
 * ```
 * @remarks Since 0.1
 */
export class IdempotencyStore {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: IdempotencyStoreHandle;
  readonly clock: Clock;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly maxResponseBytes: number;
  private readonly reclaimOnOwnerDeath: boolean;
  private readonly failClosed: boolean;
  private readonly attempts: BigInt64Array;
  private readonly records: SharedHashTable<IdempotencyRecord>;
  private readonly counts: Record<(typeof COUNTS)[number], StripedCounter>;
  private readonly codec = new RecordCodec();

  constructor(options: IdempotencyStoreOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    this.handle = region.handle;
    this.leaseMs = o.leaseMs;
    this.retentionMs = o.retentionMs;
    this.maxResponseBytes = o.maxResponseBytes;
    this.reclaimOnOwnerDeath = o.reclaimOnOwnerDeath;
    this.failClosed = o.whenFull === 'fail-closed';
    this.attempts = region.i64(ATTEMPTS, 1);
    const mode = created ? 'create' : 'open';
    // Before publication: a plain store, ordered before any other thread's
    // first read by the postMessage that carries the handle.
    if (mode === 'create') this.attempts[ATTEMPTS] = BigInt(crypto.randomInt(0, 2 ** 48 - 1));
    this.records = SharedHashTable.nested(region, TABLE_AT, tableSizes(o), this.codec, mode);
    this.counts = counterSet(region, countsAt(o), COUNTS, mode);
    this.records.setLapse({
      now: () => this.clock.now(),
      lapsesAt: (r) => r.expiresAt,
      ownerOf: (r) => (this.reclaimOnOwnerDeath && r.state === IN_FLIGHT ? r.owner - 1 : -1),
      full: () => this.full(),
    });
  }

  /** Re-opens a store from its handle, in any thread. @throws HandleError */
  static from(handle: IdempotencyStoreHandle): IdempotencyStore {
    return new IdempotencyStore(DEF.open(handle));
  }

  /** Bytes a store of these options takes. */
  static byteLength(options: IdempotencyStoreOptions): number {
    return DEF.byteLength(options);
  }

  /**
   * The SHA-256 (hex) of a request's method, path and body: what `begin`
   * compares to tell a retry (same fingerprint) from a different request
   * reusing the key. Method and path are length-prefixed, so no shift of
   * bytes between them (or into the body) gives the same input. A string
   * body hashes as its UTF-8 bytes, so it matches the same body as bytes;
   * a missing body matches an empty one.
   * @throws InvalidArgumentError for a method or path that is not a string, a body that is not a string or Uint8Array
   */
  static fingerprint(request: IdempotencyFingerprintInput): string {
    const r = plainObject('request', request);
    if (typeof r.method !== 'string') throw new InvalidArgumentError(`request.method must be a string, got ${describeValue(r.method)}`);
    if (typeof r.path !== 'string') throw new InvalidArgumentError(`request.path must be a string, got ${describeValue(r.path)}`);
    const body = r.body;
    if (body !== undefined && typeof body !== 'string' && !isBytes(body)) {
      throw new InvalidArgumentError(`request.body must be a string or a Uint8Array, got ${describeValue(body)}`);
    }
    // One buffer: [method length, method, path length, path, body], lengths as 32-bit big-endian.
    const m = Buffer.byteLength(r.method),
      p = Buffer.byteLength(r.path);
    const b = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const framed = Buffer.allocUnsafe(8 + m + p + b);
    framed.writeUInt32BE(m, 0);
    framed.write(r.method, 4, 'utf8');
    framed.writeUInt32BE(p, 4 + m);
    framed.write(r.path, 8 + m, 'utf8');
    if (typeof body === 'string') framed.write(body, 8 + m + p, 'utf8');
    else if (body !== undefined) framed.set(body, 8 + m + p);
    return sha256Hex(framed);
  }

  /** Records, capacity, new keys refused because every record was live (see `whenFull`), and the calls' answers, of every thread. */
  stats(): IdempotencyStats {
    return { ...this.records.stats(), ...sums(this.counts) };
  }

  /** Records in the store, lapsed ones not yet reclaimed included (a snapshot). */
  get size(): number {
    return this.records.size;
  }

  /**
   * Starts a request with `key`: takes the key ('new', with the token to
   * finish it), or says why not ('replay' with the stored response,
   * 'in-flight', 'mismatch'). A lapsed record counts as absent.
   */
  begin(key: string, fingerprint: string): IdempotencyBegin {
    const k = checkKey(key);
    const fp = checkFingerprint(fingerprint);
    // A live record answers from a lock-free read (linearized at the read):
    // retries and duplicates never queue on the segment lock.
    const seen = this.records.get(k);
    if (seen !== undefined) {
      const now = this.now();
      if (!this.lapsed(seen, now)) return this.counted(k, answer(liveAnswer(seen, fp, now)));
    }
    let found = null as LiveAnswer | null;
    let token = null as IdempotencyToken | null;
    let recovered = false;
    // Linearization point of a begin that takes the key (or finds it taken since the read): this compute.
    // A full table reclaims lapsed records by itself (setLapse) before it refuses (with this.full()).
    // The function is written inline: tsx (esbuild's keepNames), which runs the benchmarks, names a
    // `const take = (r) => ...` with a defineProperty on every call, about a tenth of a new request.
    const taken = this.records.computeIfRoom(
      k,
      (r) => {
        const now = this.now();
        if (r !== undefined && !this.lapsed(r, now)) {
          found = liveAnswer(r, fp, now);
          token = null;
          return r; // unchanged: no write
        }
        const attempt = Number(add64(this.attempts, ATTEMPTS, 1n) + 1n);
        token = Object.freeze({ key: k, attempt });
        found = null;
        recovered = r?.state === IN_FLIGHT; // a lapsed lease, taken over
        return { state: IN_FLIGHT, attempt, owner: me, expiresAt: now + this.leaseMs, fingerprint: fp, response: null };
      },
      this.failClosed,
    );
    if (taken === TABLE_FULL) return { status: 'full', retryAfterMs: this.untilRoom() };
    return this.counted(k, token !== null ? { status: 'new', token, recovered } : answer(found!));
  }

  /** Counts `begin`'s answer `b` (a full table is counted by the table) and publishes it. */
  private counted<B extends IdempotencyBegin>(key: string, b: B): B {
    if (b.status === 'full') return b;
    this.counts[COUNT_OF[b.status]].increment();
    if (idempotencyOutcome.hasSubscribers) idempotencyOutcome.publish({ store: this, key, outcome: b.status });
    return b;
  }

  /**
   * What `begin(key, fingerprint)` would answer now, without taking anything:
   * `'absent'` where begin would answer 'new' (no record, or a lapsed one).
   * A snapshot, for monitoring and tests; decide with `begin`.
   */
  peek(key: string, fingerprint: string): Exclude<IdempotencyBegin, { status: 'new' }> | { readonly status: 'absent' } {
    const k = checkKey(key);
    const fp = checkFingerprint(fingerprint);
    const r = this.records.get(k);
    const now = this.now();
    if (r === undefined || this.lapsed(r, now)) return ABSENT;
    return answer(liveAnswer(r, fp, now));
  }

  /**
   * Records `response` as the key's outcome: every later `begin` with the
   * same fingerprint replays it, for `retentionMs`.
   * @throws NotOwnerError if the token no longer holds its key (nothing changes)
   * @throws InvalidArgumentError for a malformed response or one larger than
   *   `maxResponseBytes` (nothing is stored; the key stays in flight)
   */
  complete(token: IdempotencyToken, response: IdempotencyResponse): void {
    const t = checkToken(token);
    const encoded = encodeResponse(response, this.maxResponseBytes);
    // Linearization point of complete: this compute.
    this.records.compute(t.key, (r) => {
      checkHolds(t, r, 'complete');
      return { ...r!, state: COMPLETED, expiresAt: this.now() + this.retentionMs, response: encoded };
    });
    this.counts.completed.increment();
  }

  /**
   * Gives the key up without a response, so that a retry runs: for a request
   * that failed before it did anything.
   * @throws NotOwnerError if the token no longer holds its key (nothing changes)
   */
  abort(token: IdempotencyToken): void {
    const t = checkToken(token);
    // Linearization point of abort: this compute.
    this.records.compute(t.key, (r) => {
      checkHolds(t, r, 'abort');
      return undefined;
    });
    this.counts.aborted.increment();
  }

  /** The clock's time, which completed records expired by then decode as forgotten (see RecordCodec). */
  private now(): number {
    const now = this.clock.now();
    this.codec.forgottenBy = now + EXPIRY_SLACK_MS;
    return now;
  }

  /** True if `r` counts as absent: past its expiry, or (with reclaimOnOwnerDeath) in flight on a dead thread. */
  private lapsed(r: IdempotencyRecord, now: number): boolean {
    if (r.expiresAt <= now + EXPIRY_SLACK_MS) return true;
    return this.reclaimOnOwnerDeath && r.state === IN_FLIGHT && !ThreadRegistry.current.isAlive(r.owner - 1);
  }

  /** Milliseconds until the first record may lapse (a lease at most, when none lapses by time). */
  private untilRoom(): number {
    const at = this.records.nextLapse();
    return Number.isFinite(at) ? Math.max(0, at - this.clock.now()) : this.leaseMs;
  }

  private full(): CapacityError {
    return new CapacityError(
      `all ${this.records.capacity} idempotency records are live (in flight, or completed within retentionMs = ${this.retentionMs} ms); ` +
        'create the store with a larger capacity or a shorter retention',
    );
  }
}
