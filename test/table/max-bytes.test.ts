import { describe, expect, it } from 'vitest';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { Cache } from '../../src/store/cache.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { PAGE_BYTES, PAGE_WORDS, entryCost } from '../../src/table/slab-heap.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode } from '../helpers/errors.js';

const KiB = 1024;
const MiB = KiB * KiB;
const bytes = (t: SharedHashTable<Uint8Array>, key: string, n: number, fill = n & 255) => t.set(key, new Uint8Array(n).fill(fill));

// Keys and values live in a heap of `maxBytes` (slab-heap.ts): an entry takes its bytes rounded up to a size class.
describe('SharedHashTable maxBytes: a budget in bytes, with memory that follows what is stored', () => {
  it('byteLength is maxBytes, rounded up to 4 KiB, plus a fixed part set by capacity (and 24 bytes per page)', () => {
    const sizes = { capacity: 100_000, maxKeyBytes: 64, maxValueBytes: 4096 };
    const fixed = (maxBytes: number) =>
      SharedHashTable.byteLength({ ...sizes, maxBytes }) - maxBytes - (maxBytes / PAGE_BYTES) * PAGE_WORDS * 4;
    const atOne = fixed(1 * MiB);
    expect(Math.abs(fixed(32 * MiB) - atOne)).toBeLessThanOrEqual(128); // cache-line padding only
    expect(Math.abs(fixed(512 * MiB) - atOne)).toBeLessThanOrEqual(128);
    // The fixed part per entry of capacity: slot, lapse stamp, index (stated in the README).
    expect(atOne / sizes.capacity).toBeGreaterThan(70);
    expect(atOne / sizes.capacity).toBeLessThan(100);
    // maxValueBytes no longer multiplies: 4 KiB values cost nothing until stored.
    expect(SharedHashTable.byteLength({ ...sizes, maxBytes: 32 * MiB })).toBeLessThan(42 * MiB);
    const t = new SharedHashTable({ ...sizes, maxBytes: 32 * MiB + 1 });
    expect(t.maxBytes).toBe(32 * MiB + PAGE_BYTES);
  });

  it('by default holds capacity entries of the largest size', () => {
    const t = new SharedHashTable<Uint8Array>({ capacity: 40, maxKeyBytes: 8, maxValueBytes: 3000, codec: 'bytes' });
    for (let i = 0; i < 40; i++) bytes(t, `k${i}`, 3000);
    expect(t.size).toBe(40);
    for (let i = 0; i < 40; i++) expect(t.get(`k${i}`)).toEqual(new Uint8Array(3000).fill(3000 & 255));
  });

  it('round-trips entries of every size, from 0 bytes through size classes to chains of pages', () => {
    const t = new SharedHashTable<Uint8Array>({ capacity: 8, maxKeyBytes: 300, maxValueBytes: 13_000, codec: 'bytes', maxBytes: 64 * KiB });
    for (let n = 0; n <= 13_000; n += n < 300 ? 1 : n < 2100 ? 7 : 211) {
      const key = 'k'.repeat(1 + (n % 300));
      bytes(t, key, n, n % 251);
      expect(t.get(key)).toEqual(new Uint8Array(n).fill(n % 251));
      expect(t.delete(key)).toBe(true);
    }
    t.trimHeap();
    expect(t.bytesInUse).toBe(0);
  });

  it('refuses an entry the heap has no room for with a CapacityError, changing nothing, and counts it', () => {
    // Two pages: eight values in the 1,024-byte class.
    const t = new SharedHashTable<Uint8Array>({
      capacity: 100,
      maxKeyBytes: 8,
      maxValueBytes: 5000,
      codec: 'bytes',
      maxBytes: 2 * PAGE_BYTES,
    });
    for (let i = 0; i < 8; i++) bytes(t, `k${i}`, 1000);
    expectCode(
      () => bytes(t, 'k8', 1000),
      ErrorCode.CAPACITY,
      /8192 bytes for keys and values have no room for an entry of 1002 bytes; .*larger maxBytes/,
    );
    expect(t.has('k8')).toBe(false);
    expect(t.refusedWhenFull).toBe(1);
    // A replace that needs more room than there is leaves the old value.
    expectCode(() => bytes(t, 'k0', 5000, 7), ErrorCode.CAPACITY);
    expect(t.get('k0')).toEqual(new Uint8Array(1000).fill(1000 & 255));
    expect(t.size).toBe(8);
    expect(t.refusedWhenFull).toBe(2);
    // One in the same class fits in place of a deleted one.
    t.delete('k3');
    bytes(t, 'k8', 1000);
    expect(t.get('k8')).toEqual(new Uint8Array(1000).fill(1000 & 255));
  });

  it('gives pages back: an emptied page goes to any segment, and clear() returns every page', () => {
    // Eight segments sharing sixteen pages.
    const t = new SharedHashTable<Uint8Array>({
      capacity: 4096,
      maxKeyBytes: 8,
      maxValueBytes: 1000,
      codec: 'bytes',
      maxBytes: 16 * PAGE_BYTES,
    });
    const fill = (prefix: string): number => {
      for (let i = 0; ; i++) {
        try {
          bytes(t, `${prefix}${i}`, 1000);
        } catch (e) {
          expectCode(e, ErrorCode.CAPACITY);
          return i;
        }
      }
    };
    const first = fill('a');
    expect(first).toBeGreaterThanOrEqual(16 * 4 - 8 * 3); // at most one part-used page per segment
    expect(t.bytesInUse).toBe(16 * PAGE_BYTES);
    for (let i = 0; i < first; i++) t.delete(`a${i}`);
    t.trimHeap();
    expect(t.bytesInUse).toBe(0);
    expect(fill('b')).toBeGreaterThanOrEqual(16 * 4 - 8 * 3); // other keys, so other segments
    t.clear();
    expect(t.bytesInUse).toBe(0);
    expect(t.size).toBe(0);
  });

  it('keeps a page a key comes and goes on, and gives it back when the heap is full', () => {
    const t = new SharedHashTable<Uint8Array>({
      capacity: 16,
      maxKeyBytes: 8,
      maxValueBytes: 5000,
      codec: 'bytes',
      maxBytes: 2 * PAGE_BYTES,
    });
    bytes(t, 'a', 10);
    t.delete('a');
    expect(t.bytesInUse).toBe(PAGE_BYTES); // kept for the next small entry
    bytes(t, 'chain', 5000); // needs both pages: the kept one is given back first
    expect(t.get('chain')).toEqual(new Uint8Array(5000).fill(5000 & 255));
    expect(t.bytesInUse).toBe(2 * PAGE_BYTES);
  });

  it('a chain that runs out of pages half-way gives back the pages it took', () => {
    const t = new SharedHashTable<Uint8Array>({
      capacity: 16,
      maxKeyBytes: 8,
      maxValueBytes: 9000,
      codec: 'bytes',
      maxBytes: 3 * PAGE_BYTES,
    });
    bytes(t, 'small', 10); // one page
    expectCode(() => bytes(t, 'big', 9000), ErrorCode.CAPACITY); // two pages and a tail: it gets one page, then none
    t.trimHeap(); // the tail's page, kept empty for its class
    expect(t.bytesInUse).toBe(PAGE_BYTES);
    expect(t.get('small')).toEqual(new Uint8Array(10).fill(10));
    t.delete('small');
    t.trimHeap();
    bytes(t, 'big', 8000); // two whole pages: all three were free again
    expect(t.get('big')).toEqual(new Uint8Array(8000).fill(8000 & 255));
  });

  it('rejects a maxBytes that cannot hold one entry of the largest size, or is not an integer', () => {
    const o = { capacity: 16, maxKeyBytes: 8, maxValueBytes: 5000 };
    expectCode(
      () => new SharedHashTable({ ...o, maxBytes: 4096 }),
      ErrorCode.INVALID_ARG,
      /maxBytes \(4096\) cannot hold one entry of the largest size: .* take 5120 bytes/,
    );
    expectCode(() => new SharedHashTable({ ...o, maxBytes: 1.5 }), ErrorCode.INVALID_ARG, /maxBytes/);
    expectCode(() => new SharedHashTable({ ...o, maxBytes: 2 ** 31 }), ErrorCode.INVALID_ARG, /maxBytes/);
    expect(new SharedHashTable({ ...o, maxBytes: 8192 }).maxBytes).toBe(8192);
  });

  it('a Cache with maxBytes evicts to make room in bytes, as lru-cache with maxSize', () => {
    const cache = new Cache<string>({ capacity: 1000, maxKeyBytes: 8, maxValueBytes: 600, codec: 'string', maxBytes: 64 * KiB });
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, 'v'.repeat(500));
    const { size, evictions } = cache.stats();
    expect(size).toBeLessThanOrEqual((64 * KiB) / entryCost(500));
    expect(size).toBeGreaterThan(64 / 2);
    expect(evictions).toBe(1000 - size);
    expect(cache.get('k999')).toBe('v'.repeat(500));
  });

  it('a Cache with maxBytes makes room in any segment for values of any size: it evicts, and never refuses', () => {
    // 64 segments sharing sixteen pages: a segment often needs a page of a class it has none of.
    const cache = new Cache<string>({ capacity: 100_000, maxKeyBytes: 8, maxValueBytes: 3000, codec: 'string', maxBytes: 64 * KiB });
    const sizes = [20, 100, 400, 450, 500, 1000, 2500];
    const last = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const key = `k${i % 700}`; // keys come back: replaces as well as inserts
      const value = String(i).padEnd(sizes[(i * 3 + (i >> 4)) % sizes.length]!, '.');
      cache.set(key, value);
      last.set(key, value);
    }
    let present = 0;
    for (const [key, value] of last) {
      const got = cache.get(key);
      if (got !== undefined) {
        present++;
        expect(got).toBe(value);
      }
    }
    expect(present).toBe(cache.stats().size);
    expect(present).toBeGreaterThan(0);
    expect(cache.stats().evictions).toBeGreaterThan(0);
  });
});

// The sizing goal, checked exactly: what fits in a budget, not how fast.
describe('what fits in 32 MiB', () => {
  const key = (i: number) => `key-${String(i).padStart(16, '0')}`; // 20 bytes

  it('an IdempotencyStore of maxBytes 32 MiB holds 100,000 records of 20-byte keys, 64-character fingerprints and 11-byte responses', () => {
    const store = new IdempotencyStore({ capacity: 100_000, leaseMs: 60_000, maxKeyBytes: 64, maxBytes: 32 * MiB });
    const fp = 'f'.repeat(64);
    for (let i = 0; i < 100_000; i++) {
      const b = store.begin(key(i), fp);
      if (b.status !== 'new') throw new Error(`record ${i}: ${b.status}`);
      store.complete(b.token, { status: 200, body: 'hello world' });
    }
    const stats = store.stats();
    expect(stats).toMatchObject({ keys: 100_000, capacity: 100_000, refusedWhenFull: 0, maxBytes: 32 * MiB });
    // About 146 bytes each (a 144-byte class): operators see what is taken.
    expect(stats.bytesInUse).toBeGreaterThan(100_000 * 128);
    expect(stats.bytesInUse).toBeLessThan(16 * MiB);
    expect(store.begin(key(0), fp)).toMatchObject({ status: 'replay', response: { status: 200, body: 'hello world' } });
    expect(store.begin(key(99_999), fp)).toMatchObject({ status: 'replay' });
  });

  it('so do a Cache and a SharedHashTable, with 11-byte values', () => {
    const cache = new Cache<string>({ capacity: 100_000, maxKeyBytes: 64, maxValueBytes: 4096, codec: 'string', maxBytes: 32 * MiB });
    const table = new SharedHashTable<string>({
      capacity: 100_000,
      maxKeyBytes: 64,
      maxValueBytes: 4096,
      codec: 'string',
      maxBytes: 32 * MiB,
    });
    for (let i = 0; i < 100_000; i++) {
      cache.set(key(i), 'hello world');
      table.set(key(i), 'hello world');
    }
    expect(cache.stats()).toMatchObject({ size: 100_000, evictions: 0 });
    expect(table.size).toBe(100_000);
    expect(cache.get(key(0))).toBe('hello world');
    expect(table.get(key(99_999))).toBe('hello world');
    // 31 bytes each take a 32-byte block: 3.1 MiB of the 32, and a page per segment at most beyond.
    expect(table.bytesInUse).toBeLessThanOrEqual(100_000 * 32 + 64 * PAGE_BYTES);
  });
});
