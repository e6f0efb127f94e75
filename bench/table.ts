/**
 * Benchmark 9: the shared hash table.
 * - `get` (hit) and `set` (replace) in one thread against a `Map`, with the
 *   'string' codec (the cheapest decode) and 'json'; the table is the same
 *   memory every thread reads, the Map belongs to one thread.
 * - 2 threads: each runs `get` with one `set` in 10 on its own keys
 *   (distinct), then both on the same keys (shared); against 1 thread.
 */
import { SharedHashTable } from '../src/table/shared-hash-table.js';
import type { Task } from './lib/control.js';
import { BenchThreads, throughput, type TimedRun } from './lib/threads.js';
import { fmtNs, fmtRate, fmtRatio, interleave, median, pairedRatio, timeLoop, type Section } from './lib/stats.js';

export interface TableConfig {
  readonly rounds: number;
  readonly sampleMs: number;
  readonly durationMs: number;
  readonly windowMs: number;
}

const KEYS = 1000;
const BATCH = 1000;
const WRITE_EVERY = 10;
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
/** Many more keys than a table instance's decode cache holds (4,096): nearly every read decodes. */
const COLD_KEYS = 32 * KEYS;
const coldKeys = Array.from({ length: COLD_KEYS }, (_, i) => `cold:${i}`);

export async function tableSingle(cfg: TableConfig): Promise<Section> {
  const str = new SharedHashTable<string>({ capacity: 64 * 1024, maxKeyBytes: 32, maxValueBytes: 64, codec: 'string' });
  const json = new SharedHashTable<{ n: number }>({ capacity: 64 * 1024, maxKeyBytes: 32, maxValueBytes: 64, codec: 'json' });
  const map = new Map<string, string>();
  for (const k of coldKeys) str.set(k, `value of ${k}`);
  for (const k of keys) {
    str.set(k, `value of ${k}`);
    json.set(k, { n: 1 });
    map.set(k, `value of ${k}`);
  }
  let sink = 0;
  const loop =
    (op: (key: string) => unknown, over = keys) =>
    () =>
      timeLoop(
        (n) => {
          for (let i = 0; i < n; i++) if (op(over[i % over.length]!) !== undefined) sink++;
        },
        cfg.sampleMs,
        BATCH,
      );
  let cold = 0;
  const coldLoop = () =>
    timeLoop(
      (n) => {
        for (let i = 0; i < n; i++, cold++) if (str.get(coldKeys[cold % COLD_KEYS]!) !== undefined) sink++;
      },
      cfg.sampleMs,
      BATCH,
    );
  const variants = [
    loop((k) => map.get(k)),
    loop((k) => str.get(k)),
    loop((k) => str.has(k) || undefined),
    loop((k) => json.get(k)),
    loop((k) => map.set(k, 'v')),
    loop((k) => str.set(k, 'v')),
    loop((k) => json.set(k, { n: 2 })),
    coldLoop,
  ];
  for (const v of variants) v(); // warm-up
  const [mg, sg, sh, jg, ms, ss, js, sc] = (await interleave(cfg.rounds, variants)) as [
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
  ];
  if (sink === 0) throw new Error('no hits');
  const getRatio = pairedRatio(sg, mg);
  return {
    title: '9. SharedHashTable get and set vs Map (one thread)',
    intro: `One thread, ${KEYS} keys like "user:123" in a 65,536-entry table, ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; per op; medians; "paired" = median of per-round ratios.`,
    header: ['operation', 'per op', 'paired vs `Map.get`'],
    rows: [
      ["`Map.get` (one thread's memory)", fmtNs(median(mg)), '1.00×'],
      ['table `get`, string codec (hot keys: decoded string reused)', fmtNs(median(sg)), fmtRatio(getRatio)],
      [
        `table \`get\`, string codec (${COLD_KEYS.toLocaleString('en-US')} keys in turn: copied and decoded)`,
        fmtNs(median(sc)),
        fmtRatio(pairedRatio(sc, mg)),
      ],
      ['table `has` (no decode)', fmtNs(median(sh)), fmtRatio(pairedRatio(sh, mg))],
      ['table `get`, json codec', fmtNs(median(jg)), fmtRatio(pairedRatio(jg, mg))],
      ['`Map.set`', fmtNs(median(ms)), fmtRatio(pairedRatio(ms, mg))],
      ['table `set` (replace), string codec', fmtNs(median(ss)), fmtRatio(pairedRatio(ss, mg))],
      ['table `set` (replace), json codec', fmtNs(median(js)), fmtRatio(pairedRatio(js, mg))],
    ],
    goals: [
      {
        text: 'table `get` (string codec) within 5× of `Map.get`, while shared by all threads',
        met: getRatio <= 5,
        detail: `paired: ${fmtRatio(getRatio)}`,
      },
    ],
    notes: [
      'A table `get` encodes the key to UTF-8, hashes it (HalfSipHash-1-3, keyed), probes, checks the segment sequence, and copies and decodes the value: `has` shows the cost before the copy. With the string codec each table instance keeps a read memo (up to 16,384 keys, CLOCK eviction): a remembered key skips the encoding, hashing and probing, checks that its slot is still live with the same 64-bit write number between a load of the segment sequence and its re-check, and returns the string it decoded before, as a `Map` returns the reference it holds; the cold row (more keys than the memo) shows the full lookup, copy and decode. json and v8 values are objects the caller may change, so they are always decoded afresh.',
      "An `Atomics` call is a builtin call of about 15–20 ns here (not an inlined instruction), on Node 20 and 26 alike: a read makes two, a load of the segment sequence and its re-check, which is an `Atomics.add(seq, 0)` so that the plain reads between them are sound under the JavaScript memory model on every CPU (see the table's notes).",
      'A `set` takes the segment lock and writes the value out of place (a fresh slot), so a writer that dies mid-write never tears it.',
    ],
  };
}

export async function tableThreads(threads: BenchThreads, cfg: TableConfig): Promise<Section> {
  const n = threads.size;
  const table = new SharedHashTable<string>({ capacity: 64 * 1024, maxKeyBytes: 32, maxValueBytes: 64, codec: 'string' });
  for (let t = 0; t < n; t++) for (let i = 0; i < KEYS; i++) table.set(`t${t}:${i}`, 'value');
  for (let i = 0; i < KEYS; i++) table.set(`shared:${i}`, 'value');
  const tasks = (shared: boolean, count: number): Task[] =>
    Array.from(
      { length: count },
      (_, t) =>
        ({
          kind: 'table',
          handle: table.handle,
          prefix: shared ? 'shared:' : `t${t}:`,
          keys: KEYS,
          writeEvery: WRITE_EVERY,
        }) as const,
    );
  const once = (shared: boolean, count: number) => async (): Promise<TimedRun> =>
    threads.run(tasks(shared, count), cfg.durationMs, cfg.windowMs);
  const variants = [once(false, n), once(true, n), once(false, 1)];
  for (const v of variants) await v();
  const [distinct, shared, one] = (await interleave<TimedRun>(cfg.rounds, variants)).map((runs) => runs.map(throughput)) as [
    number[],
    number[],
    number[],
  ];
  return {
    title: '10. SharedHashTable on 2 threads: distinct and shared keys',
    intro: `${n} worker threads, ${cfg.rounds} interleaved rounds of ${cfg.durationMs} ms; each op is a \`get\` (string codec), one in ${WRITE_EVERY} a \`set\`; ${KEYS} keys per thread (distinct) or ${KEYS} keys for all (shared); total ops/s; medians.`,
    header: ['variant', 'ops/s', 'vs 1 thread'],
    rows: [
      ['1 thread', fmtRate(median(one)), '1.00×'],
      [`${n} threads, distinct keys`, fmtRate(median(distinct)), fmtRatio(pairedRatio(distinct, one))],
      [`${n} threads, the same keys`, fmtRate(median(shared)), fmtRatio(pairedRatio(shared, one))],
    ],
    goals: [
      {
        text: 'readers and writers of different keys do not serialize: 2 threads beat 1',
        met: pairedRatio(distinct, one) > 1,
        detail: `2 threads ÷ 1, paired: ${fmtRatio(pairedRatio(distinct, one))}`,
      },
    ],
    notes: [
      "Reads take no lock; writers lock only their key's segment (64 segments in this table). On the same keys, a write makes concurrent reads of its segment retry.",
    ],
  };
}
