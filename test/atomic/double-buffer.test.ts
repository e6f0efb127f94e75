import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SeqLock } from '../../src/atomic/seqlock.js';
import { VersionedCell } from '../../src/atomic/versioned-cell.js';
import { HEADER_BYTES, type Handle } from '../../src/memory/region.js';

// The byte layout is part of every SeqLock and VersionedCell handle: these
// offsets must not move, or handles made by another copy of sabre stop opening.
const body = (h: Handle): { i32: Int32Array; i64: BigInt64Array; u8: Uint8Array } => {
  const at = h.byteOffset + HEADER_BYTES;
  return { i32: new Int32Array(h.buffer, at, 6), i64: new BigInt64Array(h.buffer, at, 1), u8: new Uint8Array(h.buffer, at) };
};

describe('DoubleBuffer layout', () => {
  it('SeqLock: Int32 SEQ at 0, then WRITER, WAITERS, LEN0, LEN1; buffers at 128 and 128 + padded maxBytes', () => {
    const lock = new SeqLock<Uint8Array>({ maxBytes: 130, codec: 'bytes', initial: new Uint8Array([1, 2, 3]) });
    lock.write(new Uint8Array([4, 5]));
    const { i32, u8 } = body(lock.handle);
    expect(Array.from(i32.subarray(0, 5))).toEqual([2, 0, 0, 3, 2]); // SEQ 2g, WRITER, WAITERS, LEN0, LEN1
    expect(Array.from(u8.subarray(128, 131))).toEqual([1, 2, 3]);
    expect(Array.from(u8.subarray(128 + 256, 128 + 258))).toEqual([4, 5]);
    expect(lock.handle.byteLength).toBe(HEADER_BYTES + 128 + 2 * 256);
    lock.writeFrom([1.5]);
    expect(i32[3]).toBe((1 << 30) | 1); // a record's LEN: FLOAT64_BIT | count
  });

  it('VersionedCell: BigInt64 SEQ at 0, then WRITER, WAITERS, LEN0, LEN1 from byte 8', () => {
    const cell = new VersionedCell<string>({ maxBytes: 16, codec: 'string', initial: 'abc' });
    cell.write('de', 0);
    const { i32, i64, u8 } = body(cell.handle);
    expect(i64[0]).toBe(2n);
    expect(Array.from(i32.subarray(2, 6))).toEqual([0, 0, 3, 2]);
    expect(new TextDecoder().decode(u8.subarray(128 + 128, 128 + 130))).toBe('de');
  });

  it('a writer stopped mid-write leaves SEQ odd and its claim in WRITER', () => {
    const lock = new SeqLock({ maxBytes: 8 });
    lock._abandonWriteForTesting();
    expect(Array.from(body(lock.handle).i32.subarray(0, 2))).toEqual([1, threadId + 1]);
    const cell = new VersionedCell({ maxBytes: 8 });
    cell._abandonWriteForTesting(0);
    const { i32, i64 } = body(cell.handle);
    expect([i64[0], i32[2]]).toEqual([1n, threadId + 1]);
  });
});
