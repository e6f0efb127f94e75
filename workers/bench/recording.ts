/**
 * Benchmark 31's program: each thread times `n` operations recorded with
 * `ctx.record` against the same `n` operations called bare (an increment of
 * the thread's own word through the seam), and returns ns per operation.
 */
import { add } from '../../src/memory/atomics.js';
import { defineProgram } from '../../src/testing/index.js';

export interface RecordingShared {
  readonly words: Int32Array;
}

export default defineProgram<RecordingShared, number, { bareNs: number; recordedNs: number }>((ctx) => {
  const n = ctx.input;
  const words = ctx.shared.words;
  const at = 16 * ctx.thread; // a cache line of its own
  // Warm-up, untimed: both loops compiled before either is measured.
  for (let i = 0; i < 20_000; i++) add(words, at, 1);
  for (let i = 0; i < 20_000; i++) ctx.record('warm', 1, () => add(words, at, 1));
  let t = performance.now();
  for (let i = 0; i < n; i++) add(words, at, 1);
  const bareNs = ((performance.now() - t) * 1e6) / n;
  t = performance.now();
  for (let i = 0; i < n; i++) ctx.record('add', 1, () => add(words, at, 1));
  const recordedNs = ((performance.now() - t) * 1e6) / n;
  return { bareNs, recordedNs };
});
