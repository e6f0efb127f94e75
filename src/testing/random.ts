/**
 * Seeded PRNG for the harness: the same (seed, streams) gives the same
 * sequence in every thread and every process, so a seed replays the yield
 * decisions and `ctx.random()` of a run.
 *
 * mulberry32 (a 32-bit state, period 2^32) seeded through murmur3's fmix32:
 * statistically plenty for choosing yields, and a few ns per draw.
 */

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A PRNG in [0, 1) from an integer `seed` and any number of stream ids
 * (e.g. thread index and purpose), each giving an independent sequence.
 */
export function seededRandom(seed: number, ...streams: number[]): () => number {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${String(seed)}`);
  let s = fmix32((seed >>> 0) ^ fmix32(Math.floor(seed / 2 ** 32) >>> 0));
  for (const k of streams) s = fmix32(s ^ Math.imul((k >>> 0) + 1, 0x9e3779b9));
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
