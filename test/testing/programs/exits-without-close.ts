/** A process that uses runThreads and never calls closeThreads: it must still exit (the workers are unref'd). */
import { runThreads } from '../../../src/testing/index.js';

const { results } = await runThreads({
  threads: [{ mode: 'add', n: 3 }],
  program: new URL('./basic.ts', import.meta.url),
  setup: () => ({ counts: new Int32Array(new SharedArrayBuffer(4)) }),
  seed: 1,
});
console.log(`ran ${results.length}`);
