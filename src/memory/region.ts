/**
 * Regions and handles: the one way a primitive lives in shared memory.
 *
 * A region is `[header | body]` inside a `SharedArrayBuffer`. The header is
 * written once, before the region is published, and never changes:
 *
 *   word  0  MAGIC        0x53414252 ("SABR")
 *   word  1  KIND         numeric id of the primitive's kind (`kindId`)
 *   word  2  VERSION      layout version of that kind
 *   word  3  BYTE_LENGTH  whole region, header included
 *   word  4  OPTIONS_HASH FNV-1a of the canonical JSON of the handle's options
 *   words 5-6 ID          a random 64-bit identity, never 0: what makes two
 *                         objects opened from separately received handles
 *                         (each clone of a SharedArrayBuffer is a new object)
 *                         recognisable as one primitive within a thread
 *   word  7               reserved (keeps the body 8-byte aligned at offset 32)
 *
 * A handle `{ kind, version, buffer, byteOffset, byteLength, options, threads }`
 * is a plain structured-cloneable object. `threads` is the creating thread's
 * thread registry: opening the handle joins it (`ThreadRegistry.join`), so
 * the opener can learn of any holder's death whatever the order in which
 * threads and sabre were started. `openRegion` checks every field against
 * the header, so a forged, stale or mutated handle is a `HandleError` before a
 * single shared word is touched. The header is read-only after creation, so
 * plain (non-atomic) reads of it are race-free: the SAB is published to other
 * threads by `postMessage`, which orders the header writes before any read.
 */
import { types } from 'node:util';
import { HandleError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';
import { fnv1a } from './fnv.js';
import { ThreadRegistry } from '../threads/registry.js';

const MAGIC = 0x53414252;
const H_MAGIC = 0,
  H_KIND = 1,
  H_VERSION = 2,
  H_BYTE_LENGTH = 3,
  H_OPTIONS_HASH = 4,
  H_ID = 5;
export const HEADER_BYTES = 32;

/** The structured-cloneable identity of a primitive; pass it to `P.from(handle)`. */
export interface Handle<K extends string = string, O = unknown> {
  readonly kind: K;
  readonly version: number;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly options: O;
  /**
   * The creating thread's thread registry, which the opening thread joins so
   * that it can learn whether a holder died. Optional (a handle without it
   * opens; its holders' deaths are learned from the opener's own registry).
   */
  readonly threads?: SharedArrayBuffer;
}

/** Where regions can be placed besides a buffer of their own: a `SharedArena`. */
export interface Allocator {
  allocate(byteLength: number): { buffer: SharedArrayBuffer; byteOffset: number };
}

/** What a primitive tells the region module about its layout. */
export interface RegionSpec<K extends string, O> {
  readonly kind: K;
  readonly version: number;
  /** Body size in bytes for these (already validated) options. */
  bodyBytes(options: O): number;
}

/**
 * An opened region: the handle and where the body starts. Primitive
 * constructors accept one (from `P.from`) in place of options.
 * @internal
 */
export class Region<K extends string = string, O = unknown> {
  /** Byte offset of the body inside `buffer` (8-byte aligned). */
  readonly bodyOffset: number;
  readonly bodyBytes: number;
  constructor(readonly handle: Handle<K, O>) {
    this.bodyOffset = handle.byteOffset + HEADER_BYTES;
    this.bodyBytes = handle.byteLength - HEADER_BYTES;
  }
  get buffer(): SharedArrayBuffer {
    return this.handle.buffer;
  }
  get options(): O {
    return this.handle.options;
  }
  /** An Int32Array over `count` words of the body from `byteOffset` (relative to the body). */
  i32(byteOffset = 0, count = (this.bodyBytes - byteOffset) >> 2): Int32Array {
    return new Int32Array(this.handle.buffer, this.bodyOffset + byteOffset, count);
  }
  /** A BigInt64Array over `count` words of the body from `byteOffset` (8-aligned, relative to the body). */
  i64(byteOffset = 0, count = (this.bodyBytes - byteOffset) >> 3): BigInt64Array {
    return new BigInt64Array(this.handle.buffer, this.bodyOffset + byteOffset, count);
  }
  u8(byteOffset = 0, count = this.bodyBytes - byteOffset): Uint8Array {
    return new Uint8Array(this.handle.buffer, this.bodyOffset + byteOffset, count);
  }
  /**
   * The region's identity, the same for every object opened on it in any
   * thread (header words, written once before publication: plain reads).
   */
  get id(): string {
    const h = new Int32Array(this.handle.buffer, this.handle.byteOffset, HEADER_BYTES / 4);
    return `${(h[H_ID]! >>> 0).toString(36)}.${(h[H_ID + 1]! >>> 0).toString(36)}`;
  }
}

/** Region size for a spec and options, header included. */
export function regionBytes<K extends string, O>(spec: RegionSpec<K, O>, options: O): number {
  // Math.ceil, not `& ~7`: bitwise operators would wrap sizes past 2^31 into small numbers.
  return HEADER_BYTES + Math.ceil(spec.bodyBytes(options) / 8) * 8;
}

/**
 * Allocates and initialises a region, in its own buffer or inside `arena`.
 * The body is zeroed (fresh SAB memory is zero; arena memory is never reused).
 */
export function createRegion<K extends string, O>(spec: RegionSpec<K, O>, options: O, arena?: Allocator): Region<K, O> {
  if (arena !== undefined && typeof (arena as Partial<Allocator> | null)?.allocate !== 'function') {
    throw new InvalidArgumentError(`arena must be a SharedArena (open a handle with SharedArena.from), got ${describeValue(arena)}`);
  }
  const byteLength = regionBytes(spec, options);
  const { buffer, byteOffset } = arena ? arena.allocate(byteLength) : { buffer: new SharedArrayBuffer(byteLength), byteOffset: 0 };
  const header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
  header[H_MAGIC] = MAGIC;
  header[H_KIND] = kindId(spec.kind);
  header[H_VERSION] = spec.version;
  header[H_BYTE_LENGTH] = byteLength;
  header[H_OPTIONS_HASH] = optionsHash(options);
  // Node 26 refuses a view on a SharedArrayBuffer here (as browsers do): draw into local memory, then copy.
  const id = crypto.getRandomValues(new Int32Array(2));
  header[H_ID] = id[0] === 0 && id[1] === 0 ? 1 : id[0]!;
  header[H_ID + 1] = id[1]!;
  const threads = ThreadRegistry.current.buffer;
  return new Region(Object.freeze({ kind: spec.kind, version: spec.version, buffer, byteOffset, byteLength, options, threads }));
}

/**
 * Validates `handle` against `spec` and the header it points at.
 * `checkOptions` validates and normalises the options (throwing `HandleError`
 * for a shape the kind cannot have); the body size is then recomputed from
 * them and must equal the handle's.
 * @throws HandleError for anything that is not a live region of this kind.
 */
export function openRegion<K extends string, O>(spec: RegionSpec<K, O>, handle: unknown, checkOptions: (o: unknown) => O): Region<K, O> {
  if (typeof handle !== 'object' || handle === null) throw new HandleError(`expected a ${spec.kind} handle, got ${describeValue(handle)}`);
  const h = handle as Partial<Handle>;
  if (typeof h.kind !== 'string' || typeof h.version !== 'number' || !('buffer' in h) || !('options' in h)) {
    throw new HandleError(`not a sabre handle: expected { kind, version, buffer, byteOffset, byteLength, options }`);
  }
  if (h.kind !== spec.kind) throw new HandleError(`expected a ${spec.kind} handle, got a ${h.kind} handle`);
  if (h.version !== spec.version)
    throw new HandleError(`${spec.kind} handle has layout version ${h.version}; this sabre reads version ${spec.version}`);
  if (!types.isSharedArrayBuffer(h.buffer)) {
    throw new HandleError(
      `${spec.kind} handle buffer must be a SharedArrayBuffer, got ${types.isArrayBuffer(h.buffer) ? 'a non-shared ArrayBuffer' : describeValue(h.buffer)}`,
    );
  }
  const buffer = h.buffer;
  const { byteOffset, byteLength } = h;
  if (
    typeof byteOffset !== 'number' ||
    !Number.isInteger(byteOffset) ||
    byteOffset < 0 ||
    byteOffset % 8 !== 0 ||
    typeof byteLength !== 'number' ||
    !Number.isInteger(byteLength) ||
    byteLength < HEADER_BYTES ||
    byteOffset + byteLength > buffer.byteLength
  ) {
    throw new HandleError(
      `${spec.kind} handle range [${describeValue(byteOffset)}, +${describeValue(byteLength)}) is outside its ${buffer.byteLength}-byte buffer`,
    );
  }
  let options: O;
  try {
    options = checkOptions(h.options);
  } catch (e) {
    throw new HandleError(`${spec.kind} handle options are invalid: ${(e as Error).message}`);
  }
  const header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
  if (header[H_MAGIC] !== MAGIC) throw new HandleError(`no sabre region at offset ${byteOffset} (magic word is wrong)`);
  if (header[H_KIND] !== kindId(spec.kind)) throw new HandleError(`the region at offset ${byteOffset} is not a ${spec.kind}`);
  if (header[H_VERSION] !== spec.version)
    throw new HandleError(`the region at offset ${byteOffset} has layout version ${header[H_VERSION]}`);
  if (header[H_BYTE_LENGTH] !== byteLength || regionBytes(spec, options) !== byteLength) {
    throw new HandleError(`${spec.kind} handle byteLength ${byteLength} does not match its region or options`);
  }
  if (header[H_OPTIONS_HASH] !== optionsHash(options))
    throw new HandleError(`${spec.kind} handle options differ from the ones the region was created with`);
  // Joined before any word is touched: this thread may hold the primitive from now on. A handle
  // without threads (built by hand, or by an older sabre) is looked up in this thread's own registry;
  // null or anything else is refused by join.
  let threads = ThreadRegistry.current.buffer;
  if (h.threads !== undefined) {
    ThreadRegistry.current.join(h.threads);
    threads = h.threads;
  }
  return new Region(Object.freeze({ kind: spec.kind, version: spec.version, buffer, byteOffset, byteLength, options, threads }));
}

/** A stable 31-bit id per kind name (FNV-1a), so kinds need no central table. */
export function kindId(kind: string): number {
  return fnv1a(kind) & 0x7fffffff;
}

function optionsHash(options: unknown): number {
  return fnv1a(canonicalJson(options)) | 0;
}

function canonicalJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}
