/**
 * The keyed hash of the shared hash table: HalfSipHash (Aumasson and
 * Bernstein's SipHash on 32-bit words, as Linux's `hsiphash` uses for its
 * hash tables), with a random 64-bit key per table.
 *
 * Why keyed: a table that hashes with a function anyone can compute can be
 * flooded with keys that all land in one probe chain (a hash-flooding denial
 * of service: every lookup becomes a scan). With a secret random key, an
 * attacker who chooses the keys cannot know where they land.
 *
 * JavaScript's numbers give exact 32-bit arithmetic (`| 0`, `>>> 0`,
 * `Math.imul` is not needed: SipHash only adds, rotates and xors), so the
 * 32-bit variant runs without BigInt. `halfSipHash` takes (c, d) rounds:
 * the table uses 1-3 (Linux's choice for speed); 2-4 is the reference
 * variant, checked against the published test vectors.
 */

/** A 64-bit hash key as two 32-bit words. */
export interface HashKey {
  readonly k0: number;
  readonly k1: number;
}

/** A fresh random key (from the platform's CSPRNG). */
export function randomHashKey(): HashKey {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return { k0: words[0]! | 0, k1: words[1]! | 0 };
}

/**
 * HalfSipHash-c-d of `bytes[0, length)` with 32-bit output (unsigned).
 * Reads `bytes` with plain loads: pass a private copy, not shared memory that
 * another thread may be writing.
 *
 * The SipRound is written out at each of its three uses on purpose: as a
 * function it would need its four words in memory (a typed array or an
 * object) instead of registers, and this hash runs on every table operation.
 */
export function halfSipHash(key: HashKey, bytes: Uint8Array, length: number = bytes.length, c = 1, d = 3): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = (0x6c796765 ^ key.k0) | 0;
  let v3 = (0x74656462 ^ key.k1) | 0;
  const end = length - (length & 3);
  let i = 0;
  for (; i < end; i += 4) {
    const m = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    v3 ^= m;
    for (let r = 0; r < c; r++) {
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= m;
  }
  let b = (length << 24) | 0;
  switch (length & 3) {
    case 3:
      b |= bytes[i + 2]! << 16; // falls through
    case 2:
      b |= bytes[i + 1]! << 8; // falls through
    case 1:
      b |= bytes[i]!;
  }
  v3 ^= b;
  for (let r = 0; r < c; r++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  v0 ^= b;
  v2 ^= 0xff;
  for (let r = 0; r < d; r++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}
