/**
 * Threads run random operations on a few keys of one small Cache (get, has,
 * set with or without a TTL, delete), recorded with the argument shape of
 * `cacheModel`; thread 0 also moves the shared ManualClock (`advance`), so
 * entries expire mid-run. The cache holds fewer entries than there are keys,
 * so evictions happen all along. Values are `{ v, w }` records with w = 2v
 * (as "v:w" strings with the 'string' codec); a torn read shows as w !== 2v
 * and is counted in `shared.words[TORN]`.
 *
 * `kind`: 'cache' (the real one), 'near-cache' (props/cache-linearizable/near-cache.ts:
 * a private Map per thread in front of it) or 'no-expiry'
 * (props/cache-linearizable/no-expiry-cache.ts: reads that ignore the TTL).
 */
import { add } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { Cache, type CacheHandle } from '../../src/store/cache.js';
import { defineProgram } from '../../src/testing/index.js';
import { NearCache } from './near-cache.js';
import { noExpiryCache } from './no-expiry-cache.js';

export interface CacheShared {
  readonly kind: 'cache' | 'near-cache' | 'no-expiry';
  readonly cache: CacheHandle;
  readonly clock: ManualClockHandle;
  /** [TORN] */
  readonly words: Int32Array;
}
export const TORN = 0;
export const CACHE_WORDS = 1;
/** TTLs a set may carry (ms on the ManualClock), and how far one advance moves it. */
export const TTLS = [undefined, 5, 10] as const;
export const ADVANCE_MS = 3;

export interface CacheInput {
  readonly ops: number;
  readonly keys: number;
}

interface Rec {
  v: number;
  w: number;
}
type Ops = Pick<Cache, 'get' | 'has' | 'delete'> & { set(key: string, value: unknown, options?: { ttlMs?: number }): unknown };

const OPS = ['get', 'get', 'has', 'set', 'set', 'delete'] as const;

export default defineProgram<CacheShared, CacheInput, void>(({ shared, input, random, record, thread }) => {
  const cache = Cache.from(shared.cache);
  const strings = shared.cache.options.codec === 'string';
  const clock = ManualClock.from(shared.clock);
  const c: Ops = shared.kind === 'near-cache' ? new NearCache(cache) : shared.kind === 'no-expiry' ? noExpiryCache(cache) : cache;
  const encode = (r: Rec): unknown => (strings ? `${r.v}:${r.w}` : r);
  const decode = (x: unknown): Rec | undefined => {
    if (x === undefined) return undefined;
    if (typeof x !== 'string') return x as Rec;
    const [v, w] = x.split(':').map(Number);
    return { v: v!, w: w! };
  };
  const value = (x: unknown): number | undefined => {
    const r = decode(x);
    if (r !== undefined && r.w !== 2 * r.v) add(shared.words, TORN, 1);
    return r?.v;
  };
  const pick = (n: number): number => Math.floor(random() * n);
  for (let i = 0; i < input.ops; i++) {
    if (thread === 0 && pick(4) === 0) {
      record('advance', { ms: ADVANCE_MS }, () => void clock.advance(ADVANCE_MS));
      continue;
    }
    const key = `k${pick(input.keys)}`;
    const v = pick(4);
    switch (OPS[pick(OPS.length)]!) {
      case 'get':
        record('get', { key }, () => value(c.get(key)));
        break;
      case 'has':
        record('has', { key }, () => c.has(key));
        break;
      case 'set': {
        const ttlMs = TTLS[pick(TTLS.length)];
        record(
          'set',
          ttlMs === undefined ? { key, value: v } : { key, value: v, ttlMs },
          () => void c.set(key, encode({ v, w: 2 * v }), ttlMs === undefined ? {} : { ttlMs }),
        );
        break;
      }
      case 'delete':
        record('delete', { key }, () => c.delete(key));
        break;
    }
  }
});
