/**
 * Invariant: no lost updates. When threads increment one shared counter
 * concurrently, the final value is the total number of increments, whatever
 * the interleaving: AtomicCounter (32 and 64 bits), StripedCounter, and a
 * plain read-modify-write under Mutex.lock().
 *
 * Meta-test: the same property body against the unsafe twin (`++` as a load
 * then a store, props/twins/unsafe-counter.ts) must fail.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/no-lost-updates.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { AtomicCounter } from '../src/atomic/counter.js';
import { StripedCounter } from '../src/atomic/striped-counter.js';
import { Mutex } from '../src/sync/mutex.js';
import { closeThreads, propertyParameters, runThreads, warmThreads, type YieldSettings } from '../src/testing/index.js';
import { perThread, seedArb, yieldsArb } from './arbitraries.js';
import type { IncrementShared, IncrementTarget } from './programs/increments.js';

const program = new URL('./programs/increments.ts', import.meta.url);
type Kind = IncrementTarget['kind'];

function makeTarget(kind: Kind): IncrementTarget {
  const cell = () => new Int32Array(new SharedArrayBuffer(4));
  switch (kind) {
    case 'counter32':
      return { kind, counter: new AtomicCounter({ bits: 32 }).handle };
    case 'counter64':
      return { kind, counter: new AtomicCounter({ bits: 64 }).handle };
    case 'striped':
      return { kind, counter: new StripedCounter({ stripes: 4 }).handle };
    case 'mutex-rmw':
      return { kind, mutex: new Mutex().handle, cell: cell() };
    case 'unsafe':
      return { kind, cell: cell() };
  }
}

function finalValue(target: IncrementTarget): number {
  switch (target.kind) {
    case 'counter32':
    case 'counter64':
      return Number(AtomicCounter.from(target.counter).get());
    case 'striped':
      return StripedCounter.from(target.counter).sum();
    case 'mutex-rmw':
    case 'unsafe':
      return Atomics.load(target.cell, 0);
  }
}

/** The property body, shared by the property and its meta-test. */
const noLostUpdates = (kind: Kind) => async (seed: number, counts: number[], yields: YieldSettings) => {
  const { shared } = await runThreads<IncrementShared, number>({
    threads: counts,
    program,
    setup: () => ({ target: makeTarget(kind) }),
    seed,
    yields,
  });
  expect(finalValue(shared.target)).toBe(counts.reduce((a, b) => a + b, 0));
};

const counts = perThread(fc.integer({ min: 1, max: 150 }));
const parameters = propertyParameters({ numRuns: 20, soakRuns: 400 });

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('no lost updates', () => {
  for (const kind of ['counter32', 'counter64', 'striped', 'mutex-rmw'] as const) {
    test.prop([seedArb, counts, yieldsArb()], parameters)(`${kind}: final value = total increments`, noLostUpdates(kind));
  }

  // Expected detection: > 99% of runs fail (2+ threads, 50+ increments each,
  // a yield before ~10-30% of steps lands between some load and its store);
  // 20 runs make a miss practically impossible. The check stops at the first failure.
  it('meta: the unsafe ++ twin loses updates', async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, perThread(fc.integer({ min: 50, max: 150 })), yieldsArb(0.1), noLostUpdates('unsafe')),
      { numRuns: 20, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  });
});
