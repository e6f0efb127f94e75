import { describe, expect, it } from 'vitest';
import { halfSipHash, randomHashKey, type HashKey } from '../../src/table/hash.js';

// The reference test vectors of HalfSipHash-2-4 with 32-bit output (the
// SipHash authors' vectors.h, vectors_hsip32): key = bytes 00..07, message
// = bytes 00..len-1; each vector is the output's 4 bytes, little-endian.
const REFERENCE: Record<number, number[]> = {
  0: [0xa9, 0x35, 0x9f, 0x5b],
  1: [0x27, 0x47, 0x5a, 0xb8],
  2: [0xfa, 0x62, 0xa6, 0x03],
  3: [0x8a, 0xfe, 0xe7, 0x04],
  4: [0x2a, 0x6e, 0x46, 0x89],
  7: [0x8b, 0xcf, 0x63, 0xc5],
  8: [0xd0, 0xb8, 0x84, 0x8f],
  15: [0x74, 0xfe, 0x2b, 0x97],
  31: [0x5d, 0x58, 0x9f, 0x1a],
  63: [0x59, 0xea, 0x4a, 0x74],
};
const referenceKey: HashKey = { k0: 0x03020100, k1: 0x07060504 };
const message = Uint8Array.from({ length: 64 }, (_, i) => i);
const le = (b: number[]): number => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;

describe('halfSipHash', () => {
  it.each(Object.entries(REFERENCE))('HalfSipHash-2-4 of %s bytes matches the reference vector', (len, bytes) => {
    expect(halfSipHash(referenceKey, message, Number(len), 2, 4)).toBe(le(bytes));
  });

  it('hashes only the first `length` bytes and returns an unsigned 32-bit integer', () => {
    const key = randomHashKey();
    const h = halfSipHash(key, message, 10);
    expect(h).toBe(halfSipHash(key, message.slice(0, 10)));
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
  });

  it('depends on the key: one message, different keys, different hashes', () => {
    const bytes = new TextEncoder().encode('user:42');
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(halfSipHash(randomHashKey(), bytes));
    expect(seen.size).toBeGreaterThan(45);
  });

  it('defeats hash flooding: keys crafted to share a bucket under a known key spread under a secret one', () => {
    // The attack on an unkeyed hash: whoever knows the function searches for
    // keys that all land in bucket 0 of a 1024-bucket table (1 in 1024 keys does).
    const known: HashKey = { k0: 0, k1: 0 };
    const buckets = 1024;
    const encoder = new TextEncoder();
    const crafted: Uint8Array[] = [];
    for (let i = 0; crafted.length < 200; i++) {
      const key = encoder.encode(`user:${i}`);
      if ((halfSipHash(known, key) & (buckets - 1)) === 0) crafted.push(key);
    }
    const load = (key: HashKey): number => {
      const counts = new Map<number, number>();
      for (const k of crafted) {
        const b = halfSipHash(key, k) & (buckets - 1);
        counts.set(b, (counts.get(b) ?? 0) + 1);
      }
      return Math.max(...counts.values());
    };
    expect(load(known)).toBe(200); // one chain of 200: every lookup scans it
    // With a random key the same 200 keys behave like random ones: the fullest
    // bucket of 200 keys in 1024 buckets holds a handful (P(max > 8) < 1e-6).
    expect(load(randomHashKey())).toBeLessThanOrEqual(8);
  });
});
