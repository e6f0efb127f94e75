/**
 * Benchmarks 2 and 6: the Mutex under contention, two worker threads.
 *
 * Each worker loops lock → increment a shared, non-atomic counter → unlock
 * for a fixed duration, behind a start barrier. Main samples each thread's op
 * count every window, so the table shows throughput and fairness: the least
 * share any thread got in any window, and how many windows a thread starved
 * in (0 ops while the other ran). The counter must equal the total ops at the
 * end (mutual exclusion held), or the run is reported as broken.
 *
 * Variants, all interleaved in the same rounds:
 * - sabre's Mutex with the shipped Backoff;
 * - the Drepper futex mutex (`peers/drepper-mutex.ts`);
 * - sabre's Mutex with spinning switched off (NoSpin) and with other spin
 *   limits (`lib/backoff-switch.ts`): the Spin/NoSpin pair that justifies the
 *   constants of `src/memory/backoff.ts`.
 */
import { Mutex } from '../src/sync/mutex.js';
import { SPIN_LIMIT, YIELD_LIMIT } from '../src/memory/backoff.js';
import { backoffLabel } from './lib/backoff-switch.js';
import type { BackoffMode, Task } from './lib/control.js';
import { BenchThreads, minShare, starvedWindows, throughput, type TimedRun } from './lib/threads.js';
import { fmtPct, fmtRate, fmtRatio, interleave, median, pairedRatio, type Section } from './lib/stats.js';

export interface ContendedConfig {
  readonly rounds: number;
  readonly durationMs: number;
  readonly windowMs: number;
}

interface Variant {
  readonly label: string;
  readonly tasks: () => { tasks: Task[]; data: Int32Array };
}

function sabreVariant(backoff: BackoffMode, threads: number): Variant {
  return {
    label: backoff === 'default' ? 'sabre `Mutex`' : `sabre \`Mutex\`, ${backoffLabel(backoff)}`,
    tasks: () => {
      const mutex = new Mutex();
      const data = new SharedArrayBuffer(128);
      return {
        tasks: Array.from({ length: threads }, () => ({ kind: 'mutex', handle: mutex.handle, data, backoff }) as const),
        data: new Int32Array(data),
      };
    },
  };
}

function drepperVariant(threads: number): Variant {
  return {
    label: 'Drepper futex mutex (mutex3 + spin)',
    tasks: () => {
      const lock = new SharedArrayBuffer(128);
      const data = new SharedArrayBuffer(128);
      return { tasks: Array.from({ length: threads }, () => ({ kind: 'drepper', lock, data }) as const), data: new Int32Array(data) };
    },
  };
}

interface Measured {
  readonly label: string;
  readonly runs: TimedRun[];
  readonly broken: number;
}

async function measure(threads: BenchThreads, variants: readonly Variant[], cfg: ContendedConfig): Promise<Measured[]> {
  const broken = variants.map(() => 0);
  const once = (v: number, durationMs: number) => async (): Promise<TimedRun> => {
    const { tasks, data } = variants[v]!.tasks();
    const r = await threads.run(tasks, durationMs, cfg.windowMs);
    if (data[0] !== r.ops.reduce((a, b) => a + b, 0)) broken[v]!++;
    return r;
  };
  // Warm-up (not recorded): JIT and first-use costs of every variant.
  for (let v = 0; v < variants.length; v++) await once(v, Math.min(200, cfg.durationMs))();
  for (let v = 0; v < variants.length; v++) broken[v] = 0;
  const samples = await interleave(
    cfg.rounds,
    variants.map((_, v) => once(v, cfg.durationMs)),
  );
  return variants.map((v, i) => ({ label: v.label, runs: samples[i]!, broken: broken[i]! }));
}

function row(m: Measured, reference: Measured): string[] {
  const rates = m.runs.map(throughput);
  const refRates = reference.runs.map(throughput);
  const rate = median(rates);
  const share = Math.min(...m.runs.map(minShare));
  const starved = m.runs.reduce((a, r) => a + starvedWindows(r), 0);
  const windows = m.runs.reduce((a, r) => a + r.windows.length, 0);
  return [
    m.label,
    fmtRate(rate),
    fmtRatio(rate / median(refRates)),
    fmtRatio(pairedRatio(rates, refRates)),
    `${fmtRate(Math.min(...rates))} – ${fmtRate(Math.max(...rates))}`,
    fmtPct(share),
    `${starved} / ${windows}`,
    m.broken === 0 ? 'yes' : `NO (${m.broken} runs)`,
  ];
}

export async function contended(threads: BenchThreads, cfg: ContendedConfig): Promise<Section[]> {
  const n = threads.size;
  const spinVariants: BackoffMode[] = [
    'nospin',
    { spinLimit: SPIN_LIMIT, yieldLimit: Math.max(0, YIELD_LIMIT - 4) },
    { spinLimit: SPIN_LIMIT, yieldLimit: YIELD_LIMIT + 4 },
  ];
  const variants = [sabreVariant('default', n), drepperVariant(n), ...spinVariants.map((b) => sabreVariant(b, n))];
  const measured = await measure(threads, variants, cfg);
  const [sabre, drepper, ...spins] = measured as [Measured, Measured, ...Measured[]];
  const sabreRate = median(sabre.runs.map(throughput));
  const drepperRate = median(drepper.runs.map(throughput));
  const sabreStarved = sabre.runs.reduce((a, r) => a + starvedWindows(r), 0);
  const header = [
    'variant',
    'ops/s (median)',
    'vs sabre',
    'paired vs sabre',
    'range over rounds',
    'least share in a window',
    'starved windows',
    'exclusion held',
  ];
  const intro = `${n} worker threads, ${cfg.rounds} interleaved rounds of ${cfg.durationMs} ms; each op = lock, increment a shared non-atomic counter, unlock. "Paired" is the median over rounds of this variant ÷ sabre in the same round. Shares are per ${cfg.windowMs} ms window (50% = even); "least share" is the minimum over all windows of all rounds; a starved window is one in which a thread completed no op.`;
  const contendedSection: Section = {
    title: '2. Contended Mutex, 2 threads, vs a Drepper futex mutex',
    intro,
    header,
    rows: [row(sabre, sabre), row(drepper, sabre)],
    goals: [
      {
        text: 'throughput ≥ the Drepper mutex',
        met: sabreRate >= drepperRate,
        detail: `${fmtRatio(sabreRate / drepperRate)} of Drepper's; paired per round ${fmtRatio(pairedRatio(sabre.runs.map(throughput), drepper.runs.map(throughput)))}`,
      },
      {
        text: 'no thread starves in any window',
        met: sabreStarved === 0 && sabre.broken === 0,
        detail: `${sabreStarved} starved windows; least share ${fmtPct(Math.min(...sabre.runs.map(minShare)))}`,
      },
    ],
    notes: [
      'The Drepper mutex barges (a woken waiter competes with the running thread, which usually wins again at once): fast, and free to let one thread run for whole windows. sabre barges too, until a waiter has waited STARVATION_MS; then unlock hands the lock to it.',
      'Handoff engagements are not counted: the STARVING word is internal to the Mutex and the benchmark does not read internals.',
    ],
  };
  const rateOf = (m: Measured): number => median(m.runs.map(throughput));
  const best = [sabre, ...spins].reduce((a, b) => (rateOf(a) >= rateOf(b) ? a : b));
  const nospinRate = rateOf(spins[0]!);
  const spinSection: Section = {
    title: '6. Spin / NoSpin: the Backoff limits',
    intro: `The same runs as table 2 (interleaved with them). Shipped: SPIN_LIMIT = ${SPIN_LIMIT}, YIELD_LIMIT = ${YIELD_LIMIT} (a waiter spins up to 2^0 + … + 2^${YIELD_LIMIT} atomic loads before parking). The other rows swap \`Backoff\`'s methods in the worker threads only (the Mutex is the shipped one).`,
    header,
    rows: [sabre, ...spins].map((m) => row(m, sabre)),
    goals: [
      {
        text: 'spinning earns its keep (shipped ≥ NoSpin)',
        met: sabreRate >= nospinRate,
        detail: `${fmtRatio(sabreRate / nospinRate)} of NoSpin`,
      },
      {
        text: 'no measured alternative beats the shipped limits by more than 10%',
        met: rateOf(best) <= 1.1 * sabreRate,
        detail: `best: ${best.label}, ${fmtRatio(rateOf(best) / sabreRate)} of shipped`,
      },
    ],
  };
  return [contendedSection, spinSection];
}
