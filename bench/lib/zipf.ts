/**
 * Seeded key streams for the cache benchmarks: the same (options, seed) gives
 * the same trace in every thread and every run, so caches compared on a trace
 * see exactly the same requests.
 *
 * - `zipfTrace`: draws from Zipf(s) over `keys` key ids: the key of rank r
 *   (1-based) is drawn with probability proportional to 1 / r^s (s = 0.9 is
 *   close to what web and CDN traces show, Breslau et al. 1999). Ranks are
 *   mapped to key ids by a seeded permutation, so the hottest keys are not
 *   0, 1, 2, ….
 * - `scanTrace`: the same Zipf stream, polluted: every `scanEvery` requests a
 *   scan of `scanLength` keys that are each requested once and never again
 *   (ids from `keys` up), as a batch job or a crawler walks a table between
 *   the regular traffic. A cache that admits every new key (LRU) lets a scan
 *   longer than its capacity flush the popular keys; a frequency-aware one
 *   (W-TinyLFU) keeps them.
 */
import { seededRandom } from '../../src/testing/random.js';

export interface ZipfOptions {
  /** Distinct key ids (0 .. keys - 1). */
  readonly keys: number;
  /** The Zipf exponent (0.9 is typical of web traffic; 0: uniform). */
  readonly s: number;
  /** Requests in the trace. */
  readonly length: number;
  readonly seed: number;
}

export interface ScanOptions extends ZipfOptions {
  /** Zipf requests between two scans. */
  readonly scanEvery: number;
  /** Keys per scan, each requested once (ids >= `keys`, never repeated). */
  readonly scanLength: number;
}

/** The cumulative Zipf(s) distribution over ranks 1..n, normalized to end at 1. */
function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cdf[r] = sum += 1 / (r + 1) ** s;
  for (let r = 0; r < n; r++) cdf[r]! /= sum;
  cdf[n - 1] = 1;
  return cdf;
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
function permutation(n: number, random: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * A generator of key ids drawn from Zipf(s) over `keys` ids; `next()` is
 * O(log keys). `seed` fixes which ids are popular; `stream` picks one of many
 * independent request streams over that same popularity (one per thread).
 */
export function zipfSampler(keys: number, s: number, seed: number, stream = 0): () => number {
  if (!Number.isInteger(keys) || keys < 1) throw new RangeError(`keys must be a positive integer, got ${keys}`);
  const cdf = zipfCdf(keys, s);
  const ids = permutation(keys, seededRandom(seed, 1));
  const random = seededRandom(seed, 2, stream);
  return () => {
    const u = random();
    let lo = 0,
      hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return ids[lo]!;
  };
}

/** `length` key ids drawn from Zipf(s) over `keys` ids. */
export function zipfTrace(o: ZipfOptions): Int32Array {
  const next = zipfSampler(o.keys, o.s, o.seed);
  const trace = new Int32Array(o.length);
  for (let i = 0; i < o.length; i++) trace[i] = next();
  return trace;
}

/**
 * A Zipf trace with a scan of `scanLength` one-time keys after every
 * `scanEvery` Zipf requests; `length` counts both. Scan ids start at `keys`.
 */
export function scanTrace(o: ScanOptions): Int32Array {
  const next = zipfSampler(o.keys, o.s, o.seed);
  const trace = new Int32Array(o.length);
  let oneTime = o.keys;
  for (let i = 0, sinceScan = 0; i < o.length;) {
    if (sinceScan === o.scanEvery) {
      for (let j = 0; j < o.scanLength && i < o.length; j++) trace[i++] = oneTime++;
      sinceScan = 0;
    } else {
      trace[i++] = next();
      sinceScan++;
    }
  }
  return trace;
}

/** Share of requests that repeat an earlier one: the best hit ratio any cache could reach on `trace`. */
export function repeatShare(trace: Int32Array): number {
  const seen = new Set<number>();
  for (const id of trace) seen.add(id);
  return trace.length === 0 ? 0 : 1 - seen.size / trace.length;
}
