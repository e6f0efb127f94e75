/**
 * VersionedCell: one shared value with a version number, for optimistic
 * concurrency control (compare-the-version-and-write, as an HTTP `If-Match`
 * or a database's `UPDATE … WHERE version = ?`).
 */
import type { OptionRange } from '../options/field.js';
import { Backoff } from '../memory/backoff.js';
import type { Codec, CodecName } from '../memory/codec.js';
import type { SharedArena } from '../memory/arena.js';
import { defineOptions } from '../options/schema.js';
import { custom } from '../options/field.js';
import { ConflictError, InvalidArgumentError, isSabreError, ErrorCode } from '../errors.js';
import { fn as checkFn, nonNegativeInteger, isThenable } from '../validate.js';
import {
  defineDoubleBuffer,
  DoubleBuffer,
  MAX_BUFFER_BYTES,
  Seq64,
  type DoubleBufferHandle,
  type DoubleBufferKind,
  type DoubleBufferOpened,
} from './double-buffer.js';

/*
 * Implementation notes
 *
 * A DoubleBuffer (double-buffer.ts: the scheme, its states, readers, owner
 * death) whose generation is the version. Region body:
 *   byte   0  SEQ      BigInt64: 2·version while stable; 2·version + 1 while the
 *                      claim holder writes version + 1
 *   byte   8  WRITER   Int32 word 2: threadId + 1 of the write-claim holder, 0 if none
 *   byte  12  WAITERS  Int32 word 3: writers parked on WRITER
 *   byte  16  LEN0     Int32 word 4: byte length of buffer 0's value (EMPTY = -1: undefined)
 *   byte  20  LEN1     Int32 word 5: the same for buffer 1
 *   byte 128  BUF0     maxBytes, padded to 128; then BUF1
 * SEQ is 64-bit so that versions (up to 2^53) never wrap: a wrapped version
 * would let a stale `expectedVersion` match again.
 *
 * `write(value, v)` is a DoubleBuffer write from SEQ = 2v only: it is refused
 * as soon as SEQ is at another version, before claiming, while waiting for the
 * claim (the holder's write decides this one), and once holding it. Release
 * wakes every parked writer: after a publish, all of them are stale.
 *
 * Linearization points: `write` = the store of SEQ = 2v+2 (publish); a failed
 * `write` (ConflictError) = the load of SEQ that saw another version; `read` =
 * its first load of SEQ (the version it returns was current then).
 *
 * Owner death: the previous value and version stay readable; a writer waiting
 * on a dead holder takes over within one liveness slice (ThreadRegistry asks
 * the OS), whatever the dead thread's parent is doing.
 */

/** The largest `maxBytes` (two buffers of it must fit in one region). */
export const MAX_CELL_BYTES = MAX_BUFFER_BYTES;
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
export type VersionedCellHandle = DoubleBufferHandle<'sabre.VersionedCell'>;

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

const DEF = defineDoubleBuffer('VersionedCell');
const KIND: DoubleBufferKind<bigint> = {
  name: 'VersionedCell',
  seq: Seq64,
  wakes: Infinity, // after a publish every waiting writer is stale: all fail at once
};

const UPDATE = defineOptions('versionedCell.update(fn, options)', {
  retries: custom((v, name) => (v === Infinity ? Infinity : nonNegativeInteger(name, v)), DEFAULT_UPDATE_RETRIES),
});

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
 * exceeds `maxBytes` or that the codec cannot encode, a bad or unknown option
 * (of the constructor, `from`, `update`) or version (the cell is unchanged)
 * @throws HandleError (`ERR_HANDLE`) from `from` for a foreign handle, or a
 * custom-codec handle re-opened without its codec
 * @throws DeadlockError (`ERR_DEADLOCK`) if a custom codec's `encodeInto` writes to the cell it is encoding for
 *
 * @example
 * ```ts
 * const config = new VersionedCell<{ limit: number }>({ maxBytes: 256, initial: { limit: 10 } });
 * const { value, version } = config.read();
 * config.write({ ...value, limit: 20 }, version);        // throws ConflictError if someone wrote first
 * config.update((c) => ({ ...c, limit: c.limit + 1 }), { retries: 3 }); // re-reads and retries on conflict
 * // another thread: VersionedCell.from(handle).read()
 * ```
 * @remarks Since 0.1
 */
export class VersionedCell<T = unknown> {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits: { readonly maxBytes: OptionRange } = DEF.limits;
  readonly handle: VersionedCellHandle;
  /** Largest encoded value, in bytes. */
  readonly maxBytes: number;
  private readonly buffers: DoubleBuffer<'sabre.VersionedCell', T, bigint>;

  constructor(options: VersionedCellOptions<T> | DoubleBufferOpened<'sabre.VersionedCell'>) {
    this.buffers = new DoubleBuffer(KIND, DEF.resolve(options));
    this.handle = this.buffers.handle;
    this.maxBytes = this.buffers.maxBytes;
  }

  /**
   * Re-opens a cell from its handle, in any thread. A cell made with a user
   * codec needs it again (`{ codec }`): functions cannot travel in a handle.
   * @throws HandleError for a foreign handle, a missing custom codec, or a
   * codec other than the one the cell was made with
   * @throws InvalidArgumentError for an option other than `codec`
   */
  static from<T = unknown>(handle: VersionedCellHandle, options?: { readonly codec?: CodecName | Codec<T> }): VersionedCell<T> {
    return new VersionedCell<T>(DEF.open(handle, options));
  }

  /** Bytes a cell takes (in an arena, rounded up to 128); the same options as the constructor. */
  static byteLength(options: VersionedCellOptions<unknown>): number {
    return DEF.byteLength(options);
  }

  /** The current version (a snapshot). */
  get version(): number {
    return this.buffers.generation;
  }

  /** The current value and its version. Never waits for a writer. */
  read(): Versioned<T> {
    return this.buffers.read()!; // never undefined: a cell holds codec bytes only
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
    const stable = 2n * BigInt(expected);
    const found = this.buffers.write(value, Infinity, stable);
    if (found !== stable) throw this.conflict(expected, found);
    return expected + 1;
  }

  /**
   * Reads, applies `fn` to the value (and its version), and writes the result
   * with the version it read; on a conflict, does it all again, at most
   * `retries` more times. `fn` may run several times, so it must not have side
   * effects, and it must be synchronous. If it throws, nothing is written.
   * @throws ConflictError (the last one) when every attempt conflicted
   */
  update(fn: (value: T, version: number) => T, options?: UpdateOptions): VersionedUpdate<T> {
    checkFn('fn', fn);
    const { retries } = UPDATE.parse(options);
    let backoff: Backoff | undefined;
    for (let attempts = 1; ; attempts++) {
      const { value, version } = this.read();
      const next = fn(value, version);
      if (isThenable(next)) {
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
    const expected = nonNegativeInteger('expectedVersion', expectedVersion);
    const stable = 2n * BigInt(expected);
    const found = this.buffers.claim(Infinity, stable);
    if (found !== stable) throw this.conflict(expected, found);
    this.buffers.abandonWriteForTesting(stable);
  }

  private conflict(expected: number, found: bigint): ConflictError {
    const actual = Number(found >> 1n);
    return new ConflictError(`version conflict: expected version ${expected}, the cell is at version ${actual}`, {
      expectedVersion: expected,
      actualVersion: actual,
    });
  }
}
