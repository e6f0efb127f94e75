/**
 * Test fixture: a worker that reads and fills a shared Cache when asked
 * (driven by test/store/cache.test.ts through test/threads/remote.ts).
 * Computations count themselves in a shared AtomicCounter, so a test can see
 * how many ran across all threads.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { Cache, type CacheHandle } from '../src/store/cache.js';
import { AtomicCounter, type AtomicCounterHandle } from '../src/atomic/counter.js';
import { sleepSync } from '../src/memory/atomics.js';
import { startLine } from './start-line.js';

interface Arg {
  cache: CacheHandle;
  key: string;
  value?: string;
  computations?: AtomicCounterHandle;
  /** How the computation behaves: wait `ms` then return `value`, throw, or never settle. */
  compute?: 'value' | 'throw' | 'hang';
  ms?: number;
  /** A start line (START_WORDS) the computation waits at, after counting itself, until the test arrives too. */
  gate?: Int32Array;
}

const ops: Record<string, (arg: Arg) => unknown> = {
  get: ({ cache, key }) => Cache.from<string>(cache).get(key) ?? null,
  set: ({ cache, key, value }) => void Cache.from<string>(cache).set(key, value!),
  getOrCompute: ({ cache, key, value, computations, compute = 'value', ms = 0, gate }) =>
    Cache.from<string>(cache).getOrCompute(key, async () => {
      if (computations !== undefined) AtomicCounter.from(computations).increment();
      if (gate !== undefined) startLine(gate, 2);
      if (compute === 'hang') {
        parentPort!.postMessage({ computing: true });
        return new Promise<string>(() => {});
      }
      sleepSync(ms); // a CPU-bound computation: this thread is busy meanwhile
      if (compute === 'throw') throw new RangeError(`no value for ${key}`);
      return value!;
    }),
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-cache: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
