/**
 * Hunting a mutant: runs of its program under one strategy, until a run
 * shows the bug or the budget ends.
 * - stress: the threads race, with seeded yields at every seam step (the
 *   harness's random stress: what the properties did before schedules)
 * - schedules: controlled schedules of random context switches, drawn from
 *   the fast-check arbitrary the properties use (`switchesArb`), seed by seed
 * - pct: PCT of the mutant's depth, `steps` measured by one run first
 */
import fc from 'fast-check';
import { runThreads, type Schedule } from '../../src/testing/index.js';
import { switchesArb } from '../arbitraries.js';
import type { Mutant } from './mutant.js';

export type Strategy = 'stress' | 'schedules' | 'pct';
export const STRATEGIES: readonly Strategy[] = ['stress', 'schedules', 'pct'];

/** The yields of the stress strategy: frequent short spins and sleeps, as the properties draw them at their busiest. */
const STRESS = { probability: 0.2, maxSpins: 128, maxDelayMs: 0.05, sleepShare: 0.3 } as const;
/**
 * A stress run that took this long waited out sleep slices (park.ts, 50 ms
 * each): wake-ups that never came. Two slices, so that a run merely slowed
 * by a loaded machine is not taken for one (a time-based check, unlike the
 * schedules' count of virtual timeouts).
 */
export const STALL_MS = 100;

/** The schedule of run `i` (from 1) of a strategy, or undefined for stress. */
export function scheduleOf(strategy: Strategy, i: number, threads: number, steps: number, depth: number): Schedule | undefined {
  if (strategy === 'stress') return undefined;
  if (strategy === 'pct') return { kind: 'pct', seed: i, depth, steps };
  return fc.sample(switchesArb(threads, { maxSwitches: 16, maxAfter: 24 }), { seed: i, numRuns: 1 })[0]!;
}

/** One run: did it show the bug? */
export async function shows(m: Mutant, program: URL, strategy: Strategy, i: number, steps: number): Promise<boolean> {
  const schedule = scheduleOf(strategy, i, m.threads.length, steps, m.depth ?? 2);
  const started = performance.now();
  try {
    const run = await runThreads({
      threads: m.threads,
      program,
      setup: m.setup,
      seed: i,
      ...(schedule !== undefined ? { schedule } : { yields: STRESS }),
      timeoutMs: 5_000,
    });
    return m.found(run, { elapsedMs: performance.now() - started });
  } catch (e) {
    const text = `${(e as Error).message} ${String((e as Error).cause)}`;
    if (m.failsWith?.test(text) === true) return true;
    throw e;
  }
}

/** The steps of one unscheduled-order run (no switches): PCT's estimate of k. */
export async function stepsOf(m: Mutant, program: URL): Promise<number> {
  const run = await runThreads({ threads: m.threads, program, setup: m.setup, seed: 0, schedule: { kind: 'switches', switches: [] } });
  return run.schedule!.steps;
}

/** The run (1-based) at which `strategy` first shows the bug, or undefined within `budget` runs. */
export async function hunt(m: Mutant, program: URL, strategy: Strategy, budget: number, steps: number): Promise<number | undefined> {
  // One run first, not counted: the workers import the program (tens of ms), which a stress run must not count as a stall.
  await runThreads({ threads: m.threads, program, setup: m.setup, seed: 0, schedule: { kind: 'switches', switches: [] } }).catch(
    () => undefined,
  );
  for (let i = 1; i <= budget; i++) if (await shows(m, program, strategy, i, steps)) return i;
  return undefined;
}
