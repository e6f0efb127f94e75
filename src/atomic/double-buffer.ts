/**
 * @internal The double-buffered seqlock (Linux's seqcount_latch) that
 * SeqLock and VersionedCell are made of: one value in shared memory that
 * readers copy without a lock while one writer at a time replaces it. Not
 * exported from the package: SeqLock and VersionedCell are its contracts.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { Backoff } from '../memory/backoff.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { codecOption, encodeInto, type Codec } from '../memory/codec.js';
import type { Region } from '../memory/region.js';
import { definePrimitive, type HandleOf, type OpenedOf, type PrimitiveDefinition } from '../memory/primitive.js';
import { custom, integer, local, withDefault } from '../options/field.js';
import { ThreadRegistry } from '../threads/registry.js';
import { systemClock } from '../clock.js';
import { parkSync, toDeadline } from '../threads/park.js';
import { DeadlockError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { describeValue, isBytes } from '../validate.js';

const { add, add64, compareExchange, compareExchange64, load, load64, notify, store, sub } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * The value of generation g lives in buffer g & 1, and a writer always fills
 * the other buffer, so the published one is never written while it is current.
 *
 * Layout (region body; the owners' handles depend on every offset):
 *   byte 0    SEQ      2g while stable; 2g + 1 while the claim holder writes
 *                      g + 1. Int32 (Seq32, SeqLock) or BigInt64 (Seq64,
 *                      VersionedCell): the one thing the owners' layouts differ in
 *   then CONTROL, Int32 words from byte 4 (Seq32) or 8 (Seq64):
 *     WRITER   threadId + 1 of the write-claim holder, 0 if none
 *     WAITERS  writers parked on WRITER
 *     LEN0     buffer 0's value: EMPTY (undefined), its byte length, or a form
 *              of the owner's own above MAX_BUFFER_BYTES (SeqLock's records)
 *     LEN1     the same for buffer 1
 *   byte 128  BUF0     maxBytes, padded to 128 (so also Int32-aligned)
 *   then      BUF1
 *
 * State (SEQ, WRITER), every legal combination:
 *   (2g,   0)       stable at g, free       a writer: CAS WRITER 0 → me
 *   (2g,   t)       t holds the claim       t: SEQ → 2g + 1; or release (it wanted another g)
 *   (2g+1, t)       t fills buffer (g+1)&1  t: LEN, then SEQ → 2g + 2; or SEQ → 2g (encode failed)
 *   (2g+2, t)       t published             t: WRITER → 0, wake `wakes` parked writers
 *   (any,  dead t)  t died holding it       a writer: CAS WRITER t → me, then SEQ odd → SEQ − 1
 * Only the claim holder moves SEQ, and SEQ never goes back except by that
 * rollback of an unpublished write. The claim is a CAS on WRITER, not SEQ
 * made odd: one CAS both excludes other writers and records who holds the
 * claim, so no crash can leave a claim without an owner to test for liveness.
 *
 * Readers copy and re-check: load SEQ (s1; g = s1 >> 1, whose buffer is g & 1
 * even while s1 is odd), copy LEN and the buffer into private memory, load SEQ
 * again. The copy is intact iff the writer of g + 2, the next one to touch
 * buffer g & 1, has not begun: SEQ ≤ (s1 & ~1) + 2. Otherwise copy again,
 * spinning, never parking. Decoding runs on the private copy after the check,
 * so a parser never sees a concurrent write. Bytes are copied plainly.
 *
 * Memory model (sound under the ECMAScript memory model itself, so on ARM64
 * as on x86): the reader's re-check is a read-modify-write, `Atomics.add(SEQ,
 * 0)`, and every change of SEQ (begin, publish, abort, roll-back) is an RMW
 * too. A re-check by atomic *load* would not do: a plain read before it may
 * be satisfied after it (ARM64 lets a later acquire load pass an earlier
 * plain one, and the JS model orders nothing there), so the copy could hold
 * bytes of the writer of g + 2 while the load still saw a value ≤ 2g + 2.
 * With the RMW: if it returns ≤ (s1 & ~1) + 2, it precedes, in SEQ's
 * modification order, the add by which the writer of g + 2 begins; that add
 * reads from the re-check or from an RMW that (transitively) did, so the
 * re-check synchronizes-with it, and the reader's plain reads happen-before
 * every write into buffer g & 1 by that writer: they cannot see them. The
 * first load reads from the publish of g (or later), so generation g's bytes
 * happen-before the copy. Source: Boehm, "Can Seqlocks Get Along with
 * Programming Language Memory Models?" (MSPC 2012), the read-dont-modify-
 * write re-check. The RMW costs what a load cost here (one builtin call, ~18
 * ns), against ~18 ns per 4 bytes for all-atomic copies on both sides;
 * readers do write SEQ's cache line, so readers on several cores share it.
 *
 * Linearization points: a write = the store SEQ = 2g + 2 (publish); a read =
 * its first load of SEQ (a retry moves it to the retry's first load); the
 * recovery from a dead holder = the CAS that moves WRITER to the taker.
 *
 * Owner death: a writer can die after any step. With SEQ even, the state is
 * complete and the claim is simply taken over. Mid-write (SEQ odd), only the
 * inactive buffer is torn; the taker rolls SEQ back to 2g, which still names
 * the untouched published buffer. Readers never wait on SEQ, so a dead writer
 * cannot stall them and they need no liveness check. Writers waiting for the
 * claim check the holder's liveness once per park and park in
 * LIVENESS_SLICE_MS slices, so a dead holder is replaced within one slice.
 *
 * Source: Linux include/linux/seqlock.h (seqcount_latch_t, "latch" readers).
 */

const WRITER = 0,
  WAITERS = 1,
  LEN0 = 2; // Int32 indexes in CONTROL (LEN of buffer b = LEN0 + b)
const CONTROL_WORDS = 4;
const BUFFERS_AT = CACHE_LINE_BYTES; // body byte offset of buffer 0
/** A LEN: the value is `undefined` and has no bytes. */
export const EMPTY = -1;
/** The largest `maxBytes` (two buffers of it must fit in one region); a larger LEN is a form of the owner's. */
export const MAX_BUFFER_BYTES = 2 ** 29;

/** What SeqLock and VersionedCell each tell the DoubleBuffer. */
export interface DoubleBufferKind<S extends number | bigint> {
  /** The owning class, for messages: 'SeqLock'. */
  readonly name: string;
  /** SEQ's width: `Seq32` or `Seq64`. */
  readonly seq: SeqWidth<S>;
  /** Parked writers woken when the claim is released (1, or Infinity for all). */
  readonly wakes: number;
}

/** The body size of a DoubleBuffer region (the owners' `RegionSpec.bodyBytes`). */
const bodyBytes = (o: { readonly maxBytes: number }): number => BUFFERS_AT + 2 * padToCacheLine(o.maxBytes);

/**
 * SEQ's operations. `Seq32` and `Seq64` are the only code that knows its
 * width; `S` is what a load returns (number or bigint).
 */
export interface Seq<S extends number | bigint> {
  load(): S;
  /** The generation of `s`: `s >> 1` (Seq32: modulo 2^31). */
  generation(s: S): number;
  /** Reader: whether a copy made after loading `s1` is intact (SEQ ≤ (s1 & ~1) + 2). */
  intact(s1: S): boolean;
  /** Claim holder, SEQ even: SEQ + 1, a write begins. Every change of SEQ is an RMW (see "Memory model"). */
  begin(): void;
  /** Claim holder, SEQ odd: SEQ + 1, the write is published. */
  publish(): void;
  /** Claim holder, SEQ odd: SEQ − 1, the write is undone. */
  abort(): void;
  /** New claim holder: SEQ odd → SEQ − 1, undoing a dead holder's unpublished write. */
  rollBack(): void;
}
export interface SeqWidth<S extends number | bigint> {
  /** Bytes SEQ takes at the start of the body; CONTROL follows. */
  readonly BYTES: number;
  new (region: Region): Seq<S>;
}

const SEQ = 0;

/**
 * An Int32 SEQ (SeqLock). It wraps, so it is compared modulo 2^32
 * (`(s2 - s1) | 0`): a reader is fooled only if it sleeps through exactly
 * 2^31 writes between its two loads (Linux's seqcount makes the same bet).
 */
export class Seq32 implements Seq<number> {
  static readonly BYTES = 4;
  private readonly word: Int32Array;
  constructor(region: Region) {
    this.word = region.i32(0, 1);
  }
  load(): number {
    return load(this.word, SEQ);
  }
  generation(s: number): number {
    return s >>> 1;
  }
  intact(s1: number): boolean {
    return ((add(this.word, SEQ, 0) - (s1 & ~1)) | 0) <= 2; // an RMW: see "Memory model"
  }
  begin(): void {
    add(this.word, SEQ, 1);
  }
  publish(): void {
    add(this.word, SEQ, 1);
  }
  abort(): void {
    sub(this.word, SEQ, 1);
  }
  rollBack(): void {
    const s = load(this.word, SEQ);
    if ((s & 1) === 1) compareExchange(this.word, SEQ, s, s - 1);
  }
}

/** A BigInt64 SEQ (VersionedCell), which never wraps. */
export class Seq64 implements Seq<bigint> {
  static readonly BYTES = 8;
  private readonly word: BigInt64Array;
  constructor(region: Region) {
    this.word = region.i64(0, 1);
  }
  load(): bigint {
    return load64(this.word, SEQ);
  }
  generation(s: bigint): number {
    return Number(s >> 1n);
  }
  intact(s1: bigint): boolean {
    return add64(this.word, SEQ, 0n) <= s1 - (s1 & 1n) + 2n; // an RMW: see "Memory model"
  }
  begin(): void {
    add64(this.word, SEQ, 1n);
  }
  publish(): void {
    add64(this.word, SEQ, 1n);
  }
  abort(): void {
    add64(this.word, SEQ, -1n);
  }
  rollBack(): void {
    const s = load64(this.word, SEQ);
    if ((s & 1n) === 1n) compareExchange64(this.word, SEQ, s, s - 1n);
  }
}

/** The initial value as given, and (once `check` encoded it) its bytes. */
interface Initial {
  readonly value: unknown;
  bytes?: Uint8Array;
}

function encodeChecked<T>(codec: Codec<T>, value: T, maxBytes: number): Uint8Array {
  const bytes = codec.encode(value);
  if (!isBytes(bytes)) throw new InvalidArgumentError(`codec.encode must return a Uint8Array, got ${describeValue(bytes)}`);
  if (bytes.length > maxBytes) throw new InvalidArgumentError(`value needs ${bytes.length} bytes encoded, more than maxBytes ${maxBytes}`);
  return bytes;
}

const fieldsOf = (name: string) => ({
  maxBytes: integer({ max: MAX_BUFFER_BYTES }),
  codec: codecOption(name),
  // Generation 0's value: written into buffer 0 at creation, never in the handle.
  initial: local(
    withDefault(
      custom((value): Initial => ({ value })),
      undefined,
    ),
  ),
});
type DoubleBufferFields = ReturnType<typeof fieldsOf>;

/** The definition of an owner (SeqLock, VersionedCell): every option the two share, read by their constructors, `from` and `byteLength`. */
export type DoubleBufferDefinition<K extends string> = PrimitiveDefinition<K, DoubleBufferFields>;
/** What an owner's handle records: `maxBytes`, and the codec's name or 'custom' (the user passes it again to `from`). */
export type DoubleBufferHandle<K extends string> = HandleOf<DoubleBufferDefinition<K>>;
/** An owner's region, created or opened, with its checked options. */
export type DoubleBufferOpened<K extends string> = OpenedOf<DoubleBufferDefinition<K>>;

/** Defines an owner: `defineDoubleBuffer('SeqLock')` (kind `sabre.SeqLock`, layout version 1). */
export function defineDoubleBuffer<const N extends string>(name: N): DoubleBufferDefinition<`sabre.${N}`> {
  return definePrimitive(name, 1, fieldsOf(name), {
    // Encodes the initial value before the region is allocated: a bad one costs no arena space.
    check: (o) => {
      if (o.initial !== undefined) o.initial.bytes = encodeChecked(o.codec.codec, o.initial.value, o.maxBytes);
    },
    bodyBytes,
  });
}

const me = threadId + 1;

/** @internal One double-buffered value; see the implementation notes above. */
export class DoubleBuffer<K extends string, T, S extends number | bigint> {
  readonly handle: DoubleBufferHandle<K>;
  readonly maxBytes: number;
  readonly seq: Seq<S>;
  /** The two buffers as Int32 words (SeqLock's float64 records). */
  readonly words: readonly [Int32Array, Int32Array];
  private readonly name: string;
  private readonly wakes: number;
  private readonly codec: Codec<T>;
  private readonly control: Int32Array;
  private readonly bytes: readonly [Uint8Array, Uint8Array];

  /** Lays out a region just created (`created`), or reads one `from` opened. */
  constructor(kind: DoubleBufferKind<S>, { region, options: o, created }: DoubleBufferOpened<K>) {
    this.codec = o.codec.codec as Codec<T>;
    this.name = kind.name;
    this.wakes = kind.wakes;
    this.handle = region.handle;
    this.maxBytes = o.maxBytes;
    this.seq = new kind.seq(region);
    this.control = region.i32(kind.seq.BYTES, CONTROL_WORDS);
    const stride = padToCacheLine(this.maxBytes);
    this.bytes = [region.u8(BUFFERS_AT, this.maxBytes), region.u8(BUFFERS_AT + stride, this.maxBytes)];
    this.words = [region.i32(BUFFERS_AT, stride >> 2), region.i32(BUFFERS_AT + stride, stride >> 2)];
    if (created) {
      // Generation 0 lives in buffer 0. Published before the handle leaves this thread.
      const initial = o.initial?.bytes;
      if (initial !== undefined) this.bytes[0].set(initial);
      store(this.control, LEN0, initial === undefined ? EMPTY : initial.length);
    }
  }

  /** The current generation (a snapshot). */
  get generation(): number {
    return this.seq.generation(this.seq.load());
  }

  /** True while some thread holds the write claim (a snapshot). */
  get isWriting(): boolean {
    return load(this.control, WRITER) !== 0;
  }

  /** Buffer of the generation `s` names. */
  bufferOf(s: S): number {
    return this.seq.generation(s) & 1;
  }

  /** LEN of buffer `b`. */
  len(b: number): number {
    return load(this.control, LEN0 + b);
  }

  // ---- readers -----------------------------------------------------------

  /**
   * The current value, decoded from a private copy, and its generation (as
   * `version`). Never waits for a writer. Undefined when the value is a form
   * of the owner's own rather than codec bytes.
   */
  read(): { readonly value: T; readonly version: number } | undefined {
    let backoff: Backoff | undefined;
    for (;;) {
      const s1 = this.seq.load(); // linearization point
      const g = this.seq.generation(s1);
      const b = g & 1;
      const n = this.len(b);
      const copy = n > 0 && n <= MAX_BUFFER_BYTES ? this.bytes[b]!.slice(0, n) : undefined;
      // Buffer b is next written by the writer of g + 2, which first makes SEQ 2g + 3.
      if (this.seq.intact(s1)) {
        if (n > MAX_BUFFER_BYTES) return undefined;
        const value = n === EMPTY ? (undefined as T) : this.codec.decode(copy ?? new Uint8Array(0));
        return { value, version: g };
      }
      (backoff ??= new Backoff()).spin();
    }
  }

  // ---- writers -----------------------------------------------------------

  /**
   * Writes `value` as the next generation, waiting up to `timeout` ms for the
   * claim; returns the SEQ it wrote from. With `stable`, writes only from
   * `stable` (a compare-and-write) and otherwise returns the SEQ it found,
   * changing nothing.
   * @throws InvalidArgumentError when `value` cannot be encoded or needs more
   * than `maxBytes`; TimeoutError; DeadlockError (see `claim`)
   */
  write(value: T, timeout: number, stable?: S): S {
    const bytes = this.encodeEarly(value);
    const s = this.claim(timeout, stable);
    if (stable === undefined || s === stable) this.writeClaimed(value, bytes, s);
    return s;
  }

  /** Writes `value` as the next generation unless a live thread holds the claim (then false). */
  tryWrite(value: T): boolean {
    const bytes = this.encodeEarly(value);
    if (!this.tryClaim()) return false;
    this.writeClaimed(value, bytes, this.seq.load());
    return true;
  }

  /**
   * Takes the write claim, waiting up to `timeout` ms for a live holder and
   * taking it over from a dead one; returns SEQ, even (only the holder moves
   * it). With `stable`, gives up as soon as SEQ is at another generation (the
   * holder's write has decided against this one) and returns what it found:
   * the result is `stable` iff this thread holds the claim.
   * @throws TimeoutError when a live holder kept it `timeout` ms
   * @throws DeadlockError when this thread already holds it (a codec writing back)
   */
  claim(timeout: number, stable?: S): S {
    const stale = this.staleFrom(stable);
    if (stale !== undefined) return stale;
    if (compareExchange(this.control, WRITER, 0, me) !== 0) {
      const stale = this.claimSlow(toDeadline(timeout), stable);
      if (stale !== undefined) return stale;
    }
    const s = this.seq.load(); // even: only the holder moves SEQ
    if (stable !== undefined && s !== stable) this.release();
    return s;
  }

  /** Holding the claim from SEQ = `s`: SEQ odd; returns the buffer to fill (the inactive one). */
  begin(s: S): number {
    this.seq.begin(); // intent: buffer (g + 1) & 1 is being written
    return this.bufferOf(s) ^ 1;
  }

  /** After `begin(s)` filled buffer `b`: stores its LEN, publishes, releases the claim. */
  publish(b: number, len: number): void {
    store(this.control, LEN0 + b, len);
    this.seq.publish(); // linearization point: generation g + 1 is published
    this.release();
  }

  /**
   * @internal Test hook: holding the claim from SEQ = `s`, begins a write,
   * scribbles over the inactive buffer and stops, keeping the claim, exactly
   * as a writer that dies mid-write leaves it.
   */
  abandonWriteForTesting(s: S): void {
    const b = this.begin(s);
    this.bytes[b]!.fill(0xff);
    store(this.control, LEN0 + b, this.maxBytes);
  }

  /** Holding the claim: fills the inactive buffer, publishes, releases. */
  private writeClaimed(value: T, bytes: Uint8Array | undefined, s: S): void {
    const b = this.begin(s);
    const target = this.bytes[b]!;
    let n: number;
    try {
      if (bytes !== undefined) {
        target.set(bytes);
        n = bytes.length;
      } else {
        n = encodeInto(this.codec, value, target);
      }
    } catch (e) {
      this.abort();
      throw e;
    }
    if (n < 0) {
      this.abort();
      throw this.tooLarge(value);
    }
    this.publish(b, n);
  }

  /** Undoes an unpublished write: SEQ back to even, claim released. */
  private abort(): void {
    this.seq.abort();
    this.release();
  }

  /** Takes the claim, taking it over from a dead holder; false if a live thread holds it. */
  private tryClaim(): boolean {
    for (;;) {
      const holder = compareExchange(this.control, WRITER, 0, me);
      if (holder === 0) return true;
      if (holder === me) throw this.reentered();
      if (ThreadRegistry.current.isAlive(holder - 1)) return false;
      if (this.takeOver(holder)) return true;
    }
  }

  /** Returns undefined holding the claim, or (with `stable`) the SEQ that made it give up. */
  private claimSlow(deadline: number, stable: S | undefined): S | undefined {
    const backoff = new Backoff();
    for (;;) {
      const holder = compareExchange(this.control, WRITER, 0, me);
      if (holder === 0) return undefined;
      if (holder === me) throw this.reentered();
      const stale = this.staleFrom(stable);
      if (stale !== undefined) return stale;
      if (!backoff.isCompleted()) {
        backoff.snooze();
        continue;
      }
      // Once per park (not per spin): is the holder still alive?
      if (!ThreadRegistry.current.isAlive(holder - 1)) {
        if (this.takeOver(holder)) return undefined;
        continue;
      }
      if (deadline !== Infinity && systemClock.now() >= deadline) {
        throw new TimeoutError(`timed out waiting for thread ${holder - 1} to finish writing the ${this.name}`);
      }
      // Incrementing WAITERS before the wait, and release() storing WRITER
      // before reading WAITERS, means either the holder sees us or our wait
      // sees WRITER changed ('not-equal').
      add(this.control, WAITERS, 1);
      parkSync(this.control, WRITER, holder, deadline);
      sub(this.control, WAITERS, 1);
    }
  }

  /** With `stable`: SEQ, if it is at another generation (a write from `stable` is stale now); else undefined. */
  private staleFrom(stable: S | undefined): S | undefined {
    if (stable === undefined) return undefined;
    const found = this.seq.load();
    return this.seq.generation(found) === this.seq.generation(stable) ? undefined : found;
  }

  /** Replaces dead `holder` with this thread and undoes its unpublished write. */
  private takeOver(holder: number): boolean {
    // Linearization point of recovery: the CAS that moves the claim to this thread.
    if (compareExchange(this.control, WRITER, holder, me) !== holder) return false;
    this.seq.rollBack(); // the published buffer is untouched
    return true;
  }

  private release(): void {
    store(this.control, WRITER, 0);
    if (load(this.control, WAITERS) > 0) notify(this.control, WRITER, this.wakes);
  }

  private reentered(): DeadlockError {
    return new DeadlockError(`write() of a ${this.name} re-entered while this thread is writing it (from a codec?)`);
  }

  /** Without an `encodeInto` fast path, encodes before claiming: a shorter hold, and errors before it. */
  private encodeEarly(value: T): Uint8Array | undefined {
    return this.codec.encodeInto === undefined ? encodeChecked(this.codec, value, this.maxBytes) : undefined;
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
