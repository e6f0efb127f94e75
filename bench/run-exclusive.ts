/**
 * Benchmark 4: `runExclusive` against async-mutex's `runExclusive`, on equal
 * terms: both call the callback asynchronously (sabre's never calls it inside
 * the call, as async-mutex's does not), both get the same callback, and each
 * op is `await mutex.runExclusive(fn)` in a loop. Measured with a synchronous
 * callback (`() => x++`) and an async one (`async () => x++`). sabre also
 * runs (b) with two worker threads each running the loop on one shared Mutex
 * (per-op time = elapsed / total ops of both threads), which async-mutex
 * cannot do.
 *
 * All variants run interleaved in each round; the table gives medians and,
 * per variant, the paired ratio (the median over rounds of async-mutex's time
 * ÷ this variant's time in the same round).
 *
 * Alongside, probes that split sabre's single-thread cost into its parts
 * (same loop, same thread, interleaved): the floor of any promise-returning
 * call (`await Promise.resolve(fn())`), the floor of one that calls fn in a
 * later microtask (`await RESOLVED.then(fn)`), `await lockAsync()` +
 * `unlock()` by hand, and the synchronous `runExclusiveSync` (no promise) for scale.
 */
import { Mutex as AsyncMutex } from 'async-mutex';
import { Mutex } from '../src/sync/mutex.js';
import type { Task } from './lib/control.js';
import { BenchThreads, minShare, starvedWindows, type TimedRun } from './lib/threads.js';
import { fmtNs, fmtPct, fmtRatio, interleave, median, pairedRatio, timeLoop, timeLoopAsync, type Section } from './lib/stats.js';

export interface RunExclusiveConfig {
  readonly rounds: number;
  readonly sampleMs: number;
  readonly threadMs: number;
  readonly windowMs: number;
}

const BATCH = 1000;

/** The floor of any promise-returning API: call fn, wrap its result, no lock. */
function promiseOnly<T>(fn: () => T): Promise<T> {
  return Promise.resolve(fn());
}

const RESOLVED = Promise.resolve();
/** The floor of an API that never calls fn inside the call: one microtask hop, no lock. */
function laterOnly<T>(fn: () => T): Promise<T> {
  return RESOLVED.then(fn);
}

export async function runExclusive(threads: BenchThreads, cfg: RunExclusiveConfig): Promise<Section> {
  const data = new Int32Array(new SharedArrayBuffer(128));
  const bump = (): number => (data[0] = data[0]! + 1);
  const bumpAsync = async (): Promise<number> => (data[0] = data[0]! + 1);
  const am = new AsyncMutex();
  const mutex = new Mutex();

  const loop =
    (run: () => Promise<unknown>) =>
    async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await run();
    };
  const lockAsyncLoop = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await mutex.lockAsync();
      try {
        bump();
      } finally {
        mutex.unlock();
      }
    }
  };
  const withLockLoop = (n: number): void => {
    for (let i = 0; i < n; i++) mutex.runExclusiveSync(bump);
  };
  const twoThreads = async (): Promise<TimedRun> => {
    const shared = new Mutex();
    const buf = new SharedArrayBuffer(128);
    const tasks: Task[] = Array.from({ length: threads.size }, () => ({ kind: 'runExclusive', handle: shared.handle, data: buf }) as const);
    const r = await threads.run(tasks, cfg.threadMs, cfg.windowMs);
    if (new Int32Array(buf)[0] !== r.ops.reduce((a, b) => a + b, 0))
      throw new Error('runExclusive across threads lost an update: mutual exclusion broken');
    return r;
  };
  const perOp = (r: TimedRun): number => r.elapsedNs / r.ops.reduce((a, b) => a + b, 0);

  const variants: (() => Promise<number | TimedRun>)[] = [
    () =>
      timeLoopAsync(
        loop(() => am.runExclusive(bump)),
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        loop(() => mutex.runExclusive(bump)),
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        loop(() => am.runExclusive(bumpAsync)),
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        loop(() => mutex.runExclusive(bumpAsync)),
        cfg.sampleMs,
        BATCH,
      ),
    twoThreads,
    () =>
      timeLoopAsync(
        loop(() => promiseOnly(bump)),
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        loop(() => laterOnly(bump)),
        cfg.sampleMs,
        BATCH,
      ),
    () => timeLoopAsync(lockAsyncLoop, cfg.sampleMs, BATCH),
    async () => timeLoop(withLockLoop, cfg.sampleMs, BATCH),
  ];
  const TWO = 4;
  // Warm-up (not recorded).
  for (const [i, v] of variants.entries()) if (i !== TWO) await v();
  const samples = await interleave(cfg.rounds, variants);
  const ns = samples.map((xs, i) => (i === TWO ? (xs as TimedRun[]).map(perOp) : (xs as number[])));
  const runs = samples[TWO] as TimedRun[];
  const [amSync, sabreSync, amAsync, sabreAsync, sabreTwo, shapeNs, laterNs, lockAsyncNs, withLockNs] = ns.map(median) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const paired = (i: number, against = 0): number => pairedRatio(ns[against]!, ns[i]!);
  const starved = runs.reduce((a, r) => a + starvedWindows(r), 0);
  const share = Math.min(...runs.map(minShare));

  const met = paired(TWO) >= 10;
  const notes: string[] = [
    `Two threads: least share of a thread in a ${cfg.windowMs} ms window ${fmtPct(share)}, ${starved} starved windows; the shared counter matched the op count in every round.`,
    `Where sabre's single-thread time goes: the caller's \`await\` of a resolved promise alone (the floor of any promise-returning API) costs ${fmtNs(shapeNs)}, and calling fn one microtask later (the floor of an API that never calls fn inside the call, as both libraries do) ${fmtNs(laterNs)}, of sabre's ${fmtNs(sabreSync)}; \`await lockAsync()\` + \`unlock()\` ${fmtNs(lockAsyncNs)}; the synchronous \`withLock\` (no promise at all) ${fmtNs(withLockNs)}.`,
    'The two-thread row is compared with async-mutex in one thread (async-mutex cannot be shared by threads); its ratio says what sharing costs, not a like-for-like race.',
    `Shares are uneven (but no window starves): the lock is held from the call to the end of fn, across the microtask before fn, so a thread looping on \`runExclusive\` takes it again while the other thread's waiter is still being woken, until that waiter has waited STARVATION_MS and an unlock hands it the lock.`,
  ];
  return {
    title: '4. runExclusive: sabre vs async-mutex, both asynchronous',
    intro: `${cfg.rounds} interleaved rounds; main-thread loops ${cfg.sampleMs} ms per sample, the two-thread loop ${cfg.threadMs} ms (per-op = elapsed / total ops of both threads). Each op: \`await mutex.runExclusive(fn)\`, with the same fn for both libraries. Ratios: async-mutex's time (same callback) ÷ this row's; "paired" is the median of the per-round ratios.`,
    header: ['variant', 'per op', 'async-mutex ÷ this', 'paired'],
    rows: [
      ['async-mutex `runExclusive(() => x++)`, one thread', fmtNs(amSync), '1.00×', '1.00×'],
      ['sabre `runExclusive(() => x++)`, one thread (main)', fmtNs(sabreSync), fmtRatio(amSync / sabreSync), fmtRatio(paired(1))],
      ['async-mutex `runExclusive(async () => x++)`, one thread', fmtNs(amAsync), '1.00×', '1.00×'],
      [
        'sabre `runExclusive(async () => x++)`, one thread (main)',
        fmtNs(sabreAsync),
        fmtRatio(amAsync / sabreAsync),
        fmtRatio(paired(3, 2)),
      ],
      [
        `sabre \`runExclusive(() => x++)\`, ${threads.size} threads, one shared Mutex`,
        fmtNs(sabreTwo),
        fmtRatio(amSync / sabreTwo),
        fmtRatio(paired(TWO)),
      ],
      ['probe: `await Promise.resolve(fn())`, no lock', fmtNs(shapeNs), fmtRatio(amSync / shapeNs), fmtRatio(paired(5))],
      [
        'probe: `await RESOLVED.then(fn)`, no lock (fn one microtask later)',
        fmtNs(laterNs),
        fmtRatio(amSync / laterNs),
        fmtRatio(paired(6)),
      ],
      ['probe: `await lockAsync()` + `unlock()`', fmtNs(lockAsyncNs), fmtRatio(amSync / lockAsyncNs), fmtRatio(paired(7))],
      ['probe: sync `runExclusiveSync` (no await)', fmtNs(withLockNs), fmtRatio(amSync / withLockNs), fmtRatio(paired(8))],
    ],
    goals: [
      {
        text: 'at least 10× faster than async-mutex while working across threads',
        met,
        detail: `paired: ${fmtRatio(paired(TWO))} across ${threads.size} threads, ${fmtRatio(paired(1))} in one thread (${fmtRatio(paired(3, 2))} with an async callback)`,
      },
    ],
    notes,
  };
}
