/**
 * Parts: a primitive of another kind placed inside a resilience primitive's
 * region (the breaker's statistics counters, the bulkhead's semaphores), so
 * that one handle carries the whole thing.
 *
 * `partAt` is the allocator a part's constructor is given (its `arena`
 * option): it places the part's region at a fixed offset of the parent's
 * body. `partHandle` rebuilds the part's handle from the parent's alone, and
 * the part's own `from` validates it like any handle (magic word, kind,
 * version, size, options), so a forged parent cannot smuggle in a bad part.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Allocator, Handle, Region } from '../memory/region.js';

const VERSION_WORD = 2; // the region header's VERSION (see memory/region.ts)

/** An allocator that puts one region of at most `room` bytes at `byteOffset` of `parent`'s body. */
export function partAt(parent: Region, byteOffset: number, room: number): Allocator {
  return {
    allocate(byteLength: number) {
      if (byteLength > room) throw new InvalidArgumentError(`a part of ${byteLength} bytes does not fit its ${room}-byte place`);
      return { buffer: parent.buffer, byteOffset: parent.bodyOffset + byteOffset };
    },
  };
}

/** The handle of the part at `byteOffset` of `parent`'s body (the header is read-only after creation: a plain read). */
export function partHandle<O>(parent: Region, byteOffset: number, kind: string, byteLength: number, options: O): Handle<string, O> {
  const at = parent.bodyOffset + byteOffset;
  const version = new Int32Array(parent.buffer, at, VERSION_WORD + 1)[VERSION_WORD]!;
  return { kind, version, buffer: parent.buffer, byteOffset: at, byteLength, options };
}
