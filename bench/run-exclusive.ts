/**
 * Benchmark 4: `runExclusive` across threads against async-mutex's
 * `runExclusive` in one thread (`await mutex.runExclusive(() => x++)` in a
 * loop). sabre is measured (a) in the main thread alone and (b) with two
 * worker threads each running the loop on one shared Mutex (per-op time =
 * elapsed / total ops of both threads).
 *
 * Alongside, probes that split sabre's single-thread cost into its parts
 * (same loop, same thread, interleaved): the floor of any promise-returning
 * call (`await Promise.resolve(fn())`, no lock), `await lockAsync()` +
 * `unlock()` by hand, and the synchronous `withLock` (no promise) for scale.
 */
import { Mutex as AsyncMutex } from 'async-mutex';
import { Mutex } from '../src/sync/mutex.js';
import type { Task } from './lib/control.js';
import { BenchThreads, minShare, starvedWindows, type TimedRun } from './lib/threads.js';
import { fmtNs, fmtPct, fmtRatio, interleave, median, timeLoop, timeLoopAsync, type Section } from './lib/stats.js';

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

export async function runExclusive(threads: BenchThreads, cfg: RunExclusiveConfig): Promise<Section> {
  const data = new Int32Array(new SharedArrayBuffer(128));
  const bump = (): number => (data[0] = data[0]! + 1);
  const am = new AsyncMutex();
  const mutex = new Mutex();

  const asyncMutexLoop = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await am.runExclusive(bump);
  };
  const sabreLoop = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await mutex.runExclusive(bump);
  };
  const shapeLoop = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await promiseOnly(bump);
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
    for (let i = 0; i < n; i++) mutex.withLock(bump);
  };
  const twoThreads = async (): Promise<TimedRun> => {
    const shared = new Mutex();
    const buf = new SharedArrayBuffer(128);
    const tasks: Task[] = Array.from({ length: threads.size }, () => ({ kind: 'runExclusive', handle: shared.handle, data: buf }) as const);
    const r = await threads.run(tasks, cfg.threadMs, cfg.windowMs);
    if (new Int32Array(buf)[0] !== r.ops.reduce((a, b) => a + b, 0)) throw new Error('runExclusive across threads lost an update: mutual exclusion broken');
    return r;
  };

  const variants: (() => Promise<number | TimedRun>)[] = [
    () => timeLoopAsync(asyncMutexLoop, cfg.sampleMs, BATCH),
    () => timeLoopAsync(sabreLoop, cfg.sampleMs, BATCH),
    twoThreads,
    () => timeLoopAsync(shapeLoop, cfg.sampleMs, BATCH),
    () => timeLoopAsync(lockAsyncLoop, cfg.sampleMs, BATCH),
    async () => timeLoop(withLockLoop, cfg.sampleMs, BATCH),
  ];
  // Warm-up (not recorded).
  for (const v of variants.slice(0, 2).concat(variants.slice(3))) await v();
  const samples = await interleave(cfg.rounds, variants);
  const perOp = (r: TimedRun): number => r.elapsedNs / r.ops.reduce((a, b) => a + b, 0);
  const runs = samples[2] as TimedRun[];
  const [amNs, sabre1] = [median(samples[0] as number[]), median(samples[1] as number[])];
  const sabre2 = median(runs.map(perOp));
  const [shapeNs, lockAsyncNs, withLockNs] = [3, 4, 5].map((i) => median(samples[i] as number[])) as [number, number, number];
  const starved = runs.reduce((a, r) => a + starvedWindows(r), 0);
  const share = Math.min(...runs.map(minShare));

  const met = amNs / sabre2 >= 10;
  const notes: string[] = [
    `Two threads: least share of a thread in a ${cfg.windowMs} ms window ${fmtPct(share)}, ${starved} starved windows; the shared counter matched the op count in every round.`,
    `Where sabre's single-thread time goes: the caller's \`await\` of a resolved promise alone (the floor of any promise-returning API) costs ${fmtNs(shapeNs)} of its ${fmtNs(sabre1)}; \`await lockAsync()\` + \`unlock()\` ${fmtNs(lockAsyncNs)}; the synchronous \`withLock\` (no promise at all) ${fmtNs(withLockNs)}.`,
  ];
  return {
    title: '4. runExclusive: sabre across threads vs async-mutex in one thread',
    intro: `${cfg.rounds} interleaved rounds; main-thread loops ${cfg.sampleMs} ms per sample, the two-thread loop ${cfg.threadMs} ms (per-op = elapsed / total ops of both threads). Each op: \`await mutex.runExclusive(() => x++)\`.`,
    header: ['variant', 'per op', 'async-mutex ÷ this'],
    rows: [
      ['async-mutex `runExclusive`, one thread', fmtNs(amNs), '1.00×'],
      ['sabre `runExclusive`, one thread (main)', fmtNs(sabre1), fmtRatio(amNs / sabre1)],
      [`sabre \`runExclusive\`, ${threads.size} threads, one shared Mutex`, fmtNs(sabre2), fmtRatio(amNs / sabre2)],
      ['probe: `await Promise.resolve(fn())`, no lock (the floor)', fmtNs(shapeNs), fmtRatio(amNs / shapeNs)],
      ['probe: `await lockAsync()` + `unlock()`', fmtNs(lockAsyncNs), fmtRatio(amNs / lockAsyncNs)],
      ['probe: sync `withLock` (no await)', fmtNs(withLockNs), fmtRatio(amNs / withLockNs)],
    ],
    goals: [
      { text: 'at least 10× faster than async-mutex while working across threads', met, detail: `${fmtRatio(amNs / sabre2)} across ${threads.size} threads, ${fmtRatio(amNs / sabre1)} in one thread` },
    ],
    notes,
  };
}
