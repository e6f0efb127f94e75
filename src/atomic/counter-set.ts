/**
 * A primitive's statistics: named StripedCounters placed one after another
 * in its region, each on its own cache lines. Every thread adds to its own
 * stripe (one uncontended atomic add), `stats()` sums them, in any thread.
 * Counts are exact once the adds have returned; a thread that dies loses
 * nothing it counted.
 */
import { padToCacheLine } from '../memory/cache-line.js';
import type { Region } from '../memory/region.js';
import { StripedCounter } from './striped-counter.js';

const STRIPES = 8;
const STRIDE = padToCacheLine(StripedCounter.byteLength({ stripes: STRIPES }));

/** Bytes a set of `count` counters takes. */
export function counterSetBytes(count: number): number {
  return count * STRIDE;
}

/** The counters `names`, at `byteOffset` of `region`'s body (`counterSetBytes(names.length)` bytes there). */
export function counterSet<N extends string>(
  region: Region,
  byteOffset: number,
  names: readonly N[],
  mode: 'create' | 'open',
): Record<N, StripedCounter> {
  const counters = {} as Record<N, StripedCounter>;
  names.forEach((name, i) => {
    counters[name] = StripedCounter.part(region, byteOffset + i * STRIDE, STRIDE, { stripes: STRIPES }, mode);
  });
  return counters;
}

/** Every counter's sum, by name. */
export function sums<N extends string>(counters: Readonly<Record<N, StripedCounter>>): Record<N, number> {
  const out = {} as Record<N, number>;
  for (const name in counters) out[name] = counters[name].sum();
  return out;
}
