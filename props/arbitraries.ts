/**
 * What the properties draw: thread counts, operation counts and yield
 * settings. Kept in one place so every property perturbs threads alike.
 */
import { fc } from '@fast-check/vitest';
import type { Schedule, YieldSettings } from '../src/testing/index.js';

/** The harness seed (yield decisions and `ctx.random`): printed in a counterexample, replayed with it. */
export const seedArb = fc.integer();

/** 2 to 4 threads: more than the 2 cores, so the OS preempts inside critical steps too. */
export const threadCountArb = fc.integer({ min: 2, max: 4 });

/**
 * Yield settings from "none" (threads race only naturally) to frequent short
 * spins and sleeps. `minProbability` lets a meta-test insist on perturbation.
 * Drawn without fast-check's bias (which piles doubles on their bounds and on
 * tiny values: a sleep share of 1e-300 would mean "never sleep" in most runs).
 */
export function yieldsArb(minProbability = 0): fc.Arbitrary<YieldSettings> {
  const percent = (min: number, max: number) =>
    fc.noBias(fc.integer({ min: Math.round(min * 100), max: Math.round(max * 100) })).map((p) => p / 100);
  return fc.record({
    probability: percent(minProbability, 0.3),
    maxSpins: fc.noBias(fc.integer({ min: 1, max: 256 })),
    maxDelayMs: fc.constantFrom(0, 0.02, 0.05, 0.1),
    sleepShare: percent(0, 1),
  });
}

/** One array of `count` per-thread values. */
export function perThread<T>(arb: fc.Arbitrary<T>, threads = threadCountArb): fc.Arbitrary<T[]> {
  return threads.chain((n) => fc.array(arb, { minLength: n, maxLength: n }));
}

/**
 * A controlled schedule (sabre/testing `schedule`) for `threads` threads: a
 * list of context switches `[after, to]`. It shrinks toward fewer switches,
 * made earlier, to lower-numbered threads: a failure ends as the few
 * preemptions that cause it.
 */
export function switchesArb(threads: number, options: { maxSwitches?: number; maxAfter?: number } = {}): fc.Arbitrary<Schedule> {
  const { maxSwitches = 12, maxAfter = 40 } = options;
  return fc
    .array(fc.tuple(fc.nat(maxAfter), fc.nat(threads - 1)), { maxLength: maxSwitches })
    .map((switches): Schedule => ({ kind: 'switches', switches }));
}

/** How a property perturbs a run: random yields (the threads race), or a controlled schedule (they take turns). */
export type Perturbation = YieldSettings | { readonly schedule: Schedule };

/** The runThreads options for a perturbation. */
export const perturbed = (p: Perturbation): { yields: YieldSettings } | { schedule: Schedule } =>
  'schedule' in p ? { schedule: p.schedule } : { yields: p };
