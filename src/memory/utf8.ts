/**
 * UTF-8 helpers for records that keep strings as UTF-8 bytes in shared
 * memory: write a string straight into a record, read one straight out of
 * it (no byte array in between), and the string a lone surrogate turns into.
 */
const encoder = new TextEncoder();
const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;

/**
 * The string of UTF-8 `bytes[start, end)` (a leading U+FEFF is kept, as it
 * was given). Buffer's `utf8Slice` works on any Uint8Array: no Buffer view
 * to make first.
 */
export const utf8Text: (bytes: Uint8Array, start: number, end: number) => string =
  typeof nativeUtf8Slice === 'function'
    ? (bytes, start, end) => nativeUtf8Slice.call(bytes, start, end)
    : (bytes, start, end) => Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');

/** Writes `s`, whose UTF-8 takes `n` bytes (`Buffer.byteLength`), into `target` at `at`; returns the end. */
export function writeUtf8(s: string, n: number, target: Uint8Array, at: number): number {
  encoder.encodeInto(s, target.subarray(at, at + n));
  return at + n;
}

/** `s` with each lone surrogate replaced by U+FFFD: what its UTF-8 bytes decode to. */
export const asStored = (s: string): string => (s.isWellFormed() ? s : Buffer.from(s, 'utf8').toString('utf8'));
