/**
 * VersionedCell: one shared value with a version number, for optimistic
 * concurrency control (compare-the-version-and-write, as an HTTP `If-Match`
 * or a database's `UPDATE … WHERE version = ?`).
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { encodeInto, isCodec, resolveCodec, CODEC_NAMES, type Codec, type CodecName } from '../memory/codec.js';
import { createRegion, openRegion, Region, regionBytes, type Handle, type RegionSpec } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { LIVENESS_SLICE_MS } from '../sync/park.js';
import { ConflictError, DeadlockError, HandleError, InvalidArgumentError, isSabreError, ErrorCode } from '../errors.js';
import { describeValue, fn as checkFn, nonNegativeInteger, oneOf, plainObject, positiveInteger } from '../validate.js';

const { add, compareExchange, load, load64, notify, store, store64, sub, wait } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Layout (region body):
 *   byte   0  SEQ      BigInt64: 2·version while stable; 2·version + 1 while the
 *                      claim holder writes version + 1
 *   byte   8  WRITER   Int32 word 2: threadId + 1 of the write-claim holder, 0 if none
 *   byte  12  WAITERS  Int32 word 3: writers parked on WRITER
 *   byte  16  LEN0     Int32 word 4: byte length of buffer 0's value (EMPTY = -1: undefined)
 *   byte  20  LEN1     Int32 word 5: the same for buffer 1
 *   byte 128  BUF0     maxBytes, padded to 128
 *   then      BUF1     maxBytes, padded to 128
 * Version v's bytes are in buffer v & 1 (double buffering): the next write
 * fills the other buffer, so the published one is never written while current.
 *
 * State (SEQ, WRITER), every legal combination:
 *   (2v,   0)      stable at v, free        a writer: CAS WRITER 0 → me
 *   (2v,   t)      t holds the claim        t: SEQ → 2v+1 if it expected v, else release (conflict)
 *   (2v+1, t)      t writes buffer (v+1)&1  t: LEN, then SEQ → 2v+2 (publish); or SEQ → 2v (abort)
 *   (2v+2, t)      t published              t: WRITER → 0, notify parked writers
 *   (any,  dead t) t died holding it        anyone: CAS WRITER t → me, SEQ odd → SEQ − 1
 * Invariant: only the claim holder moves SEQ; SEQ never decreases except the
 * rollback 2v+1 → 2v of an unpublished write. SEQ is 64-bit so that versions
 * (up to 2^53) never wrap: a wrapped version would let a stale
 * `expectedVersion` match again.
 *
 * The claim is taken on WRITER, not by making SEQ odd: one CAS then both
 * excludes other writers and records who holds it, so no crash can leave a
 * claim without an owner to test for liveness. SEQ's odd state tells readers
 * which buffer may be in use.
 *
 * Linearization points: `write` = the store of SEQ = 2v+2 (publish); a failed
 * `write` (ConflictError) = the load of SEQ that saw another version; `read` =
 * its first load of SEQ (the version it returns was current then).
 *
 * Readers (seqlock style) never wait: load SEQ (s1; v = s1 >> 1), copy
 * LEN[v&1] bytes of buffer v&1 into private memory, load SEQ again (s2). The
 * copy is intact iff no writer of v + 2 (the next user of that buffer) has
 * claimed it: s2 ≤ 2v+2. Otherwise retry. Decoding runs on the private copy,
 * after the check, so a parser never sees a concurrent write.
 *
 * Owner death: a writer can die after any step. Holding the claim with SEQ
 * even, or after publishing: the state is complete, the claim is just taken
 * over. Mid-write (SEQ odd): only the inactive buffer is torn; the taker
 * rolls SEQ back to 2v, which still describes the untouched active buffer.
 * Writers waiting for the claim park in LIVENESS_SLICE_MS slices and check the
 * holder's liveness (ThreadRegistry, which asks the OS), so a dead holder is
 * replaced within one slice whatever its parent thread is doing.
 */

const SEQ = 0; // BigInt64 word index
const WRITER = 2, WAITERS = 3, LEN0 = 4; // Int32 word indexes (LEN of buffer b = LEN0 + b)
const CONTROL_WORDS = 6;
const BUFFERS_AT = CACHE_LINE_BYTES; // body byte offset of buffer 0
const EMPTY = -1; // a LEN: the value is `undefined` and has no bytes

/** The largest `maxBytes` (two buffers of it must fit in one region). */
export const MAX_CELL_BYTES = 2 ** 29;
/** Conflict retries of `update` when no `retries` option is given. */
export const DEFAULT_UPDATE_RETRIES = 10;

export interface VersionedCellOptions<T> {
  /** Largest encoded value, in bytes (1 .. 2^29). */
  readonly maxBytes: number;
  /** `'v8'` (default), `'json'`, `'string'`, `'bytes'`, or a `Codec<T>`. */
  readonly codec?: CodecName | Codec<T>;
  /** The value at version 0 (default: `undefined`, for which `T` must allow it). */
  readonly initial?: T;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
interface VersionedCellHandleOptions {
  readonly maxBytes: number;
  /** The codec's name, or 'custom' (the user passes it again to `from`). */
  readonly codec: CodecName | 'custom';
}
export type VersionedCellHandle = Handle<'sabre.VersionedCell', VersionedCellHandleOptions>;

/** A value and the version it had. */
export interface Versioned<T> {
  readonly value: T;
  /** 0 for the initial value, +1 per successful write. */
  readonly version: number;
}
/** What `update` returns: the value written, its version, and how many attempts it took. */
export interface VersionedUpdate<T> extends Versioned<T> {
  /** 1 when the first attempt succeeded; 1 + the conflicts retried. */
  readonly attempts: number;
}
export interface UpdateOptions {
  /** Conflicts to retry before throwing the last ConflictError (default 10; Infinity allowed). */
  readonly retries?: number;
}

const SPEC: RegionSpec<'sabre.VersionedCell', VersionedCellHandleOptions> = {
  kind: 'sabre.VersionedCell',
  version: 1,
  bodyBytes: (o) => BUFFERS_AT + 2 * padToCacheLine(o.maxBytes),
};

const CODEC_OPTIONS = [...CODEC_NAMES, 'custom'] as const;

function checkHandleOptions(raw: unknown): VersionedCellHandleOptions {
  const o = plainObject('options', raw);
  const extra = Object.keys(o).filter((k) => k !== 'maxBytes' && k !== 'codec');
  if (extra.length > 0) throw new InvalidArgumentError(`a VersionedCell handle has only maxBytes and codec options, got ${extra.join(', ')}`);
  return { maxBytes: positiveInteger('maxBytes', o.maxBytes, MAX_CELL_BYTES), codec: oneOf('codec', o.codec, CODEC_OPTIONS) };
}

const me = threadId + 1;

/**
 * A shared value with a version: optimistic locking across threads.
 *
 * `read()` returns the value and its version without waiting for anyone.
 * `write(value, expectedVersion)` stores `value` as version
 * `expectedVersion + 1` only if the cell is still at `expectedVersion`, and
 * otherwise throws `ConflictError` with `{ expectedVersion, actualVersion }`
 * in its details, leaving the cell unchanged. `update(fn)` is the
 * read-modify-write loop over both, retrying conflicts.
 *
 * Values go through a codec (default `'v8'`, the structured clone of
 * `postMessage`) and must encode to at most `maxBytes`. A reader always gets
 * a complete value of one version, decoded into its own private copy, never a
 * mix of two writes. A writer that dies mid-write leaves the previous value
 * and version in place; the next writer takes over within `LIVENESS_SLICE_MS`.
 *
 * `read` never waits. `write` waits (a short blocking `Atomics.wait`, in
 * slices) only while another thread is in the middle of writing the very
 * version it expects, since that write decides whether this one conflicts;
 * a write whose version is already stale throws at once. The holder's write
 * is an encode and a copy of at most `maxBytes`; with a user codec that has
 * `encodeInto`, that user code runs while the others wait.
 *
 * Memory synchronization: a successful `write` happens-before every `read`
 * that returns its version (or a later one).
 *
 * @throws ConflictError (`ERR_CONFLICT`) from `write`/`update` when the version is stale
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a value whose encoding
 * exceeds `maxBytes` or that the codec cannot encode, a bad option or version
 * (the cell is unchanged)
 * @throws HandleError (`ERR_HANDLE`) from `from` for a foreign handle, or a
 * custom-codec handle re-opened without its codec
 * @throws DeadlockError (`ERR_DEADLOCK`) if a custom codec's `encodeInto` writes to the cell it is encoding for
 *
 * @example
 * ```ts
 * const config = new VersionedCell<{ limit: number }>({ maxBytes: 256, initial: { limit: 10 } });
 * const { value, version } = config.read();
 * config.write({ ...value, limit: 20 }, version);        // throws ConflictError if someone wrote first
 * config.update((c) => ({ ...c, limit: c.limit + 1 }));  // re-reads and retries on conflict
 * // another thread: VersionedCell.from(handle).read()
 * ```
 * @remarks Since 0.1
 */
export class VersionedCell<T = unknown> {
  readonly handle: VersionedCellHandle;
  /** Largest encoded value, in bytes. */
  readonly maxBytes: number;
  private readonly codec: Codec<T>;
  private readonly seq: BigInt64Array;
  private readonly words: Int32Array;
  private readonly buffers: readonly [Uint8Array, Uint8Array];

  /**
   * @param options the cell's options, or (internally) an opened region
   * @param codecOfRegion internal: the codec to use with an opened region
   */
  constructor(options: VersionedCellOptions<T> | Region<'sabre.VersionedCell', VersionedCellHandleOptions>, codecOfRegion?: Codec<T>) {
    let region: Region<'sabre.VersionedCell', VersionedCellHandleOptions>;
    let initial: Uint8Array | undefined;
    if (options instanceof Region) {
      region = options;
      this.codec = codecOfRegion ?? (resolveCodec(region.options.codec as CodecName).codec as Codec<T>);
    } else {
      const o = plainObject('options', options) as Partial<VersionedCellOptions<T>>;
      const maxBytes = positiveInteger('maxBytes', o.maxBytes, MAX_CELL_BYTES);
      const { name, codec } = resolveCodec<T>(o.codec);
      this.codec = codec;
      // Encode before allocating: a bad initial value costs no arena space.
      if (o.initial !== undefined) initial = this.encodeChecked(o.initial, maxBytes);
      region = createRegion(SPEC, { maxBytes, codec: name }, o.arena as SharedArena | undefined);
    }
    this.handle = region.handle;
    this.maxBytes = region.options.maxBytes;
    this.seq = region.i64(0, 1);
    this.words = region.i32(0, CONTROL_WORDS);
    const stride = padToCacheLine(this.maxBytes);
    this.buffers = [region.u8(BUFFERS_AT, this.maxBytes), region.u8(BUFFERS_AT + stride, this.maxBytes)];
    if (!(options instanceof Region)) {
      // Version 0 lives in buffer 0. Published before the handle leaves this thread.
      if (initial !== undefined) this.buffers[0].set(initial);
      store(this.words, LEN0, initial === undefined ? EMPTY : initial.length);
    }
  }

  /**
   * Re-opens a cell from its handle, in any thread. A cell made with a user
   * codec needs it again (`{ codec }`): functions cannot travel in a handle.
   * @throws HandleError for a foreign handle, a missing custom codec, or a
   * codec other than the one the cell was made with
   */
  static from<T = unknown>(handle: VersionedCellHandle, options: { readonly codec?: CodecName | Codec<T> } = {}): VersionedCell<T> {
    const region = openRegion(SPEC, handle, checkHandleOptions);
    const recorded = region.options.codec;
    const given = plainObject('options', options).codec as CodecName | Codec<T> | undefined;
    if (recorded === 'custom') {
      if (!isCodec(given)) {
        throw new HandleError(`this VersionedCell was made with a custom codec, which cannot travel in a handle: pass it again with VersionedCell.from(handle, { codec }), got ${given === undefined ? 'no codec' : describeValue(given)}`);
      }
      return new VersionedCell<T>(region, resolveCodec(given).codec);
    }
    if (given !== undefined && given !== recorded) {
      throw new HandleError(`this VersionedCell uses the '${recorded}' codec, got ${typeof given === 'string' ? `'${given}'` : 'a custom codec'}`);
    }
    return new VersionedCell<T>(region);
  }

  /** Bytes a cell takes (in an arena, rounded up to 128). */
  static byteLength(options: Pick<VersionedCellOptions<unknown>, 'maxBytes'>): number {
    const maxBytes = positiveInteger('maxBytes', plainObject('options', options).maxBytes, MAX_CELL_BYTES);
    return regionBytes(SPEC, { maxBytes, codec: 'v8' });
  }

  /** The current version (a snapshot). */
  get version(): number {
    return Number(load64(this.seq, SEQ) >> 1n);
  }

  /** The current value and its version. Never waits for a writer. */
  read(): Versioned<T> {
    let backoff: Backoff | undefined;
    for (;;) {
      const s1 = load64(this.seq, SEQ); // linearization point
      const v = s1 >> 1n;
      const b = Number(v & 1n);
      const n = load(this.words, LEN0 + b);
      const copy = n > 0 ? this.buffers[b]!.slice(0, n) : undefined;
      // Buffer b is next written by the writer of v + 2, which first makes SEQ 2v + 3.
      if (load64(this.seq, SEQ) <= s1 - (s1 & 1n) + 2n) {
        const value = n === EMPTY ? (undefined as T) : this.codec.decode(copy ?? new Uint8Array(0));
        return { value, version: Number(v) };
      }
      (backoff ??= new Backoff()).spin();
    }
  }

  /**
   * Writes `value` as version `expectedVersion + 1` if the cell is at
   * `expectedVersion`; returns the new version.
   * @throws ConflictError when the cell is at another version (details:
   * `expectedVersion`, `actualVersion`); the cell is unchanged
   * @throws InvalidArgumentError when `value` cannot be encoded or needs more
   * than `maxBytes`; the cell is unchanged
   */
  write(value: T, expectedVersion: number): number {
    const expected = nonNegativeInteger('expectedVersion', expectedVersion);
    // Without a fast path, encode before claiming: a shorter hold, and errors before it.
    const bytes = this.codec.encodeInto === undefined ? this.encodeChecked(value, this.maxBytes) : undefined;
    const stable = 2n * BigInt(expected);
    const found = load64(this.seq, SEQ);
    if (found >> 1n !== stable >> 1n) throw this.conflict(expected, found);
    this.claim(stable);
    return this.writeClaimed(value, bytes, stable);
  }

  /**
   * Reads, applies `fn` to the value (and its version), and writes the result
   * with the version it read; on a conflict, does it all again, at most
   * `retries` more times. `fn` may run several times, so it must not have side
   * effects, and it must be synchronous. If it throws, nothing is written.
   * @throws ConflictError (the last one) when every attempt conflicted
   */
  update(fn: (value: T, version: number) => T, options: UpdateOptions = {}): VersionedUpdate<T> {
    checkFn('fn', fn);
    const raw = plainObject('options', options).retries;
    const retries = raw === Infinity ? Infinity : nonNegativeInteger('retries', raw ?? DEFAULT_UPDATE_RETRIES);
    let backoff: Backoff | undefined;
    for (let attempts = 1; ; attempts++) {
      const { value, version } = this.read();
      const next = fn(value, version);
      if (typeof (next as { then?: unknown } | null)?.then === 'function') {
        throw new InvalidArgumentError('update(fn): fn returned a promise; fn must compute the next value synchronously');
      }
      try {
        return { value: next, version: this.write(next, version), attempts };
      } catch (e) {
        if (!isSabreError(e, ErrorCode.CONFLICT) || attempts > retries) throw e;
      }
      (backoff ??= new Backoff()).spin();
    }
  }

  /**
   * @internal Test hook: claims the cell for a write of `expectedVersion + 1`,
   * scribbles over the inactive buffer and returns still holding the claim,
   * exactly as a writer that dies mid-write leaves it. Never call it outside tests.
   */
  _abandonWriteForTesting(expectedVersion: number): void {
    const stable = 2n * BigInt(nonNegativeInteger('expectedVersion', expectedVersion));
    this.claim(stable);
    if (load64(this.seq, SEQ) !== stable) {
      this.release();
      throw this.conflict(expectedVersion, load64(this.seq, SEQ));
    }
    store64(this.seq, SEQ, stable + 1n);
    const b = Number(((stable >> 1n) + 1n) & 1n);
    this.buffers[b]!.fill(0xff);
    store(this.words, LEN0 + b, this.maxBytes);
  }

  // ---- write internals ---------------------------------------------------

  /** Holding the claim: checks the version, fills the inactive buffer, publishes, releases. */
  private writeClaimed(value: T, bytes: Uint8Array | undefined, stable: bigint): number {
    const found = load64(this.seq, SEQ); // even: only the holder moves SEQ
    if (found !== stable) {
      this.release();
      throw this.conflict(Number(stable >> 1n), found);
    }
    store64(this.seq, SEQ, stable + 1n); // intent: buffer (v + 1) & 1 is being written
    const b = Number(((stable >> 1n) + 1n) & 1n);
    const target = this.buffers[b]!;
    let n: number;
    try {
      if (bytes !== undefined) {
        target.set(bytes);
        n = bytes.length;
      } else {
        n = encodeInto(this.codec, value, target);
      }
    } catch (e) {
      this.abort(stable);
      throw e;
    }
    if (n < 0) {
      this.abort(stable);
      throw this.tooLarge(value, this.maxBytes);
    }
    store(this.words, LEN0 + b, n);
    store64(this.seq, SEQ, stable + 2n); // linearization point: version v + 1 is published
    this.release();
    return Number(stable >> 1n) + 1;
  }

  /** Undoes an unpublished write: SEQ back to `stable`, claim released. */
  private abort(stable: bigint): void {
    store64(this.seq, SEQ, stable);
    this.release();
  }

  /**
   * Takes the write claim. Waits while a live thread holds it and its outcome
   * decides this write's (the cell is at `stable` or being written from it);
   * takes it over from a dead holder.
   * @throws ConflictError as soon as the cell is at another version
   */
  private claim(stable: bigint): void {
    if (compareExchange(this.words, WRITER, 0, me) === 0) return;
    this.claimSlow(stable);
  }

  private claimSlow(stable: bigint): void {
    const backoff = new Backoff();
    for (;;) {
      const holder = compareExchange(this.words, WRITER, 0, me);
      if (holder === 0) return;
      if (holder === me) throw new DeadlockError('write() of a VersionedCell re-entered while this thread is writing it (from a codec?)');
      if (!ThreadRegistry.current.isAlive(holder - 1)) {
        if (this.takeOver(holder)) return;
        continue;
      }
      const found = load64(this.seq, SEQ);
      if (found >> 1n !== stable >> 1n) throw this.conflict(Number(stable >> 1n), found);
      if (!backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      // Park until the holder releases (it notifies when WAITERS > 0) or one
      // liveness slice passes. Incrementing WAITERS before the wait, and the
      // holder's release storing WRITER before reading WAITERS, means either
      // it sees us or our wait sees WRITER changed ('not-equal').
      add(this.words, WAITERS, 1);
      wait(this.words, WRITER, holder, LIVENESS_SLICE_MS);
      sub(this.words, WAITERS, 1);
    }
  }

  /** Replaces dead `holder` with this thread and undoes its unpublished write. */
  private takeOver(holder: number): boolean {
    // Linearization point of recovery: the CAS that moves the claim to this thread.
    if (compareExchange(this.words, WRITER, holder, me) !== holder) return false;
    const s = load64(this.seq, SEQ);
    if ((s & 1n) === 1n) store64(this.seq, SEQ, s - 1n); // the active buffer is untouched
    return true;
  }

  private release(): void {
    store(this.words, WRITER, 0);
    if (load(this.words, WAITERS) > 0) notify(this.words, WRITER);
  }

  private encodeChecked(value: T, maxBytes: number): Uint8Array {
    const bytes = this.codec.encode(value);
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`codec.encode must return a Uint8Array, got ${describeValue(bytes)}`);
    if (bytes.length > maxBytes) throw new InvalidArgumentError(`value needs ${bytes.length} bytes encoded, more than maxBytes ${maxBytes}`);
    return bytes;
  }

  private tooLarge(value: T, maxBytes: number): InvalidArgumentError {
    let needs = '';
    try {
      needs = ` (it needs ${this.codec.encode(value).length})`;
    } catch {
      // the length is only for the message
    }
    return new InvalidArgumentError(`value does not fit in maxBytes ${maxBytes}${needs}`);
  }

  private conflict(expected: number, found: bigint): ConflictError {
    const actual = Number(found >> 1n);
    return new ConflictError(`version conflict: expected version ${expected}, the cell is at version ${actual}`, {
      expectedVersion: expected,
      actualVersion: actual,
    });
  }
}
