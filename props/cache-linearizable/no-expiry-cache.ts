/**
 * Test-only twin of Cache: reads that never look at the expiry, so an entry
 * is served after its TTL until something evicts or overwrites it.
 */
import { Cache } from '../../src/store/cache.js';
import type { SharedHashTable } from '../../src/table/shared-hash-table.js';

export function noExpiryCache<V>(cache: Cache<V>): Pick<Cache<V>, 'get' | 'has' | 'set' | 'delete'> {
  const entries = (cache as unknown as { entries: SharedHashTable<{ value: V }> }).entries;
  return {
    get: (key) => entries.get(key)?.value, // the bug: expiresAt is never compared with the clock
    has: (key) => entries.has(key),
    set: (key, value, options) => cache.set(key, value, options),
    delete: (key) => cache.delete(key),
  };
}
