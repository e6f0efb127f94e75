/**
 * SeqLock: one shared value that many threads read without locks while one
 * writer at a time replaces it; readers never see a torn value.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { encodeInto, isCodec, resolveCodec, CODEC_NAMES, type Codec, type CodecName } from '../memory/codec.js';
import { createRegion, openRegion, Region, regionBytes, type Handle, type RegionSpec } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { ThreadRegistry } from '../threads/registry.js';
import { systemClock } from '../clock.js';
import { parkSync, toDeadline } from '../sync/park.js';
import { DeadlockError, HandleError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { describeValue, oneOf, plainObject, positiveInteger, timeoutMs as checkTimeout } from '../validate.js';

const { add, compareExchange, load, notify, store, sub } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * A double-buffered seqlock (Linux's seqcount_latch; the same scheme as
 * VersionedCell, without version checks): the value of generation g lives in
 * buffer g & 1, and a writer always fills the other buffer, so the published
 * one is never written while it is current.
 *
 * Layout (region body):
 *   word 0  SEQ      Int32: 2g while stable; 2g + 1 while the claim holder
 *                    writes generation g + 1 (into buffer (g + 1) & 1)
 *   word 1  WRITER   threadId + 1 of the write-claim holder, 0 if none
 *   word 2  WAITERS  writers parked on WRITER
 *   word 3  LEN0     buffer 0's value: its byte length (codec), or
 *                    FLOAT64_BIT | count (writeFrom), or EMPTY (undefined)
 *   word 4  LEN1     the same for buffer 1
 *   byte 128 BUF0    maxBytes, padded to 128 (so also Int32-aligned)
 *   then     BUF1
 *
 * State (SEQ, WRITER), every legal combination:
 *   (2g,   0)       stable at g, free       a writer: CAS WRITER 0 → me
 *   (2g,   t)       t holds the claim       t: SEQ → 2g + 1
 *   (2g+1, t)       t fills buffer (g+1)&1  t: LEN, then SEQ → 2g + 2; or SEQ → 2g (encode failed)
 *   (2g+2, t)       t published             t: WRITER → 0, notify parked writers
 *   (any,  dead t)  t died holding it       a writer: CAS WRITER t → me, then SEQ odd → SEQ − 1
 * Only the claim holder moves SEQ. SEQ is compared modulo 2^32
 * (`(s2 - s1) | 0`): a reader is fooled only if it sleeps through exactly
 * 2^31 writes between its two loads (Linux's seqcount makes the same bet).
 *
 * Readers: load SEQ (s1; g = s1 >> 1, whose buffer is g & 1 even while s1 is
 * odd), copy LEN and the buffer into private memory, load SEQ again (s2). The
 * copy is intact iff the writer of g + 2, the next one to touch buffer g & 1,
 * has not started: s2 − 2g ≤ 2. Otherwise retry (spinning, never parking: a
 * reader never waits for a writer, it only repeats a copy a writer overlapped).
 * Decoding runs on the private copy after the check. `readInto`/`writeFrom`
 * copy Int32 words with atomic loads and stores: under the JS memory model (as
 * under C++'s, Boehm 2012) a plain read followed by an atomic load may be
 * satisfied after it, and only all-atomic copies make the s2 check sound on
 * every CPU. The codec path copies bytes plainly, as VersionedCell does (x86
 * keeps loads in order; a per-byte atomic copy would cost more than the value).
 *
 * Linearization points: `write` = the store SEQ = 2g + 2 (publish); `read` =
 * its first load of SEQ (the value it returns was current then; a retry moves
 * the point to its own first load).
 *
 * Owner death: a writer can die after any step. With SEQ even, the state is
 * complete and the claim is simply taken over. Mid-write (SEQ odd): only the
 * inactive buffer is torn; the taker rolls SEQ back to 2g, which still names
 * the untouched published buffer. Readers are never affected: they never wait
 * on SEQ, so a writer that stopped with SEQ odd cannot stall them, and no
 * reader needs a liveness check. Writers waiting for the claim park in
 * LIVENESS_SLICE_MS slices and check the holder's liveness, so a dead holder
 * is replaced within one slice of stopping.
 */

const SEQ = 0, WRITER = 1, WAITERS = 2, LEN0 = 3; // Int32 word indexes (LEN of buffer b = LEN0 + b)
const CONTROL_WORDS = 5;
const BUFFERS_AT = CACHE_LINE_BYTES; // body byte offset of buffer 0
const EMPTY = -1; // a LEN: the value is `undefined`
const FLOAT64_BIT = 1 << 30; // a LEN: a writeFrom record of (LEN & COUNT_MASK) float64s
const COUNT_MASK = FLOAT64_BIT - 1;

/** The largest `maxBytes` (two buffers of it must fit in one region). */
export const MAX_SEQLOCK_BYTES = 2 ** 29;

export interface SeqLockOptions<T> {
  /** Largest encoded value, in bytes (1 .. 2^29); a `writeFrom` record of n numbers takes 8n. */
  readonly maxBytes: number;
  /** `'v8'` (default), `'json'`, `'string'`, `'bytes'`, or a `Codec<T>`. */
  readonly codec?: CodecName | Codec<T>;
  /** The initial value (default: `undefined`, for which `T` must allow it). */
  readonly initial?: T;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
interface SeqLockHandleOptions {
  readonly maxBytes: number;
  /** The codec's name, or 'custom' (the user passes it again to `from`). */
  readonly codec: CodecName | 'custom';
}
export type SeqLockHandle = Handle<'sabre.SeqLock', SeqLockHandleOptions>;

export interface SeqLockWriteOptions {
  /** Milliseconds to wait for another writer to finish (default: forever; 0 = try once). */
  readonly timeout?: number;
}

const SPEC: RegionSpec<'sabre.SeqLock', SeqLockHandleOptions> = {
  kind: 'sabre.SeqLock',
  version: 1,
  bodyBytes: (o) => BUFFERS_AT + 2 * padToCacheLine(o.maxBytes),
};

const CODEC_OPTIONS = [...CODEC_NAMES, 'custom'] as const;

function checkHandleOptions(raw: unknown): SeqLockHandleOptions {
  const o = plainObject('options', raw);
  const extra = Object.keys(o).filter((k) => k !== 'maxBytes' && k !== 'codec');
  if (extra.length > 0) throw new InvalidArgumentError(`a SeqLock handle has only maxBytes and codec options, got ${extra.join(', ')}`);
  return { maxBytes: positiveInteger('maxBytes', o.maxBytes, MAX_SEQLOCK_BYTES), codec: oneOf('codec', o.codec, CODEC_OPTIONS) };
}

function writeTimeout(raw: SeqLockWriteOptions | undefined): number {
  return raw === undefined ? Infinity : checkTimeout('timeout', plainObject('options', raw).timeout);
}

const me = threadId + 1;

/**
 * A shared value for many readers and one writer at a time: readers take no
 * lock and never see a torn value.
 *
 * `read()` returns the current value, decoded into a private copy. It never
 * waits for a writer: if a write overlapped its copy, it copies again.
 * `write(value)` replaces the value; writers exclude each other (the second
 * waits, in slices, for the first, or use `tryWrite`). There are no version
 * checks: for compare-and-write, use `VersionedCell`.
 *
 * For the classic seqlock record (a price and its timestamp, a position),
 * `writeFrom(numbers)` / `readInto(float64Array)` store float64s with no codec
 * and no allocation. A value written one way must be read the same way
 * (`read` refuses a `writeFrom` record, `readInto` a codec value).
 *
 * A writer that dies mid-write leaves the previous value in place: readers go
 * on reading it, and the next writer takes over within `LIVENESS_SLICE_MS`.
 *
 * Memory synchronization: a `write` happens-before every `read` that returns
 * its value (or a later one).
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a value whose encoding
 * exceeds `maxBytes` or that the codec cannot encode (the value is unchanged),
 * a bad option, or a read of the wrong form
 * @throws TimeoutError (`ERR_TIMEOUT`) when `write` waited `timeout` ms for another writer
 * @throws DeadlockError (`ERR_DEADLOCK`) if a codec writes to the SeqLock it is encoding for
 * @throws HandleError (`ERR_HANDLE`) from `from` for a foreign handle, or a
 * custom-codec handle re-opened without its codec
 *
 * @example
 * ```ts
 * const quote = new SeqLock({ maxBytes: 16 });           // [price, timestamp]
 * quote.writeFrom([101.5, Date.now()]);                   // the feed thread
 * const q = new Float64Array(2);
 * SeqLock.from(handle).readInto(q);                       // any thread: never a price with another's time
 * const config = new SeqLock<{ limit: number }>({ maxBytes: 256, codec: 'json', initial: { limit: 10 } });
 * config.write({ limit: 20 });
 * config.read().limit;                                    // 20
 * ```
 * @remarks Since 0.1
 */
export class SeqLock<T = unknown> {
  readonly handle: SeqLockHandle;
  /** Largest encoded value, in bytes. */
  readonly maxBytes: number;
  private readonly codec: Codec<T>;
  private readonly words: Int32Array;
  private readonly buffers: readonly [Uint8Array, Uint8Array];
  private readonly buffer32: readonly [Int32Array, Int32Array];
  /** Private staging for float64 records (never shared). */
  private scratch = new Float64Array(4);
  private scratch32 = new Int32Array(this.scratch.buffer);

  /**
   * @param options the lock's options, or (internally) an opened region
   * @param codecOfRegion internal: the codec to use with an opened region
   */
  constructor(options: SeqLockOptions<T> | Region<'sabre.SeqLock', SeqLockHandleOptions>, codecOfRegion?: Codec<T>) {
    let region: Region<'sabre.SeqLock', SeqLockHandleOptions>;
    let initial: Uint8Array | undefined;
    if (options instanceof Region) {
      region = options;
      this.codec = codecOfRegion ?? (resolveCodec(region.options.codec as CodecName).codec as Codec<T>);
    } else {
      const o = plainObject('options', options) as Partial<SeqLockOptions<T>>;
      const maxBytes = positiveInteger('maxBytes', o.maxBytes, MAX_SEQLOCK_BYTES);
      const { name, codec } = resolveCodec<T>(o.codec);
      this.codec = codec;
      // Encode before allocating: a bad initial value costs no arena space.
      if (o.initial !== undefined) initial = this.encodeChecked(o.initial, maxBytes);
      region = createRegion(SPEC, { maxBytes, codec: name }, o.arena as SharedArena | undefined);
    }
    this.handle = region.handle;
    this.maxBytes = region.options.maxBytes;
    this.words = region.i32(0, CONTROL_WORDS);
    const stride = padToCacheLine(this.maxBytes);
    this.buffers = [region.u8(BUFFERS_AT, this.maxBytes), region.u8(BUFFERS_AT + stride, this.maxBytes)];
    this.buffer32 = [region.i32(BUFFERS_AT, stride >> 2), region.i32(BUFFERS_AT + stride, stride >> 2)];
    if (!(options instanceof Region)) {
      // Generation 0 lives in buffer 0. Published before the handle leaves this thread.
      if (initial !== undefined) this.buffers[0].set(initial);
      store(this.words, LEN0, initial === undefined ? EMPTY : initial.length);
    }
  }

  /**
   * Re-opens a SeqLock from its handle, in any thread. One made with a user
   * codec needs it again (`{ codec }`): functions cannot travel in a handle.
   * @throws HandleError for a foreign handle, a missing custom codec, or a
   * codec other than the one it was made with
   */
  static from<T = unknown>(handle: SeqLockHandle, options: { readonly codec?: CodecName | Codec<T> } = {}): SeqLock<T> {
    const region = openRegion(SPEC, handle, checkHandleOptions);
    const recorded = region.options.codec;
    const given = plainObject('options', options).codec as CodecName | Codec<T> | undefined;
    if (recorded === 'custom') {
      if (!isCodec(given)) {
        throw new HandleError(`this SeqLock was made with a custom codec, which cannot travel in a handle: pass it again with SeqLock.from(handle, { codec }), got ${given === undefined ? 'no codec' : describeValue(given)}`);
      }
      return new SeqLock<T>(region, resolveCodec(given).codec);
    }
    if (given !== undefined && given !== recorded) {
      throw new HandleError(`this SeqLock uses the '${recorded}' codec, got ${typeof given === 'string' ? `'${given}'` : 'a custom codec'}`);
    }
    return new SeqLock<T>(region);
  }

  /** Bytes a SeqLock takes (in an arena, rounded up to 128). */
  static byteLength(options: Pick<SeqLockOptions<unknown>, 'maxBytes'>): number {
    const maxBytes = positiveInteger('maxBytes', plainObject('options', options).maxBytes, MAX_SEQLOCK_BYTES);
    return regionBytes(SPEC, { maxBytes, codec: 'v8' });
  }

  /** Writes completed so far (a snapshot; wraps at 2^31). */
  get writes(): number {
    return load(this.words, SEQ) >>> 1;
  }

  /** True while some thread holds the write claim (a snapshot). */
  get isWriting(): boolean {
    return load(this.words, WRITER) !== 0;
  }

  /**
   * The current value, decoded into a private copy. Never waits for a writer.
   * @throws InvalidArgumentError if the current value was stored by `writeFrom`
   */
  read(): T {
    let backoff: Backoff | undefined;
    for (;;) {
      const s1 = load(this.words, SEQ); // linearization point
      const b = (s1 >>> 1) & 1;
      const n = load(this.words, LEN0 + b);
      const copy = n > 0 && n < FLOAT64_BIT ? this.buffers[b]!.slice(0, n) : undefined;
      // Buffer b is next written by the writer of g + 2, which first makes SEQ 2g + 3.
      if (((load(this.words, SEQ) - (s1 & ~1)) | 0) <= 2) {
        if (n === EMPTY) return undefined as T;
        if (n >= FLOAT64_BIT) throw new InvalidArgumentError('read() of a SeqLock whose value was written by writeFrom: read it with readInto(float64Array)');
        return this.codec.decode(copy ?? new Uint8Array(0));
      }
      (backoff ??= new Backoff()).spin();
    }
  }

  /**
   * Copies the current `writeFrom` record into `target` and returns how many
   * numbers it has (0 while the value is `undefined`). Allocates nothing.
   * @throws InvalidArgumentError if `target` is not a Float64Array, is shorter
   * than the record, or the current value was stored by `write`
   */
  readInto(target: Float64Array): number {
    if (!(target instanceof Float64Array)) throw new InvalidArgumentError(`readInto(target): target must be a Float64Array, got ${describeValue(target)}`);
    let backoff: Backoff | undefined;
    for (;;) {
      const s1 = load(this.words, SEQ); // linearization point
      const b = (s1 >>> 1) & 1;
      const n = load(this.words, LEN0 + b);
      const count = n >= FLOAT64_BIT ? n & COUNT_MASK : 0;
      if (count > 0 && count <= target.length) {
        const words = this.stage(count);
        const from = this.buffer32[b]!;
        for (let i = 0; i < 2 * count; i++) words[i] = load(from, i);
      }
      if (((load(this.words, SEQ) - (s1 & ~1)) | 0) <= 2) {
        if (n === EMPTY) return 0;
        if (n < FLOAT64_BIT) throw new InvalidArgumentError('readInto() of a SeqLock whose value was written by write: read it with read()');
        if (count > target.length) throw new InvalidArgumentError(`readInto(target): the record has ${count} numbers, got a target of length ${target.length}`);
        const staged = this.scratch;
        for (let i = 0; i < count; i++) target[i] = staged[i]!; // a subarray would allocate
        return count;
      }
      (backoff ??= new Backoff()).spin();
    }
  }

  /**
   * Replaces the value. Waits (blocking, in slices) while another thread writes.
   * @throws InvalidArgumentError when `value` cannot be encoded or needs more
   * than `maxBytes` (the value is unchanged)
   * @throws TimeoutError when another writer held the claim for `timeout` ms
   */
  write(value: T, options?: SeqLockWriteOptions): void {
    const timeout = writeTimeout(options);
    // Without a fast path, encode before claiming: a shorter hold, and errors before it.
    const bytes = this.codec.encodeInto === undefined ? this.encodeChecked(value, this.maxBytes) : undefined;
    this.claim(timeout);
    this.writeClaimed(value, bytes);
  }

  /**
   * Replaces the value if no other thread is writing; returns false (changing
   * nothing) if one is.
   * @throws InvalidArgumentError as `write`
   */
  tryWrite(value: T): boolean {
    const bytes = this.codec.encodeInto === undefined ? this.encodeChecked(value, this.maxBytes) : undefined;
    if (!this.tryClaim()) return false;
    this.writeClaimed(value, bytes);
    return true;
  }

  /**
   * Replaces the value with a record of float64s (at most `maxBytes / 8`),
   * read back with `readInto`. No codec, no allocation once warm.
   * @throws InvalidArgumentError for a record that does not fit or holds a non-number
   * @throws TimeoutError as `write`
   */
  writeFrom(values: Float64Array | readonly number[], options?: SeqLockWriteOptions): void {
    const timeout = writeTimeout(options);
    const count = this.stageRecord(values);
    this.claim(timeout);
    const s = load(this.words, SEQ); // even: only the holder moves SEQ
    store(this.words, SEQ, s + 1); // intent: the inactive buffer is being written
    const b = ((s >>> 1) + 1) & 1;
    const to = this.buffer32[b]!;
    const words = this.scratch32;
    for (let i = 0; i < 2 * count; i++) store(to, i, words[i]!);
    store(this.words, LEN0 + b, FLOAT64_BIT | count);
    store(this.words, SEQ, s + 2); // linearization point: the record is published
    this.release();
  }

  /**
   * @internal Test hook: claims the lock, marks a write in progress and
   * scribbles over the inactive buffer, then returns still holding the claim,
   * exactly as a writer that dies mid-write leaves it. Never call it outside tests.
   */
  _abandonWriteForTesting(): void {
    this.claim(Infinity);
    const s = load(this.words, SEQ);
    store(this.words, SEQ, s + 1);
    const b = ((s >>> 1) + 1) & 1;
    this.buffers[b]!.fill(0xff);
    store(this.words, LEN0 + b, this.maxBytes);
  }

  // ---- write internals ---------------------------------------------------

  /** Holding the claim: fills the inactive buffer, publishes, releases. */
  private writeClaimed(value: T, bytes: Uint8Array | undefined): void {
    const s = load(this.words, SEQ); // even: only the holder moves SEQ
    store(this.words, SEQ, s + 1); // intent: buffer (g + 1) & 1 is being written
    const b = ((s >>> 1) + 1) & 1;
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
      this.abort(s);
      throw e;
    }
    if (n < 0) {
      this.abort(s);
      throw this.tooLarge(value);
    }
    store(this.words, LEN0 + b, n);
    store(this.words, SEQ, s + 2); // linearization point: the value is published
    this.release();
  }

  /** Validates a float64 record and stages its words in private memory; returns its length. */
  private stageRecord(values: Float64Array | readonly number[]): number {
    if (!(values instanceof Float64Array) && !Array.isArray(values)) {
      throw new InvalidArgumentError(`writeFrom(values): values must be a Float64Array or an array of numbers, got ${describeValue(values)}`);
    }
    const count = values.length;
    if (count * 8 > this.maxBytes) throw new InvalidArgumentError(`writeFrom(values): ${count} numbers need ${count * 8} bytes, more than maxBytes ${this.maxBytes}`);
    this.stage(count);
    const staged = this.scratch;
    if (values instanceof Float64Array) {
      staged.set(values);
    } else {
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (typeof v !== 'number') throw new InvalidArgumentError(`writeFrom(values): values[${i}] must be a number, got ${describeValue(v)}`);
        staged[i] = v;
      }
    }
    return count;
  }

  /** Private Int32 words for `count` float64s. */
  private stage(count: number): Int32Array {
    if (this.scratch.length < count) {
      this.scratch = new Float64Array(Math.max(count, 2 * this.scratch.length));
      this.scratch32 = new Int32Array(this.scratch.buffer);
    }
    return this.scratch32;
  }

  /** Undoes an unpublished write: SEQ back to `stable`, claim released. */
  private abort(stable: number): void {
    store(this.words, SEQ, stable);
    this.release();
  }

  /** Takes the write claim, taking it over from a dead holder; false if a live thread holds it. */
  private tryClaim(): boolean {
    for (;;) {
      const holder = compareExchange(this.words, WRITER, 0, me);
      if (holder === 0) return true;
      if (holder === me) throw this.reentered();
      if (ThreadRegistry.current.isAlive(holder - 1)) return false;
      if (this.takeOver(holder)) return true;
    }
  }

  /** Takes the write claim, waiting up to `timeout` ms for a live holder. */
  private claim(timeout: number): void {
    if (compareExchange(this.words, WRITER, 0, me) === 0) return;
    this.claimSlow(toDeadline(timeout));
  }

  private claimSlow(deadline: number): void {
    const backoff = new Backoff();
    for (;;) {
      const holder = compareExchange(this.words, WRITER, 0, me);
      if (holder === 0) return;
      if (holder === me) throw this.reentered();
      if (!backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      // Once per park (not per spin): is the holder still alive?
      if (!ThreadRegistry.current.isAlive(holder - 1)) {
        if (this.takeOver(holder)) return;
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) {
        throw new TimeoutError(`timed out waiting for thread ${holder - 1} to finish writing the SeqLock`);
      }
      // Incrementing WAITERS before the wait, and release() storing WRITER
      // before reading WAITERS, means either the holder sees us or our wait
      // sees WRITER changed ('not-equal').
      add(this.words, WAITERS, 1);
      parkSync(this.words, WRITER, holder, deadline);
      sub(this.words, WAITERS, 1);
    }
  }

  /** Replaces dead `holder` with this thread and undoes its unpublished write. */
  private takeOver(holder: number): boolean {
    // Linearization point of recovery: the CAS that moves the claim to this thread.
    if (compareExchange(this.words, WRITER, holder, me) !== holder) return false;
    const s = load(this.words, SEQ);
    if ((s & 1) === 1) store(this.words, SEQ, s - 1); // the published buffer is untouched
    return true;
  }

  private release(): void {
    store(this.words, WRITER, 0);
    if (load(this.words, WAITERS) > 0) notify(this.words, WRITER, 1);
  }

  private reentered(): DeadlockError {
    return new DeadlockError('write() of a SeqLock re-entered while this thread is writing it (from a codec?)');
  }

  private encodeChecked(value: T, maxBytes: number): Uint8Array {
    const bytes = this.codec.encode(value);
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`codec.encode must return a Uint8Array, got ${describeValue(bytes)}`);
    if (bytes.length > maxBytes) throw new InvalidArgumentError(`value needs ${bytes.length} bytes encoded, more than maxBytes ${maxBytes}`);
    return bytes;
  }

  private tooLarge(value: T): InvalidArgumentError {
    let needs = '';
    try {
      needs = ` (it needs ${this.codec.encode(value).length})`;
    } catch {
      // the length is only for the message
    }
    return new InvalidArgumentError(`value does not fit in maxBytes ${this.maxBytes}${needs}`);
  }
}
