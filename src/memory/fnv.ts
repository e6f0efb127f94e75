/**
 * FNV-1a (32-bit): the unkeyed hash for what no one can attack through it:
 * stable ids of primitive kinds, hashes of handle options, and the choice of
 * a wait stripe (where a collision only costs a spurious wake-up). Keys that
 * users choose go through the keyed HalfSipHash of `table/hash.ts` instead.
 * Strings are hashed over their UTF-16 code units, byte arrays over bytes.
 */
export function fnv1a(data: string | Uint8Array): number {
  let h = 0x811c9dc5;
  if (typeof data === 'string') for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data.charCodeAt(i), 0x01000193);
  else for (const byte of data) h = Math.imul(h ^ byte, 0x01000193);
  return h >>> 0;
}
