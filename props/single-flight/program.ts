/**
 * Threads call `getOrCompute` on a few keys of one Cache, each call with a
 * computation that counts itself (`shared.words[COMPUTED + k]`), takes a
 * little while (a random spin, so that misses overlap), and returns which
 * thread computed it. Each thread checks that every answer it got for a key
 * is the same one (`MISMATCHES` otherwise) and publishes its first answer
 * per key in `ANSWERS + thread * MAX_KEYS + k` (thread + 1; 0: none), so the
 * property can compare answers across threads.
 *
 * `kind`: 'cache' (the real one) or 'unshared' (props/single-flight/unshared-compute.ts).
 */
import { add, store } from '../../src/memory/atomics.js';
import { Cache, type CacheHandle } from '../../src/store/cache.js';
import { defineProgram } from '../../src/testing/index.js';
import { unsharedGetOrCompute } from './unshared-compute.js';

export const MAX_KEYS = 4;
export const MAX_THREADS = 4;
export const COMPUTED = 0;
export const MISMATCHES = COMPUTED + MAX_KEYS;
export const ANSWERS = MISMATCHES + 1;
export const COMPUTE_WORDS = ANSWERS + MAX_THREADS * MAX_KEYS;

export interface ComputeShared {
  readonly kind: 'cache' | 'unshared';
  readonly cache: CacheHandle;
  readonly words: Int32Array;
}
export interface ComputeInput {
  readonly calls: number;
  readonly keys: number;
}

export default defineProgram<ComputeShared, ComputeInput, Promise<void>>(async ({ shared, input, random, record, thread }) => {
  const cache = Cache.from<number>(shared.cache);
  const answers = new Map<number, number>();
  for (let i = 0; i < input.calls; i++) {
    const k = Math.floor(random() * input.keys);
    const spin = Math.floor(random() * 20_000);
    const fn = async (): Promise<number> => {
      add(shared.words, COMPUTED + k, 1);
      let x = 0;
      for (let j = 0; j < spin; j++) x += j;
      await new Promise((r) => setImmediate(r, x));
      return thread + 1;
    };
    const got = await record('getOrCompute', { key: `k${k}` }, () =>
      shared.kind === 'unshared' ? unsharedGetOrCompute(cache, `k${k}`, fn) : cache.getOrCompute(`k${k}`, fn),
    );
    const first = answers.get(k);
    if (first === undefined) {
      answers.set(k, got);
      store(shared.words, ANSWERS + thread * MAX_KEYS + k, got);
    } else if (first !== got) add(shared.words, MISMATCHES, 1);
  }
});
