/**
 * FNV-1a (32-bit): the unkeyed hash for what no one can attack through it:
 * stable ids of primitive kinds, hashes of handle options, and the choice of
 * a wait stripe (where a collision only costs a spurious wake-up). Keys that
 * users choose go through the keyed HalfSipHash of `table/hash.ts` instead.
 * Strings are hashed over their UTF-16 code units, byte arrays over bytes.
 * `from` continues a hash: `fnv1a(b, fnv1a(a))` is the hash of a then b
 * (how a value that only grows keeps its hash without hashing it again).
 */
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

export function fnv1a(data: string | Uint8Array, from: number = FNV_OFFSET): number {
  let h = from;
  if (typeof data === 'string') for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data.charCodeAt(i), FNV_PRIME);
  else for (const byte of data) h = Math.imul(h ^ byte, FNV_PRIME);
  return h >>> 0;
}
