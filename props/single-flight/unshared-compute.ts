/**
 * Test-only twin of `Cache.getOrCompute`: look, and on a miss compute and
 * store, with nothing shared about the computation. Every thread that misses
 * the key before the first one has stored it computes it again (the cache
 * stampede that single-flight prevents), and the callers may get different
 * values for one key.
 */
import type { Cache } from '../../src/store/cache.js';

export async function unsharedGetOrCompute<V>(cache: Cache<V>, key: string, fn: () => Promise<V>): Promise<V> {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const value = await fn();
  cache.set(key, value);
  return value;
}
