/**
 * One variant of benchmark 24, alone in its process (`node --expose-gc
 * --import tsx bench/memory-child.ts <json>`): builds one structure, fills it
 * with `records` records, and prints the growth of the process's resident
 * memory per record, as JSON on stdout.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SharedHashTable } from '../src/table/shared-hash-table.js';
import { Cache } from '../src/store/cache.js';
import { IdempotencyStore } from '../src/store/idempotency-store.js';
import { TokenBucket } from '../src/limit/token-bucket.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';

export interface MemoryVariant {
  readonly structure: 'table' | 'map' | 'cache' | 'lru-cache' | 'idempotency' | 'idempotency-map' | 'bucket' | 'rate-limiter-flexible';
  readonly capacity: number;
  readonly records: number;
  /** Bytes of each value (a table's or a cache's value; an idempotency record's response body). */
  readonly valueBytes: number;
  /** The structure's ceiling on a value, if not the default (the value's bytes + 64). */
  readonly maxValueBytes?: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const settle = (): void => {
  for (let i = 0; i < 3; i++) gc?.();
};

/** A fresh, flat string of `n` ASCII characters (no two records share storage, as with data read from requests). */
const text = (n: number): string =>
  randomBytes(Math.ceil(n / 2))
    .toString('hex')
    .slice(0, n);
const keyOf = (i: number): string => `key-${String(i).padStart(16, '0')}`; // 20 bytes

function build(v: MemoryVariant): (i: number) => void {
  const maxValueBytes = v.maxValueBytes ?? v.valueBytes + 64;
  switch (v.structure) {
    case 'table': {
      const t = new SharedHashTable<string>({ capacity: v.capacity, maxKeyBytes: 32, maxValueBytes, codec: 'string' });
      retained.push(t);
      return (i) => void t.set(keyOf(i), text(v.valueBytes));
    }
    case 'map': {
      const m = new Map<string, string>();
      retained.push(m);
      return (i) => void m.set(keyOf(i), text(v.valueBytes));
    }
    case 'cache': {
      const c = new Cache<string>({ capacity: v.capacity, maxKeyBytes: 32, maxValueBytes, codec: 'string' });
      retained.push(c);
      return (i) => void c.set(keyOf(i), text(v.valueBytes));
    }
    case 'lru-cache': {
      const c = new LRUCache<string, string>({ max: v.capacity });
      retained.push(c);
      return (i) => void c.set(keyOf(i), text(v.valueBytes));
    }
    case 'idempotency': {
      const s = new IdempotencyStore({ capacity: v.capacity, leaseMs: 60_000, maxKeyBytes: 32, maxResponseBytes: maxValueBytes });
      retained.push(s);
      return (i) => {
        const b = s.begin(keyOf(i), text(64));
        if (b.status !== 'new') throw new Error(`record ${i}: ${b.status}`);
        s.complete(b.token, { status: 200, body: text(v.valueBytes) });
      };
    }
    case 'bucket': {
      // A rate limit's state per client: one key each (values: none; valueBytes is ignored).
      const b = new TokenBucket({ burst: 100, refillPerSecond: 1, capacity: v.capacity, maxKeyBytes: 32 });
      retained.push(b);
      return (i) => void b.tryAcquire(keyOf(i));
    }
    case 'rate-limiter-flexible': {
      const r = new RateLimiterMemory({ points: 100, duration: 100 });
      retained.push(r);
      return (i) => void r.consume(keyOf(i));
    }
    case 'idempotency-map': {
      // What a handler keeps per key without sabre: the same fields, as a JS object in a Map.
      const m = new Map<string, object>();
      retained.push(m);
      return (i) =>
        void m.set(keyOf(i), {
          state: 'completed',
          fingerprint: text(64),
          expiresAt: Date.now() + 86_400_000,
          response: { status: 200, headers: {}, body: text(v.valueBytes) },
        });
    }
  }
}
const retained: unknown[] = [];

const v = JSON.parse(process.argv[2]!) as MemoryVariant;
settle();
const before = process.memoryUsage().rss;
const put = build(v);
for (let i = 0; i < v.records; i++) put(i);
await new Promise((resolve) => setImmediate(resolve)); // rate-limiter-flexible answers with promises: let them settle
settle();
const after = process.memoryUsage().rss;
process.stdout.write(JSON.stringify({ perRecord: (after - before) / v.records, retained: retained.length }));
