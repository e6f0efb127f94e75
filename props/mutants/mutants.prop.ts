/**
 * The mutation suite, as npm test checks it (the full hunt is `npm run
 * mutants`, which writes props/mutants/results.json and the table in
 * props/README.md). For every mutant of the catalog:
 * - its patch still applies (its text occurs once in its file);
 * - the table has it, and at least one strategy found it within the budget;
 * - the deterministic strategy that found it first (controlled schedules or
 *   PCT: seeded, one thread at a time) finds it again within the budget
 *   (mostly at the run the table says; paths that hash the workers'
 *   threadIds can move it), and the original code passes as many runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeThreads, warmThreads } from '../../src/testing/index.js';
import { MUTANTS } from './catalog.js';
import { hunt, stepsOf, type Strategy } from './hunt.js';
import { mutatedSource, ROOT, sandbox } from './sandbox.js';
import type { MutantResult } from './run.js';

const results = JSON.parse(readFileSync(join(ROOT, 'props/mutants/results.json'), 'utf8')) as MutantResult[];
const BUDGET = 1_000;

beforeAll(() => warmThreads(3));
afterAll(closeThreads);

describe('the mutation suite', () => {
  it('the table has every mutant of the catalog, and each was found within the budget by some strategy (else: npm run mutants)', () => {
    expect(results.map((r) => r.id).sort()).toEqual(MUTANTS.map((m) => m.id).sort());
    for (const r of results)
      expect(
        Object.values(r.found).some((n) => n !== null && n <= BUDGET),
        r.id,
      ).toBe(true);
  });

  it.each(MUTANTS.map((m) => [m.id, m] as const))(
    '%s: found again by its fastest deterministic strategy; the original passes as many runs',
    async (id, m) => {
      mutatedSource(m);
      const r = results.find((x) => x.id === id)!;
      const deterministic = (['schedules', 'pct'] as Strategy[])
        .filter((s) => r.found[s] !== null)
        .sort((a, b) => r.found[a]! - r.found[b]!);
      expect(deterministic.length, `${id}: no deterministic strategy found it`).toBeGreaterThan(0);
      const s = deterministic[0]!,
        at = r.found[s]!;
      const original = sandbox(m, { original: true });
      const steps = await stepsOf(m, original);
      const found = await hunt(m, sandbox(m), s, BUDGET, steps);
      // Not necessarily at the same run: a primitive's path may depend on the workers' threadIds (ThreadSlots
      // probes from a hash of the threadId), which differ from one pool of workers to another.
      expect(found, `${id}: ${s} did not find it within ${BUDGET} runs`).toBeDefined();
      expect(await hunt(m, original, s, Math.max(at, found ?? 0), steps)).toBeUndefined();
    },
  );
});
