/**
 * Test-only twin of SeqLock for float64 records: a single-buffer seqlock whose
 * reader waits for an even sequence but never re-checks it after copying. A
 * writer that starts while a reader is copying changes words under it, and
 * the reader returns a record mixed from two writes. Every word access goes
 * through the atomics seam, where the harness injects yields.
 */
import { load, store } from '../../src/memory/atomics.js';

const SEQ = 0,
  DATA = 1;
/** Int32 words the twin needs for a record of `count` float64s. */
export const tornSeqLockWords = (count: number): number => DATA + 2 * count;

export class TornSeqLock {
  private readonly staged: Float64Array;
  private readonly staged32: Int32Array;

  constructor(
    private readonly words: Int32Array,
    private readonly count: number,
  ) {
    this.staged = new Float64Array(count);
    this.staged32 = new Int32Array(this.staged.buffer);
  }

  writeFrom(values: readonly number[]): void {
    const s = load(this.words, SEQ);
    store(this.words, SEQ, s + 1);
    this.staged.set(values);
    for (let i = 0; i < 2 * this.count; i++) store(this.words, DATA + i, this.staged32[i]!);
    store(this.words, SEQ, s + 2);
  }

  readInto(target: Float64Array): number {
    while ((load(this.words, SEQ) & 1) === 1) {
      // wait for the writer to finish (the part it gets right)
    }
    for (let i = 0; i < 2 * this.count; i++) this.staged32[i] = load(this.words, DATA + i);
    // The bug: no second load of SEQ, so an overlapping write goes unnoticed.
    target.set(this.staged);
    return this.count;
  }
}
