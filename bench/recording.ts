/**
 * Benchmark 31: what `ctx.record` adds to an operation in a `runThreads`
 * program (the invoke and return events, each stamped by the run's shared
 * atomic clock), on 1 thread and on 2 threads stamping the same clock.
 * Each thread times `ops` seam increments of its own word, bare, then the
 * same recorded (workers/bench/recording.ts).
 */
import { runThreads } from '../src/testing/index.js';
import type { RecordingShared } from '../workers/bench/recording.js';
import { fmtNs, median, type Section } from './lib/stats.js';

export interface RecordingBenchConfig {
  readonly rounds: number;
  readonly ops: number;
}

const program = new URL('../workers/bench/recording.ts', import.meta.url);

export async function recording(cfg: RecordingBenchConfig): Promise<Section> {
  const rows: string[][] = [];
  const goals: Section['goals'][number][] = [];
  const data: Record<string, number | string>[] = [];
  for (const threads of [1, 2]) {
    const bare: number[] = [],
      recorded: number[] = [];
    for (let r = 0; r < cfg.rounds; r++) {
      const out = await runThreads<RecordingShared, number, { bareNs: number; recordedNs: number }>({
        threads: new Array<number>(threads).fill(cfg.ops),
        program,
        setup: () => ({ words: new Int32Array(new SharedArrayBuffer(4 * 16 * threads)) }),
        seed: r,
      });
      for (const x of out.results) {
        bare.push(x!.bareNs);
        recorded.push(x!.recordedNs);
      }
    }
    const b = median(bare),
      rec = median(recorded),
      cost = rec - b;
    rows.push([`${threads} thread${threads > 1 ? 's' : ''}`, fmtNs(b), fmtNs(rec), fmtNs(cost)]);
    data.push({ threads, bareNs: b, recordedNs: rec, costNs: cost });
    goals.push({
      text: `recording costs under 1 µs per operation (${threads} thread${threads > 1 ? 's' : ''})`,
      met: cost < 1000,
      detail: fmtNs(cost),
    });
  }
  return {
    title: '31. History recording',
    intro: `ns per operation, median over ${cfg.rounds} runs of ${cfg.ops.toLocaleString('en-US')} operations per thread: a seam increment of the thread's own word, bare and inside \`ctx.record\` (two events, each stamped by one atomic add on the run's clock).`,
    header: ['threads', 'bare', 'recorded', 'recording costs'],
    rows,
    goals,
    data,
  };
}
