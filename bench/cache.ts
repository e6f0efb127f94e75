/**
 * Benchmarks 12 to 14: the shared Cache against lru-cache.
 * - 12: `get` (hit) and `set` (a new key into a full cache, evicting) in one
 *   thread, per codec, against `lru-cache`, on a realistic key set.
 * - 13: hit ratios of sabre LRU, sabre LFU (W-TinyLFU) and lru-cache on the
 *   same seeded traces (Zipf, and Zipf polluted by scans): what W-TinyLFU
 *   buys. Deterministic traces, so no timing and one pass each.
 * - 14: two workers on a Zipf key stream with an expensive computation on a
 *   miss: one shared Cache, a per-worker lru-cache each, and one central
 *   lru-cache in a third thread behind Comlink; memory, hits, misses
 *   computed and lookups/s.
 */
import type { Worker } from 'node:worker_threads';
import { MessageChannel } from 'node:worker_threads';
import { serialize } from 'node:v8';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { LRUCache } from 'lru-cache';
import { Cache, WINDOW_FRACTION, type CachePolicy } from '../src/store/cache.js';
import { EVICTION_SAMPLE } from '../src/table/eviction.js';
import { spawnWorker } from '../src/threads/spawn.js';
import {
  expensive,
  ENTRIES,
  FIRST_MISSES,
  HEAP_BYTES,
  LOOKUPS,
  MISSES,
  RESULT_WORDS,
  type CacheTask,
  type CentralCacheApi,
} from '../workers/bench/cache.js';
import { BenchThreads, throughput, type TimedRun } from './lib/threads.js';
import { repeatShare, scanTrace, zipfTrace } from './lib/zipf.js';
import { fmtNs, fmtPct, fmtRate, fmtRatio, interleave, median, pairedRatio, timeLoop, type Section } from './lib/stats.js';

const BATCH = 1000;
const SEED = 20_240_601;

// ---- 12. get and set, one thread ----------------------------------------

export interface CacheSingleConfig {
  readonly rounds: number;
  readonly sampleMs: number;
}

/** Keys like "user:12345", values a ~70-byte profile. */
const KEYS = 10_000;
const keyOf = (i: number): string => `user:${10_000 + i}`;
const profileOf = (i: number) => ({ id: 10_000 + i, name: `User ${10_000 + i}`, plan: 'pro', visits: (i * 7919) % 1000, country: 'FR' });
/** Requests drawn from Zipf(0.9) over the KEYS keys, as strings made beforehand (both sides get the same). */
const STREAM = 1 << 16;
/** Distinct keys the `set` loops cycle through: 4x the capacity, so (nearly) every set is a new key and evicts. */
const SET_KEYS = 4 * KEYS;

interface CodecCase {
  readonly name: 'string' | 'json' | 'v8' | 'bytes';
  readonly value: (i: number) => unknown;
}
const profileText = (i: number): string => JSON.stringify(profileOf(i));
const CODECS: readonly CodecCase[] = [
  { name: 'string', value: profileText },
  { name: 'json', value: profileOf },
  { name: 'v8', value: profileOf },
  { name: 'bytes', value: (i) => new TextEncoder().encode(profileText(i)) },
];
const MAX_VALUE_BYTES = 128;

/** `cache` holding KEYS keys that no loop asks for (so it is full). */
function filled<C extends { set(key: string, value: V): unknown }, V>(cache: C, value: V): C {
  for (let i = 0; i < KEYS; i++) cache.set(`fill:${i}`, value);
  return cache;
}

export async function cacheSingle(cfg: CacheSingleConfig): Promise<Section> {
  const ids = zipfTrace({ keys: KEYS, s: 0.9, length: STREAM, seed: SEED });
  const stream = Array.from(ids, keyOf);
  const setStream = Array.from({ length: SET_KEYS }, (_, i) => `user:${100_000 + i}`);
  const sabre = (codec: CodecCase['name'], policy: CachePolicy) =>
    new Cache<unknown>({ capacity: KEYS, maxKeyBytes: 16, maxValueBytes: MAX_VALUE_BYTES, codec, policy });
  const valueBytes = profileText(KEYS - 1).length;
  const v8Bytes = serialize(profileOf(KEYS - 1)).length;

  // get: every key present (capacity = KEYS), so every get is a hit.
  const lru = new LRUCache<string, string>({ max: KEYS });
  for (let i = 0; i < KEYS; i++) lru.set(keyOf(i), profileText(i));
  const getCaches = CODECS.map((c) => {
    const cache = sabre(c.name, 'lru');
    for (let i = 0; i < KEYS; i++) cache.set(keyOf(i), c.value(i));
    return cache;
  });
  const lfu = sabre('string', 'lfu');
  for (let i = 0; i < KEYS; i++) lfu.set(keyOf(i), profileText(i));
  // set: full caches, fed keys they do not hold.
  const lruSet = filled(new LRUCache<string, string>({ max: KEYS }), profileText(0));
  const setCaches = CODECS.map((c) => filled(sabre(c.name, 'lru'), c.value(0)));
  const lfuSet = filled(sabre('string', 'lfu'), profileText(0));
  const setValues = CODECS.map((c) => c.value(1));

  let misses = 0;
  const getLoop = (op: (key: string) => unknown) => {
    let at = 0;
    return () =>
      timeLoop(
        (n) => {
          for (let i = 0; i < n; i++, at++) if (op(stream[at & (STREAM - 1)]!) === undefined) misses++;
        },
        cfg.sampleMs,
        BATCH,
      );
  };
  const setLoop = (op: (key: string) => unknown) => {
    let at = 0;
    return () =>
      timeLoop(
        (n) => {
          for (let i = 0; i < n; i++, at++) op(setStream[at % SET_KEYS]!);
        },
        cfg.sampleMs,
        BATCH,
      );
  };
  const [gs, gj, gv, gb] = getCaches as [Cache, Cache, Cache, Cache];
  const [ss, sj, sv, sb] = setCaches as [Cache, Cache, Cache, Cache];
  const [vs, vj, vv, vb] = setValues as [unknown, unknown, unknown, unknown];
  const lruValue = profileText(1);
  const variants = [
    getLoop((k) => lru.get(k)),
    getLoop((k) => gs.get(k)),
    getLoop((k) => lfu.get(k)),
    getLoop((k) => gj.get(k)),
    getLoop((k) => gv.get(k)),
    getLoop((k) => gb.get(k)),
    setLoop((k) => lruSet.set(k, lruValue)),
    setLoop((k) => ss.set(k, vs)),
    setLoop((k) => lfuSet.set(k, vs)),
    setLoop((k) => sj.set(k, vj)),
    setLoop((k) => sv.set(k, vv)),
    setLoop((k) => sb.set(k, vb)),
  ];
  for (const v of variants) v(); // warm-up, not recorded
  const [lg, sg, fg, jg, vg, bg, ls, sst, fs, js, vs8, bs] = (await interleave(cfg.rounds, variants)) as [
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
  ];
  if (misses > 0) throw new Error(`${misses} gets missed: every key should be present`);
  const getRatio = pairedRatio(sg, lg);
  const row = (label: string, xs: number[], base: number[]) => [label, fmtNs(median(xs)), fmtRatio(pairedRatio(xs, base))];
  return {
    title: '12. Cache get and set vs lru-cache (one thread)',
    intro: `One thread, ${KEYS.toLocaleString('en-US')} keys like "user:12345" with a ${valueBytes}-byte profile as value (a JSON string, the object for json and v8 (${v8Bytes} bytes serialized), its UTF-8 bytes); \`get\`s follow a Zipf(0.9) stream over the keys (all present: every one hits), \`set\`s put keys the full cache does not hold (each evicts one). Capacity ${KEYS.toLocaleString('en-US')}; ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; per op; medians; "paired" = median of per-round ratios.`,
    header: ['operation', 'per op', 'paired vs lru-cache, same operation'],
    rows: [
      ['lru-cache `get` (returns the stored reference, any type)', fmtNs(median(lg)), '1.00×'],
      row('sabre `get`, string codec, LRU', sg, lg),
      row('sabre `get`, string codec, LFU (W-TinyLFU)', fg, lg),
      row('sabre `get`, json codec, LRU', jg, lg),
      row('sabre `get`, v8 codec, LRU', vg, lg),
      row('sabre `get`, bytes codec, LRU', bg, lg),
      ['lru-cache `set` (new key, evicts)', fmtNs(median(ls)), '1.00×'],
      row('sabre `set` (new key, evicts), string codec, LRU', sst, ls),
      row('sabre `set` (new key, evicts), string codec, LFU', fs, ls),
      row('sabre `set` (new key, evicts), json codec, LRU', js, ls),
      row('sabre `set` (new key, evicts), v8 codec, LRU', vs8, ls),
      row('sabre `set` (new key, evicts), bytes codec, LRU', bs, ls),
    ],
    goals: [
      {
        text: '`get` (string codec) within 4× of lru-cache, while shared by all threads',
        met: getRatio <= 4,
        detail: `paired: ${fmtRatio(getRatio)}`,
      },
    ],
    notes: [
      "How to read: lru-cache keeps references in one thread's heap and returns the one it holds; a sabre `get` finds the entry in shared memory without a lock, checks that no write overlapped, and decodes a fresh copy (json, v8, bytes: objects the caller may change), or, with the string codec, returns the string this instance decoded before if the entry has not been written since (strings are immutable); it counts a hit in its thread's stats stripe, and LFU also counts the access in its frequency sketch. The ratio is the price of one copy of the data that every thread reads.",
      `A sabre \`set\` of a new key into a full cache encodes the value, takes the key's segment lock, samples ${EVICTION_SAMPLE} entries of the segment, asks the policy for the victim (an expired one first; LRU: the least recently used; LFU: the least frequent outside the admission window), removes it and inserts, in one critical section.`,
    ],
  };
}

// ---- 13. hit ratios ------------------------------------------------------

export interface CacheHitRatioConfig {
  /** Requests per trace. */
  readonly length: number;
}

const TRACE_KEYS = 30_000;
const TRACE_SKEW = 0.9;
/** Zipf requests between two scans, and one-time keys per scan (twice the larger capacity below). */
const SCAN_EVERY = 15_000,
  SCAN_LENGTH = 3_000;
const CAPACITIES = [0.01, 0.05] as const;

/** Hits over `trace` of a cache that inserts every key it misses. */
function replay(trace: Int32Array, names: readonly string[], get: (k: string) => unknown, set: (k: string) => void): number {
  let hits = 0;
  for (const key of trace) {
    const k = names[key]!;
    if (get(k) !== undefined) hits++;
    else set(k);
  }
  return hits / trace.length;
}

export async function cacheHitRatio(cfg: CacheHitRatioConfig): Promise<Section> {
  const traces = [
    { name: `Zipf(${TRACE_SKEW})`, ids: zipfTrace({ keys: TRACE_KEYS, s: TRACE_SKEW, length: cfg.length, seed: SEED }) },
    {
      name: `Zipf(${TRACE_SKEW}) + scans`,
      ids: scanTrace({ keys: TRACE_KEYS, s: TRACE_SKEW, length: cfg.length, seed: SEED, scanEvery: SCAN_EVERY, scanLength: SCAN_LENGTH }),
    },
  ];
  const names = Array.from({ length: TRACE_KEYS + cfg.length }, (_, i) => `user:${i}`);
  const rows: string[][] = [];
  const gains: number[] = [];
  const lruGaps: number[] = [];
  for (const t of traces) {
    for (const share of CAPACITIES) {
      const capacity = Math.round(TRACE_KEYS * share);
      const ratio = (policy: CachePolicy) => {
        const c = new Cache<string>({ capacity, maxKeyBytes: 16, maxValueBytes: 8, codec: 'string', policy });
        return replay(
          t.ids,
          names,
          (k) => c.get(k),
          (k) => void c.set(k, 'v'),
        );
      };
      const l = new LRUCache<string, string>({ max: capacity });
      const exact = replay(
        t.ids,
        names,
        (k) => l.get(k),
        (k) => void l.set(k, 'v'),
      );
      const lru = ratio('lru');
      const lfu = ratio('lfu');
      gains.push(lfu - lru);
      lruGaps.push(Math.abs(lru - exact));
      rows.push([
        t.name,
        `${capacity.toLocaleString('en-US')} (${fmtPct(share)})`,
        fmtPct2(exact),
        fmtPct2(lru),
        fmtPct2(lfu),
        fmtPoints(lfu - lru),
        fmtPct2(repeatShare(t.ids)),
      ]);
    }
  }
  return {
    title: '13. Cache hit ratio: LRU, W-TinyLFU and lru-cache',
    intro: `${cfg.length.toLocaleString('en-US')} requests per trace over ${TRACE_KEYS.toLocaleString('en-US')} keys, drawn from Zipf(${TRACE_SKEW}) with a fixed seed; the scan trace inserts, after every ${SCAN_EVERY.toLocaleString('en-US')} Zipf requests, a scan of ${SCAN_LENGTH.toLocaleString('en-US')} keys requested once and never again. Every cache replays the same trace, starting empty; on a miss it inserts the key. Hit ratio = hits / requests.`,
    header: [
      'trace',
      'capacity (share of keys)',
      'lru-cache (exact LRU)',
      'sabre LRU (sampled)',
      'sabre LFU (W-TinyLFU)',
      'LFU − LRU',
      'any cache at most',
    ],
    rows,
    goals: [
      {
        text: 'W-TinyLFU buys hit ratio over LRU on every trace and capacity',
        met: gains.every((g) => g > 0),
        detail: `LFU − LRU: ${gains.map(fmtPoints).join(', ')}`,
      },
      {
        text: 'sampled LRU within 1 point of exact LRU (lru-cache)',
        met: lruGaps.every((g) => g <= 0.01),
        detail: `largest gap ${(Math.max(...lruGaps) * 100).toFixed(1)} pts`,
      },
    ],
    notes: [
      'How to read: "LFU − LRU" (in percentage points of hit ratio) is what W-TinyLFU buys on the same memory: every point is a share of requests that no longer pays the miss. "any cache at most" is the share of requests that repeat an earlier one (an infinite cache\'s hit ratio). The scans cost every cache the same misses (each scanned key is new); what differs is whether the popular keys survive them.',
      `sabre's LRU evicts the least recently used of ${EVICTION_SAMPLE} sampled entries (as Redis), not the exact least recent (lru-cache); its eviction sampling and hash seed are random, so its figures move by about 0.1 point from run to run. W-TinyLFU keeps ${fmtPct(WINDOW_FRACTION)} of the capacity as an admission window for new keys and evicts, among the rest, the least frequent by an aged count-min sketch, so keys read once (a scan) do not push out the popular ones.`,
    ],
  };
}

function fmtPct2(r: number): string {
  return `${(r * 100).toFixed(1)}%`;
}
function fmtPoints(d: number): string {
  return `${d >= 0 ? '+' : '−'}${Math.abs(d * 100).toFixed(1)} pts`;
}

// ---- 14. two workers: shared, per worker, central behind Comlink ----------

export interface CacheThreadsConfig {
  readonly rounds: number;
  readonly durationMs: number;
  readonly windowMs: number;
  /** Hits and misses are counted over each thread's first this many lookups (the same requests for every variant). */
  readonly firstLookups: number;
}

const THREAD_KEYS = 20_000;
const THREAD_CAPACITY = 2_000;
const THREAD_SKEW = 0.9;
const WORKER_URL = new URL('../workers/bench/cache.ts', import.meta.url);

interface Outcome {
  readonly run: TimedRun;
  /** Misses in the first `firstLookups` lookups, summed over the threads (NaN if one did fewer). */
  readonly firstMisses: number;
  /** Heap the caches retain, summed over the threads that hold one. */
  readonly heapBytes: number;
  /** Entries at the end, summed over the caches. */
  readonly entries: number;
  /** Hit ratio over the whole run (each variant did its own number of lookups). */
  readonly runHits: number;
}

/**
 * Starts the bench workers, keeping their `Worker`s: the Comlink variant sends
 * each a MessagePort, and a task message (cloned by BenchThreads, never
 * transferred) cannot carry one.
 */
async function startWorkers(n: number): Promise<{ threads: BenchThreads; workers: Worker[] }> {
  const workers: Worker[] = [];
  const seen = (w: Worker): void => void workers.push(w);
  process.on('worker', seen);
  try {
    const threads = await BenchThreads.start(n, WORKER_URL);
    return { threads, workers };
  } finally {
    process.off('worker', seen);
  }
}

function reply(w: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
}

/** Median cost of `expensive` in µs, on this thread (after a warm-up). */
function missCost(): number {
  let sink = 0;
  const sample = (r: number): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 100; i++) sink += expensive(`user:${r * 100 + i}`).length;
    return Number(process.hrtime.bigint() - start) / 100 / 1000;
  };
  for (let r = 0; r < 5; r++) sample(r);
  const us = median(Array.from({ length: 15 }, (_, r) => sample(r)));
  if (sink === 0) throw new Error('no work');
  return us;
}

export async function cacheThreads(cfg: CacheThreadsConfig): Promise<Section> {
  const missUs = missCost();
  const { threads, workers } = await startWorkers(2);
  const server = spawnWorker(WORKER_URL, { workerData: { role: 'server' } });
  const control = new MessageChannel(); // main's own endpoint to the central cache: resets and memory, between runs
  try {
    const n = threads.size;
    // One Comlink endpoint per bench worker.
    await Promise.all(
      workers.map((w) => {
        const { port1, port2 } = new MessageChannel();
        server.postMessage({ port: port1 }, [port1]);
        const connected = reply(w);
        w.postMessage({ connect: port2 }, [port2]);
        return connected;
      }),
    );
    server.postMessage({ port: control.port1 }, [control.port1]);
    const central = Comlink.wrap<CentralCacheApi>(nodeEndpoint(control.port2));
    let sharedBytes = 0;

    const base = { keys: THREAD_KEYS, s: THREAD_SKEW, seed: SEED, firstLookups: cfg.firstLookups };
    const once = (kind: CacheTask['kind']) => async (): Promise<Outcome> => {
      const results = new SharedArrayBuffer(n * RESULT_WORDS * 8);
      let task: CacheTask;
      let cache: Cache<string> | undefined;
      if (kind === 'shared') {
        cache = new Cache<string>({ capacity: THREAD_CAPACITY, maxKeyBytes: 16, maxValueBytes: 128, codec: 'string' });
        sharedBytes = cache.handle.byteLength;
        task = { kind, handle: cache.handle, results, ...base };
      } else if (kind === 'local') task = { kind, capacity: THREAD_CAPACITY, results, ...base };
      else {
        await central.reset(THREAD_CAPACITY);
        task = { kind, results, ...base };
      }
      const run = await threads.run(
        Array.from({ length: n }, () => task),
        cfg.durationMs,
        cfg.windowMs,
      );
      const out = new Float64Array(results);
      const sum = (word: number) => Array.from({ length: n }, (_, slot) => out[slot * RESULT_WORDS + word]!).reduce((a, b) => a + b, 0);
      let heapBytes = sum(HEAP_BYTES),
        entries = sum(ENTRIES);
      if (kind === 'comlink') ({ bytes: heapBytes, entries } = await central.retainedHeap());
      if (kind === 'shared') entries = cache!.size;
      return { run, firstMisses: sum(FIRST_MISSES), heapBytes, entries, runHits: 1 - sum(MISSES) / sum(LOOKUPS) };
    };
    const variants = [once('shared'), once('local'), once('comlink')];
    for (const v of variants) await v(); // warm-up, not recorded
    const [shared, local, comlink] = (await interleave(cfg.rounds, variants)) as [Outcome[], Outcome[], Outcome[]];
    const lookups = n * cfg.firstLookups;
    const rate = (xs: Outcome[]) => xs.map((o) => throughput(o.run));
    const misses = (xs: Outcome[]) => xs.map((o) => o.firstMisses);
    const [rs, rl, rc] = [rate(shared), rate(local), rate(comlink)];
    const [ms, ml, mc] = [misses(shared), misses(local), misses(comlink)];
    const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
    const heap = (xs: Outcome[]) => median(xs.map((o) => o.heapBytes));
    const perEntry = (xs: Outcome[]) => `${median(xs.map((o) => o.heapBytes / o.entries)).toFixed(0)} B`;
    const entries = (xs: Outcome[]) => median(xs.map((o) => o.entries)).toLocaleString('en-US');
    // A round in which a thread did fewer than firstLookups lookups has no count: medians over the others.
    const reached = (m: number[]) => m.filter((x) => !Number.isNaN(x));
    const partly = (m: number[]) =>
      reached(m).length < m.length
        ? ` (${reached(m).length} of ${m.length} rounds reached ${cfg.firstLookups.toLocaleString('en-US')} lookups)`
        : '';
    const hitRatio = (m: number[]) => (reached(m).length === 0 ? 'n/a' : fmtPct(1 - median(reached(m)) / lookups));
    const missCount = (m: number[]) =>
      reached(m).length === 0
        ? `n/a (fewer than ${cfg.firstLookups.toLocaleString('en-US')} lookups)`
        : `${Math.round(median(reached(m))).toLocaleString('en-US')}${partly(m)}`;
    const row = (label: string, memory: string, xs: Outcome[], m: number[], r: number[]) => [
      label,
      memory,
      entries(xs),
      perEntry(xs),
      hitRatio(m),
      missCount(m),
      fmtRate(median(r)),
      fmtRatio(pairedRatio(r, rs)),
    ];
    const missRatio = pairedRatio(ml, ms);
    const vsComlink = pairedRatio(rs, rc);
    return {
      title: '14. Cache on 2 threads: one shared, one per worker, one central behind Comlink',
      intro: `${n} worker threads, ${cfg.rounds} interleaved rounds of ${cfg.durationMs} ms, each from empty caches. Each thread looks up keys drawn from its own Zipf(${THREAD_SKEW}) stream over ${THREAD_KEYS.toLocaleString('en-US')} keys (the same popular keys, different requests); on a miss it computes the value (${missUs.toFixed(0)} µs of CPU here, ~85 bytes) and stores it. Capacity ${THREAD_CAPACITY.toLocaleString('en-US')} entries per cache, string values (sabre with the LRU policy, as lru-cache). Hits and misses: over each thread's first ${cfg.firstLookups.toLocaleString('en-US')} lookups (the same requests in every variant); lookups/s: over the whole run. Medians; "paired" = median of per-round ratios.`,
      header: [
        'variant',
        'memory',
        'entries at the end',
        'heap per entry',
        'hit ratio',
        'misses computed (both threads)',
        'lookups/s (both threads)',
        'lookups/s, paired vs shared',
      ],
      rows: [
        row(
          'one sabre `Cache`, shared by handle',
          `${kib(sharedBytes)} shared, fixed + ${kib(heap(shared))} heap (both instances)`,
          shared,
          ms,
          rs,
        ),
        row('an lru-cache per worker', `${kib(heap(local))} heap (both caches)`, local, ml, rl),
        row('one lru-cache in a third thread, via Comlink', `${kib(heap(comlink))} heap`, comlink, mc, rc),
      ],
      goals: [
        {
          text: 'a value computed by one worker is a hit for the other: fewer misses computed than an lru-cache per worker',
          met: missRatio > 1,
          detail: `misses, per-worker caches ÷ shared, paired: ${fmtRatio(missRatio)}`,
        },
        {
          text: 'the shared Cache serves more lookups/s than a central cache behind Comlink',
          met: vsComlink > 1,
          detail: `shared ÷ Comlink, paired: ${fmtRatio(vsComlink)}`,
        },
      ],
      notes: [
        'How to read: a lookup is a `get`, and on a miss the computation and a `set`. "misses computed" is the work the cache did not save over the same requests: per-worker caches each compute the popular keys once, a shared or central cache once for both threads. lookups/s counts both threads: it rises with the hit ratio (a miss costs the computation) and falls with each lookup\'s own cost.',
        `Memory: the shared Cache is one SharedArrayBuffer of ${kib(sharedBytes)} (${(sharedBytes / THREAD_CAPACITY).toFixed(0)} B per entry of capacity: slots sized for 16-byte keys and 128-byte values), allocated whole at construction whatever the fill, plus what each opened instance retains on its heap (the strings it decoded, buffers). "heap" is measured inside each thread that holds a cache: a full GC, V8's used heap size before the cache is made, and again after the run with the cache still referenced; the difference is what the cache keeps alive (keys, values, bookkeeping). "heap per entry" divides it by the entries held at the end; a per-worker cache at capacity holds ${THREAD_CAPACITY.toLocaleString('en-US')} entries in every worker. The Comlink row's cache lives in the third thread, measured there.`,
        `Over the whole run, hit ratios were ${fmtPct(median(shared.map((o) => o.runHits)))} (shared), ${fmtPct(median(local.map((o) => o.runHits)))} (per worker) and ${fmtPct(median(comlink.map((o) => o.runHits)))} (Comlink, fewer lookups): once warm, a cache of the same capacity hits as often whether one thread or two feed it; sharing saves the warm-up (each key computed once, not once per worker) and the second copy.`,
        'The Comlink variant runs three busy threads on the cores: each lookup is a message to the central thread and a reply (a structured clone of the key and the value, a promise), and a miss adds a `set` round trip; the shared Cache reads shared memory in the calling thread. Misses here are a plain `get` then `set`; `getOrCompute` would also keep two threads from computing one key at the same time.',
      ],
    };
  } finally {
    control.port2.close();
    await threads.close();
    await server.terminate();
  }
}
