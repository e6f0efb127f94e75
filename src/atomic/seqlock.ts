/**
 * SeqLock: one shared value that many threads read without locks while one
 * writer at a time replaces it; readers never see a torn value.
 */
import type { OptionRange } from '../options/field.js';
import { Backoff } from '../memory/backoff.js';
import type { Codec, CodecName } from '../memory/codec.js';
import type { SharedArena } from '../memory/arena.js';
import { defineOptions } from '../options/schema.js';
import { timeout } from '../options/field.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, isInstance } from '../validate.js';
import {
  defineDoubleBuffer,
  DoubleBuffer,
  EMPTY,
  MAX_BUFFER_BYTES,
  Seq32,
  type DoubleBufferHandle,
  type DoubleBufferKind,
  type DoubleBufferOpened,
} from './double-buffer.js';

/*
 * Implementation notes
 *
 * A DoubleBuffer (double-buffer.ts: the scheme, its states, readers, owner
 * death) with an Int32 SEQ and no version checks. Region body:
 *   byte   0  SEQ      Int32: 2g while stable, 2g + 1 while generation g + 1 is written
 *   byte   4  WRITER   threadId + 1 of the write-claim holder, 0 if none
 *   byte   8  WAITERS  writers parked on WRITER
 *   byte  12  LEN0     buffer 0's value: its byte length (codec), or
 *                      FLOAT64_BIT | count (writeFrom), or EMPTY (undefined)
 *   byte  16  LEN1     the same for buffer 1
 *   byte 128  BUF0     maxBytes, padded to 128; then BUF1
 * SEQ wraps at 2^32 and is compared modulo 2^32 (see Seq32).
 *
 * Records (writeFrom/readInto) are float64s copied as Int32 words, plainly:
 * the re-check that validates them is a read-modify-write of SEQ, which makes
 * plain copies sound under the JS memory model on every CPU (double-buffer.ts,
 * "Memory model"). Their LEN, FLOAT64_BIT | count, is above any byte length,
 * so `read` tells them apart.
 *
 * Linearization points: `write`/`writeFrom` = the store SEQ = 2g + 2
 * (publish); `read`/`readInto` = its first load of SEQ.
 *
 * Owner death: the previous value stays readable, and readers never wait on
 * SEQ; a waiting writer replaces a dead holder within one liveness slice, and
 * `tryWrite` replaces it at once.
 */

const FLOAT64_BIT = 1 << 30; // a LEN: a writeFrom record of (LEN & COUNT_MASK) float64s
const COUNT_MASK = FLOAT64_BIT - 1;

/** The largest `maxBytes` (two buffers of it must fit in one region). */
export const MAX_SEQLOCK_BYTES = MAX_BUFFER_BYTES;

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
export type SeqLockHandle = DoubleBufferHandle<'sabre.SeqLock'>;

export interface SeqLockWriteOptions {
  /** Milliseconds to wait for another writer to finish (default: forever; 0 = try once). */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}

const DEF = defineDoubleBuffer('SeqLock');
const KIND: DoubleBufferKind<number> = {
  name: 'SeqLock',
  seq: Seq32,
  wakes: 1, // a release lets one waiting writer through
};

const WRITE = defineOptions(
  'seqLock.write(value, options)',
  { timeoutMs: timeout() },
  {
    renamed: { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } },
  },
);
const WRITE_FROM = defineOptions('seqLock.writeFrom(values, options)', WRITE.fields, {
  renamed: { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } },
});

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
 * a bad or unknown option (of the constructor, `from`, `write`, `writeFrom`),
 * or a read of the wrong form
 * @throws TimeoutError (`ERR_TIMEOUT`) when `write` waited `timeoutMs` for another writer
 * @throws DeadlockError (`ERR_DEADLOCK`) if a codec writes to the SeqLock it is encoding for
 * @throws HandleError (`ERR_HANDLE`) from `from` for a foreign handle, or a
 * custom-codec handle re-opened without its codec
 *
 * @example
 * ```ts
 * const quote = new SeqLock({ maxBytes: 16 });           // [price, timestamp]
 * quote.writeFrom([101.5, Date.now()]);                   // the feed thread
 * const q = new Float64Array(2);
 * SeqLock.from(quote.handle).readInto(q);                 // any thread: never a price with another's time
 * const config = new SeqLock<{ limit: number }>({ maxBytes: 256, codec: 'json', initial: { limit: 10 } });
 * config.write({ limit: 20 }, { timeoutMs: 50 });        // TimeoutError if another writer holds it 50 ms
 * config.read().limit;                                    // 20
 * ```
 * @remarks Since 0.1
 */
export class SeqLock<T = unknown> {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits: { readonly maxBytes: OptionRange } = DEF.limits;
  readonly handle: SeqLockHandle;
  /** Largest encoded value, in bytes. */
  readonly maxBytes: number;
  private readonly buffers: DoubleBuffer<'sabre.SeqLock', T, number>;
  /** Private staging for float64 records (never shared). */
  private scratch = new Float64Array(4);
  private scratch32 = new Int32Array(this.scratch.buffer);

  constructor(options: SeqLockOptions<T> | DoubleBufferOpened<'sabre.SeqLock'>) {
    this.buffers = new DoubleBuffer(KIND, DEF.resolve(options));
    this.handle = this.buffers.handle;
    this.maxBytes = this.buffers.maxBytes;
  }

  /**
   * Re-opens a SeqLock from its handle, in any thread. One made with a user
   * codec needs it again (`{ codec }`): functions cannot travel in a handle.
   * @throws HandleError for a foreign handle, a missing custom codec, or a
   * codec other than the one it was made with
   * @throws InvalidArgumentError for an option other than `codec`
   */
  static from<T = unknown>(handle: SeqLockHandle, options?: { readonly codec?: CodecName | Codec<T> }): SeqLock<T> {
    return new SeqLock<T>(DEF.open(handle, options));
  }

  /** Bytes a SeqLock takes (in an arena, rounded up to 128); the same options as the constructor. */
  static byteLength(options: SeqLockOptions<unknown>): number {
    return DEF.byteLength(options);
  }

  /** Writes completed so far (a snapshot; wraps at 2^31). */
  get writes(): number {
    return this.buffers.generation;
  }

  /** True while some thread holds the write claim (a snapshot). */
  get isWriting(): boolean {
    return this.buffers.isWriting;
  }

  /**
   * The current value, decoded into a private copy. Never waits for a writer.
   * @throws InvalidArgumentError if the current value was stored by `writeFrom`
   */
  read(): T {
    const current = this.buffers.read();
    if (current === undefined)
      throw new InvalidArgumentError('read() of a SeqLock whose value was written by writeFrom: read it with readInto(float64Array)');
    return current.value;
  }

  /**
   * Copies the current `writeFrom` record into `target` and returns how many
   * numbers it has (0 while the value is `undefined`). Allocates nothing.
   * @throws InvalidArgumentError if `target` is not a Float64Array, is shorter
   * than the record, or the current value was stored by `write`
   */
  readInto(target: Float64Array): number {
    if (!isInstance(target, Float64Array))
      throw new InvalidArgumentError(`readInto(target): target must be a Float64Array, got ${describeValue(target)}`);
    const { seq } = this.buffers;
    let backoff: Backoff | undefined;
    for (;;) {
      const s1 = seq.load(); // linearization point
      const b = this.buffers.bufferOf(s1);
      const n = this.buffers.len(b);
      const count = n >= FLOAT64_BIT ? n & COUNT_MASK : 0;
      if (count > 0 && count <= target.length) {
        const words = this.stage(count);
        const from = this.buffers.words[b]!;
        for (let i = 0; i < 2 * count; i++) words[i] = from[i]!; // plain: validated by seq.intact
      }
      if (seq.intact(s1)) {
        if (n === EMPTY) return 0;
        if (n < FLOAT64_BIT)
          throw new InvalidArgumentError('readInto() of a SeqLock whose value was written by write: read it with read()');
        if (count > target.length)
          throw new InvalidArgumentError(`readInto(target): the record has ${count} numbers, got a target of length ${target.length}`);
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
   * @throws TimeoutError when another writer held the claim for `timeoutMs`
   */
  write(value: T, options?: SeqLockWriteOptions): void {
    this.buffers.write(value, WRITE.parse(options).timeoutMs);
  }

  /**
   * Replaces the value if no other thread is writing; returns false (changing
   * nothing) if one is.
   * @throws InvalidArgumentError as `write`
   */
  tryWrite(value: T): boolean {
    return this.buffers.tryWrite(value);
  }

  /**
   * Replaces the value with a record of float64s (at most `maxBytes / 8`),
   * read back with `readInto`. No codec, no allocation once warm.
   * @throws InvalidArgumentError for a record that does not fit or holds a non-number
   * @throws TimeoutError as `write`
   */
  writeFrom(values: Float64Array | readonly number[], options?: SeqLockWriteOptions): void {
    const { timeoutMs } = WRITE_FROM.parse(options);
    const count = this.stageRecord(values);
    const s = this.buffers.claim(timeoutMs);
    const b = this.buffers.begin(s);
    const to = this.buffers.words[b]!;
    const words = this.scratch32;
    for (let i = 0; i < 2 * count; i++) to[i] = words[i]!; // plain: published by the SEQ add
    this.buffers.publish(b, FLOAT64_BIT | count); // linearization point: the record is published
  }

  /**
   * @internal Test hook: claims the lock, marks a write in progress and
   * scribbles over the inactive buffer, then returns still holding the claim,
   * exactly as a writer that dies mid-write leaves it. Never call it outside tests.
   */
  _abandonWriteForTesting(): void {
    this.buffers.abandonWriteForTesting(this.buffers.claim(Infinity));
  }

  // ---- float64 records -------------------------------------------------

  /** Validates a float64 record and stages its words in private memory; returns its length. */
  private stageRecord(values: Float64Array | readonly number[]): number {
    if (!isInstance(values, Float64Array) && !Array.isArray(values)) {
      throw new InvalidArgumentError(
        `writeFrom(values): values must be a Float64Array or an array of numbers, got ${describeValue(values)}`,
      );
    }
    const count = values.length;
    if (count * 8 > this.maxBytes)
      throw new InvalidArgumentError(`writeFrom(values): ${count} numbers need ${count * 8} bytes, more than maxBytes ${this.maxBytes}`);
    this.stage(count);
    const staged = this.scratch;
    if (isInstance(values, Float64Array)) {
      staged.set(values);
    } else {
      for (let i = 0; i < count; i++) {
        const v: unknown = values[i]; // Array.isArray made it any[]: check each element
        if (typeof v !== 'number')
          throw new InvalidArgumentError(`writeFrom(values): values[${i}] must be a number, got ${describeValue(v)}`);
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
}
