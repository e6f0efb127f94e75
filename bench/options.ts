/**
 * Benchmark 21: what strict options cost a call that passes them.
 *
 * Every options object is checked whole on every call (an unknown key is an
 * error, src/options/schema.ts). This measures that check where it sits on a
 * hot path: the same call with no options, with an options constant passed
 * on every call (the usual way: the schema answers it from its memo), with a
 * positional timeout, and with a new object literal each call (checked
 * whole every time).
 */
import { Mutex } from '../src/sync/mutex.js';
import { Semaphore } from '../src/sync/semaphore.js';
import { fmtNs, fmtRatio, interleave, median, pairedRatio, timeLoop, timeLoopAsync, type Section } from './lib/stats.js';

export interface OptionsConfig {
  readonly rounds: number;
  readonly sampleMs: number;
}

const BATCH = 5_000;

export async function optionsCost(cfg: OptionsConfig): Promise<Section> {
  const m = new Mutex();
  const s = new Semaphore(4);
  const LOCK = { timeoutMs: 1000 };
  const ASYNC = { timeoutMs: 1000, priority: 0 };
  const variants: { readonly name: string; readonly base?: number; readonly run: () => number | Promise<number> }[] = [
    {
      name: '`lock()` + `unlock()`',
      run: () =>
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) {
              m.lock();
              m.unlock();
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`lock(1000)` + `unlock()` (a positional timeout)',
      base: 0,
      run: () =>
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) {
              m.lock(1000);
              m.unlock();
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`lock(LOCK)` + `unlock()` (an options constant)',
      base: 0,
      run: () =>
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) {
              m.lock(LOCK);
              m.unlock();
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`lock({ timeoutMs: 1000 })` + `unlock()` (a new object each call)',
      base: 0,
      run: () =>
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) {
              m.lock({ timeoutMs: 1000 });
              m.unlock();
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`await lockAsync()` + `unlock()`',
      run: () =>
        timeLoopAsync(
          async (n) => {
            for (let i = 0; i < n; i++) {
              await m.lockAsync();
              m.unlock();
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`await lockAsync(ASYNC)` + `unlock()` (an options constant)',
      base: 4,
      run: () =>
        timeLoopAsync(
          async (n) => {
            for (let i = 0; i < n; i++) {
              await m.lockAsync(ASYNC);
              m.unlock();
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`semaphore.acquire(1)` + `release(1)`',
      run: () =>
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) {
              s.acquire(1);
              s.release(1);
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
    {
      name: '`semaphore.acquire(1, 1000)` + `release(1)` (a positional timeout)',
      base: 6,
      run: () =>
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) {
              s.acquire(1, 1000);
              s.release(1);
            }
          },
          cfg.sampleMs,
          BATCH,
        ),
    },
  ];
  for (const v of variants) await v.run(); // warm-up, not recorded
  const ns = await interleave(
    cfg.rounds,
    variants.map((v) => v.run),
  );
  // Paired per round: the extra ns of a call with options over the same call without, measured back to back.
  const extra = (i: number, base: number): number => median(ns[i]!.map((x, r) => x - ns[base]![r]!));
  const rows = variants.map((v, i) => [
    v.name,
    fmtNs(median(ns[i]!)),
    v.base === undefined
      ? '–'
      : `${fmtRatio(pairedRatio(ns[i]!, ns[v.base]!))}, ${extra(i, v.base) >= 0 ? '+' : ''}${fmtNs(extra(i, v.base))}`,
  ]);
  const checked = [extra(1, 0), extra(2, 0), extra(5, 4), extra(7, 6)];
  const worst = Math.max(...checked);
  return {
    title: '21. Strict options on hot paths',
    intro: `One thread, ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; medians, and the paired ratio against the same call without options. Every options object is checked whole (an unknown key is an error): an object passed again with the same values is answered from the schema's memo, a new literal is checked each time.`,
    header: ['call', 'per call', 'vs the same call without options (paired)'],
    rows,
    goals: [
      {
        text: 'an options constant or a positional timeout adds at most 15 ns to a call (the schema answers it from its memo)',
        met: worst <= 15,
        detail: `worst: ${fmtNs(worst)} more (${checked.map(fmtNs).join(', ')})`,
      },
    ],
  };
}
