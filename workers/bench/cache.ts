/**
 * The Cache benchmark's worker (`bench/cache.ts`), in two roles:
 *
 * - a bench thread (the default): the protocol of `workers/bench/thread.ts`
 *   (see `bench/lib/control.ts`), so that `BenchThreads` drives it. Each task
 *   looks up keys drawn from Zipf(s) until STOP, and on a miss computes the
 *   value (`expensive`, a fixed amount of CPU) and stores it, in one of three
 *   caches:
 *     - `shared`: one sabre `Cache` for all threads, opened by handle;
 *     - `local`: an `lru-cache` of its own (the usual per-worker cache);
 *     - `comlink`: a central `lru-cache` in another thread, called through
 *       Comlink over a MessagePort (sent beforehand in a `connect` message,
 *       since a task message is cloned, never transferred).
 *   It writes its counts and the heap its cache retains into `results`.
 * - the central cache (`workerData.role === 'server'`): owns one `lru-cache`
 *   and exposes `CentralCacheApi` on every MessagePort it is sent.
 */
import { serveBench } from './serve.js';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { LRUCache } from 'lru-cache';
import { Cache, type CacheHandle } from '../../src/store/cache.js';
import { zipfSampler } from '../../bench/lib/zipf.js';
import { GO, READY, STOP, countWord } from '../../bench/lib/control.js';

/** What a bench thread of the Cache benchmark runs. */
export type CacheTask = {
  /** Key ids 0..keys-1 (keys `user:<id>`), drawn from Zipf(s) seeded by `seed`: the same popular keys, one request stream per slot. */
  readonly keys: number;
  readonly s: number;
  readonly seed: number;
  /** The thread records its misses after this many lookups (the same requests for every cache). */
  readonly firstLookups: number;
  /** Per slot, RESULT_WORDS Float64 words (see LOOKUPS ..). */
  readonly results: SharedArrayBuffer;
} & (
  | { readonly kind: 'shared'; readonly handle: CacheHandle }
  | { readonly kind: 'local'; readonly capacity: number }
  | { readonly kind: 'comlink' }
);

/**
 * Float64 words a thread writes into `results`, at `slot * RESULT_WORDS`:
 * lookups and misses in the whole run, misses in its first `firstLookups`
 * lookups (NaN if it did fewer), the heap its cache retains, and the
 * cache's entries.
 */
export const LOOKUPS = 0,
  FIRST_MISSES = 1,
  HEAP_BYTES = 2,
  ENTRIES = 3,
  MISSES = 4,
  RESULT_WORDS = 5;

/** What the central cache exposes through Comlink. */
export interface CentralCacheApi {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
  /** Starts again with an empty cache of `capacity` (and the heap baseline of `retainedHeap`). */
  reset(capacity: number): void;
  /** Heap the cache retains now (after a full GC) over the baseline taken by `reset`, and its entries. */
  retainedHeap(): { bytes: number; entries: number };
}

/** Multiply-xor rounds of `expensive` (about 30 µs of CPU: `bench/cache.ts` measures and prints it). */
export const MISS_WORK = 15_000;

/**
 * The value of `key`, at the price of a fixed amount of CPU (MISS_WORK
 * multiply-xor rounds): what a miss costs (a query, a render). ~85 bytes.
 */
export function expensive(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  for (let i = 0; i < MISS_WORK; i++) h = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + i) | 0;
  return `{"key":"${key}","score":${h >>> 0},"plan":"pro","region":"eu-west-1","flags":[1,2,3]}`;
}

/*
 * Retained heap: a full GC, then V8's used heap size of this thread's isolate
 * (`v8.getHeapStatistics`), before the cache is made and after the run with
 * the cache still referenced; the difference is what the cache keeps alive.
 * `gc` comes from a context made after `--expose-gc` is set (a worker cannot
 * take V8 flags in its execArgv).
 */
let gc: (() => void) | undefined; // made on first use: importing this module (for `expensive`) sets no flag
function heapAfterGc(): number {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  return getHeapStatistics().used_heap_size;
}

function barrier(ctl: Int32Array): void {
  Atomics.add(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 50);
}

// One loop per cache, not one over an interface: each call site stays monomorphic.
// Keys are made per lookup (as from a request), so a cache retains its own copies.
function sharedLoop(
  ctl: Int32Array,
  count: number,
  cache: Cache<string>,
  next: () => number,
  first: number,
  out: Float64Array,
  at: number,
): number {
  let ops = 0,
    misses = 0;
  out[at + FIRST_MISSES] = NaN;
  while (Atomics.load(ctl, STOP) === 0) {
    const key = `user:${next()}`;
    if (cache.get(key) === undefined) {
      cache.set(key, expensive(key));
      misses++;
    }
    ctl[count] = ++ops;
    if (ops === first) out[at + FIRST_MISSES] = misses;
  }
  out[at + LOOKUPS] = ops;
  out[at + MISSES] = misses;
  return ops;
}

function localLoop(
  ctl: Int32Array,
  count: number,
  cache: LRUCache<string, string>,
  next: () => number,
  first: number,
  out: Float64Array,
  at: number,
): number {
  let ops = 0,
    misses = 0;
  out[at + FIRST_MISSES] = NaN;
  while (Atomics.load(ctl, STOP) === 0) {
    const key = `user:${next()}`;
    if (cache.get(key) === undefined) {
      cache.set(key, expensive(key));
      misses++;
    }
    ctl[count] = ++ops;
    if (ops === first) out[at + FIRST_MISSES] = misses;
  }
  out[at + LOOKUPS] = ops;
  out[at + MISSES] = misses;
  return ops;
}

async function comlinkLoop(
  ctl: Int32Array,
  count: number,
  cache: Comlink.Remote<CentralCacheApi>,
  next: () => number,
  first: number,
  out: Float64Array,
  at: number,
): Promise<number> {
  let ops = 0,
    misses = 0;
  out[at + FIRST_MISSES] = NaN;
  while (Atomics.load(ctl, STOP) === 0) {
    const key = `user:${next()}`;
    if ((await cache.get(key)) === undefined) {
      await cache.set(key, expensive(key));
      misses++;
    }
    ctl[count] = ++ops;
    if (ops === first) out[at + FIRST_MISSES] = misses;
  }
  out[at + LOOKUPS] = ops;
  out[at + MISSES] = misses;
  return ops;
}

/** This thread's proxy to the central cache (after a `connect` message). */
let central: Comlink.Remote<CentralCacheApi> | undefined;

async function run({ task, control, slot }: { task: CacheTask; control: SharedArrayBuffer; slot: number }): Promise<number> {
  const ctl = new Int32Array(control);
  const count = countWord(slot);
  const out = new Float64Array(task.results);
  const at = slot * RESULT_WORDS;
  const next = zipfSampler(task.keys, task.s, task.seed, slot);
  switch (task.kind) {
    case 'shared': {
      const before = heapAfterGc();
      const cache = Cache.from<string>(task.handle);
      barrier(ctl);
      const ops = sharedLoop(ctl, count, cache, next, task.firstLookups, out, at);
      out[at + HEAP_BYTES] = heapAfterGc() - before;
      out[at + ENTRIES] = cache.size;
      return ops;
    }
    case 'local': {
      const before = heapAfterGc();
      const cache = new LRUCache<string, string>({ max: task.capacity });
      barrier(ctl);
      const ops = localLoop(ctl, count, cache, next, task.firstLookups, out, at);
      out[at + HEAP_BYTES] = heapAfterGc() - before;
      out[at + ENTRIES] = cache.size;
      return ops;
    }
    case 'comlink': {
      if (central === undefined) throw new Error('no central cache: send a connect message first');
      barrier(ctl);
      const ops = await comlinkLoop(ctl, count, central, next, task.firstLookups, out, at);
      out[at + HEAP_BYTES] = 0; // the cache lives in the central thread: see its retainedHeap()
      out[at + ENTRIES] = 0;
      return ops;
    }
  }
}

function serve(): void {
  const empty = new LRUCache<string, string>({ max: 1 });
  let cache = empty;
  let baseline = heapAfterGc();
  const api: CentralCacheApi = {
    get: (key) => cache.get(key),
    set: (key, value) => void cache.set(key, value),
    reset: (capacity) => {
      cache = empty; // the previous cache is garbage before the baseline
      baseline = heapAfterGc();
      cache = new LRUCache<string, string>({ max: capacity });
    },
    retainedHeap: () => ({ bytes: heapAfterGc() - baseline, entries: cache.size }),
  };
  parentPort!.on('message', (m: { port: MessagePort }) => Comlink.expose(api, nodeEndpoint(m.port)));
}

type Message = { task: CacheTask; control: SharedArrayBuffer; slot: number } | { connect: MessagePort };

if ((workerData as { role?: string } | null)?.role === 'server') serve();
else {
  parentPort?.on('message', (message: Message) => {
    if ('connect' in message) {
      central = Comlink.wrap<CentralCacheApi>(nodeEndpoint(message.connect));
      parentPort!.postMessage({ connected: true });
    }
  });
  serveBench(run, (message: Message) => !('connect' in message));
}
