/**
 * SharedArena: one `SharedArrayBuffer` holding many primitives.
 *
 * Allocation is a bump pointer advanced by compare-and-swap, in whole
 * 128-byte blocks (see `cache-line.ts`), so hot words of two primitives never
 * share a block. There is no free: an arena lives as long as its primitives.
 *
 * Implementation notes
 *   body word 0  NEXT  byte offset (from the buffer start) of the first free byte
 *   Allocations start at the first 128-byte boundary after the control block.
 *   `allocate` linearizes at the successful CAS of NEXT; a thread dying before
 *   it leaves nothing, after it leaks at most that one block (never shared).
 *   A failed allocation (CapacityError) does not move NEXT, so smaller ones
 *   still succeed afterwards.
 */
import { CapacityError, InvalidArgumentError } from '../errors.js';
import * as seam from './atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from './cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from './primitive.js';
import type { Allocator } from './region.js';
import { integer } from '../options/field.js';
import { describeValue, positiveInteger } from '../validate.js';

const { compareExchange, load } = seam; // module constants: see memory/atomics.ts

export interface SharedArenaOptions {
  /** Usable bytes for allocations (each rounded up to a 128-byte block). */
  readonly byteLength: number;
  /** Allocate this arena inside another one instead of a buffer of its own. */
  readonly arena?: SharedArena;
}

const NEXT = 0;
const MAX_ARENA_BYTES = 2 ** 31 - 4096;

const DEF = definePrimitive(
  'SharedArena',
  1,
  {
    byteLength: integer({ max: MAX_ARENA_BYTES }),
  },
  {
    // control block, alignment slack to reach a 128-byte boundary, then the usable space
    bodyBytes: (o) => CACHE_LINE_BYTES + CACHE_LINE_BYTES + padToCacheLine(o.byteLength),
  },
);
export type SharedArenaHandle = HandleOf<typeof DEF>;

export class SharedArena implements Allocator {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: SharedArenaHandle;
  private readonly control: Int32Array;
  private readonly start: number;
  private readonly end: number;

  constructor(options: SharedArenaOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.handle = region.handle;
    this.control = region.i32(0, 1);
    this.start = padToCacheLine(region.bodyOffset + CACHE_LINE_BYTES);
    // Whole blocks only, so `available` is exactly what `allocate` can still give.
    this.end = this.start + padToCacheLine(o.byteLength);
    // Published before the handle leaves this thread (postMessage orders it).
    if (created) this.control[NEXT] = this.start;
  }

  /** Re-opens an arena from its handle (in any thread). @throws HandleError */
  static from(handle: SharedArenaHandle): SharedArena {
    return new SharedArena(DEF.open(handle));
  }

  /** Bytes an arena of these options takes (its own region, header included). */
  static byteLength(options: SharedArenaOptions): number {
    return DEF.byteLength(options);
  }

  /**
   * The `byteLength` option an arena needs to hold regions of these sizes
   * (each a `P.byteLength(options)`): each takes a whole number of 128-byte
   * blocks, so 1,000 Mutexes of 48 bytes need 128,000 bytes, not 48,000.
   * @example
   * ```ts
   * const arena = new SharedArena({ byteLength: SharedArena.byteLengthFor(Array(1000).fill(Mutex.byteLength())) });
   * ```
   */
  static byteLengthFor(byteLengths: readonly number[]): number {
    if (!Array.isArray(byteLengths))
      throw new InvalidArgumentError(`byteLengths must be an array of region sizes, got ${describeValue(byteLengths)}`);
    let total = 0;
    for (const n of byteLengths) total += padToCacheLine(positiveInteger('each byte length', n, MAX_ARENA_BYTES));
    if (total > MAX_ARENA_BYTES)
      throw new InvalidArgumentError(`these regions need ${total} bytes: more than one arena holds (${MAX_ARENA_BYTES})`);
    return total;
  }

  /** Bytes still free (a snapshot). */
  get available(): number {
    return this.end - load(this.control, NEXT);
  }

  /**
   * Reserves `byteLength` bytes on a fresh 128-byte boundary.
   * @throws CapacityError when the arena cannot fit them (nothing is taken).
   */
  allocate(byteLength: number): { buffer: SharedArrayBuffer; byteOffset: number } {
    const size = padToCacheLine(positiveInteger('byteLength', byteLength, MAX_ARENA_BYTES));
    for (;;) {
      const next = load(this.control, NEXT);
      if (next + size > this.end) {
        throw new CapacityError(`arena is full: ${size} bytes requested, ${this.end - next} of ${this.handle.options.byteLength} free`);
      }
      // Linearization point: the CAS that moves NEXT past this block.
      if (compareExchange(this.control, NEXT, next, next + size) === next) {
        return { buffer: this.handle.buffer, byteOffset: next };
      }
    }
  }
}
