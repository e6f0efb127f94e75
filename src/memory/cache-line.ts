/**
 * The one padding rule: hot words of different primitives (or of different
 * stripes of one primitive) never share a 128-byte block.
 *
 * x86-64 lines are 64 bytes, but the L2 spatial prefetcher fetches lines in
 * adjacent pairs, so two cells 64 bytes apart still contend; aarch64 (Apple M
 * series) has 128-byte lines. JavaScript cannot see the CPU, so we take 128
 * everywhere, as crossbeam's `CachePadded` does on both. `bench/` measures the
 * difference (padded versus packed stripes).
 */
export const CACHE_LINE_BYTES = 128;

/** Rounds `bytes` up to a whole number of padded blocks. */
export function padToCacheLine(bytes: number): number {
  return Math.ceil(bytes / CACHE_LINE_BYTES) * CACHE_LINE_BYTES;
}

/** Rounds up to a multiple of 8 (the alignment a `BigInt64Array` view needs). */
export function align8(bytes: number): number {
  return (bytes + 7) & ~7;
}
