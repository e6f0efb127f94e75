/** Forged handles for the misuse tables: every one must be refused with HandleError by `P.from`. */
import type { Handle } from '../../src/memory/region.js';

/** A forged handle: its name and how to make it from a genuine one. */
export type Forgery<H> = readonly [string, (h: H) => unknown];

/**
 * The forgeries every primitive must refuse: another kind (`otherKind`),
 * another layout version, a shifted offset, a non-shared or a fresh (magic-less)
 * buffer, a plain object; then `optionForgeries`, the primitive's own wrong
 * options (its handle options differ per kind).
 */
export function forgedHandles<H extends Handle>(otherKind: string, optionForgeries: readonly Forgery<H>[]): Forgery<H>[] {
  return [
    ['another kind', (h) => ({ ...h, kind: otherKind })],
    ['another version', (h) => ({ ...h, version: h.version + 1 })],
    ['a shifted offset', (h) => ({ ...h, byteOffset: 8 })],
    ['a non-shared buffer', (h) => ({ ...h, buffer: new ArrayBuffer(h.buffer.byteLength) })],
    ...optionForgeries,
    ['a fresh buffer (no magic)', (h) => ({ ...h, buffer: new SharedArrayBuffer(h.buffer.byteLength) })],
    ['a plain object', () => ({})],
  ];
}
