/**
 * Test-only twin of `P.from(handle)`: opens whatever it is given, trusting
 * every field (no kind, version, bounds, buffer-type or options check), the
 * way a primitive built on raw typed arrays would. A mutated handle then
 * reads foreign memory or throws a plain RangeError/TypeError instead of a
 * HandleError.
 */
export function uncheckedOpen(handle: unknown): { readonly words: Int32Array } {
  const h = handle as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
  return { words: new Int32Array(h.buffer, h.byteOffset, Math.floor(h.byteLength / 4)) };
}
