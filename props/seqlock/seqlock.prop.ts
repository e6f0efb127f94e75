/**
 * Invariant: a SeqLock reader never observes a torn multi-word value, and the
 * reads and writes are linearizable as a register. Writers store records
 * [n, 2n, 3n] (as float64s with writeFrom, or as JSON with write) while
 * readers read them back, under random yields at every seam step; one or two
 * writers, one to three readers.
 *
 * Meta-test: the same body against a seqlock whose reader does not re-check
 * the sequence after copying (props/seqlock/torn-seqlock.ts) must see a torn record.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/seqlock/seqlock.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { SeqLock } from '../../src/atomic/seqlock.js';
import { checkLinearizable, closeThreads, propertyParameters, registerModel, runThreads, warmThreads } from '../../src/testing/index.js';
import { seedArb, switchesArb, yieldsArb, perturbed, type Perturbation } from '../arbitraries.js';
import { FIELDS, SHARED_WORDS, TORN, type SeqLockInput, type SeqLockShared, type SeqLockTarget } from './program.js';
import { tornSeqLockWords } from './torn-seqlock.js';

const program = new URL('./program.ts', import.meta.url);
type Kind = SeqLockTarget['kind'];

function makeTarget(kind: Kind): SeqLockTarget {
  switch (kind) {
    case 'float64':
      return { kind, lock: new SeqLock({ maxBytes: 8 * FIELDS }).handle };
    case 'json':
      return { kind, lock: new SeqLock({ maxBytes: 64, codec: 'json', initial: { n: 0, double: 0, triple: 0 } }).handle };
    case 'torn':
      return { kind, words: new Int32Array(new SharedArrayBuffer(4 * tornSeqLockWords(FIELDS))) };
  }
}

/** The property body, shared by the property and its meta-test. */
const neverTorn = (kind: Kind, linearizable: boolean) => async (seed: number, inputs: SeqLockInput[], perturb: Perturbation) => {
  const { shared, history } = await runThreads<SeqLockShared, SeqLockInput>({
    threads: inputs,
    program,
    setup: () => ({ target: makeTarget(kind), words: new Int32Array(new SharedArrayBuffer(4 * SHARED_WORDS)) }),
    seed,
    ...perturbed(perturb),
  });
  expect(Atomics.load(shared.words, TORN)).toBe(0);
  if (linearizable) {
    const verdict = checkLinearizable(history, registerModel(0), { timeoutMs: 20_000 });
    expect(verdict.result, verdict.summary).toBe('ok');
  }
};

/** One or two writers, then one to three readers: 2 to 4 threads. */
const inputs = (minOps: number, maxOps = 120) =>
  fc
    .tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }))
    .filter(([w, r]) => w + r <= 4)
    .chain(([writers, readers]) =>
      fc
        .tuple(
          fc.array(
            fc.integer({ min: minOps, max: maxOps }).map((ops): SeqLockInput => ({ role: 'writer', ops })),
            { minLength: writers, maxLength: writers },
          ),
          fc.array(
            fc.integer({ min: minOps, max: maxOps }).map((ops): SeqLockInput => ({ role: 'reader', ops })),
            { minLength: readers, maxLength: readers },
          ),
        )
        .map(([w, r]) => [...w, ...r]),
    );

/** Inputs and a controlled schedule of switches for them. */
const scheduled = (minOps: number, maxOps: number) =>
  inputs(minOps, maxOps).chain((ins) => switchesArb(ins.length, { maxSwitches: 24, maxAfter: 30 }).map((schedule) => ({ ins, schedule })));

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('seqlock: no torn reads', () => {
  test.prop([seedArb, inputs(1), yieldsArb()], propertyParameters({ numRuns: 20, soakRuns: 400 }))(
    'float64 records (writeFrom/readInto): never torn, linearizable',
    neverTorn('float64', true),
  );
  test.prop([seedArb, inputs(1), yieldsArb()], propertyParameters({ numRuns: 15, soakRuns: 300 }))(
    'JSON records (write/read): never torn, linearizable',
    neverTorn('json', true),
  );

  // Expected detection: most runs fail. A reader that copies while a writer
  // stores needs only one yield inside either copy loop (6 seam steps each)
  // while the threads overlap. Measured on 2 loaded cores (one writer, two
  // readers, 40 operations each): 23 of 30 runs. 20 runs, stopping at the
  // first failure: a miss is about 1e-13.
  it('meta: the seqlock that does not re-check the sequence returns torn records', async () => {
    const details = await fc.check(fc.asyncProperty(seedArb, inputs(20), yieldsArb(0.1), neverTorn('torn', false)), {
      numRuns: 20,
      endOnFailure: true,
    });
    expect(details.failed).toBe(true);
  });

  test.prop([seedArb, scheduled(1, 12)], propertyParameters({ numRuns: 20, soakRuns: 400, shrink: true, file: import.meta.url }))(
    'under controlled schedules: never torn, linearizable',
    (seed, { ins, schedule }) => neverTorn('float64', true)(seed, ins, { schedule }),
  );

  // The twin under controlled schedules, seeded: the outcome is fixed.
  // Measured: the 3rd run fails, and it shrinks to two switches: to a reader
  // at once ([0, 1]), and back to the writer in the middle of its copy ([17, 0]).
  it('meta: the seqlock without the re-check, under controlled schedules, shrunk to a few switches', async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, scheduled(4, 10), (seed, { ins, schedule }) => neverTorn('torn', false)(seed, ins, { schedule })),
      { numRuns: 100, seed: 4 },
    );
    expect(details.failed).toBe(true);
    const [, shrunk] = details.counterexample!;
    expect(shrunk.schedule.kind === 'switches' && shrunk.schedule.switches.length).toBeLessThanOrEqual(3);
  });
});
