/**
 * Test-only twin of Cache: a "near cache" that keeps a private Map in each
 * thread in front of the shared cache and fills it on every read and write.
 * A thread's own writes and deletes update its Map, but nothing tells the
 * other threads': after another thread overwrites or deletes a key, a thread
 * that read it before keeps answering the old value (a stale read that no
 * order of the operations explains).
 */
import type { Cache } from '../../src/store/cache.js';

export class NearCache<V> {
  private readonly local = new Map<string, V>();
  constructor(private readonly shared: Cache<V>) {}

  get(key: string): V | undefined {
    if (this.local.has(key)) return this.local.get(key);
    const v = this.shared.get(key);
    if (v !== undefined) this.local.set(key, v);
    return v;
  }
  has(key: string): boolean {
    return this.local.has(key) || this.shared.has(key);
  }
  set(key: string, value: V, options?: { ttlMs?: number }): void {
    this.shared.set(key, value, options);
    this.local.set(key, value);
  }
  delete(key: string): boolean {
    this.local.delete(key);
    return this.shared.delete(key);
  }
}
