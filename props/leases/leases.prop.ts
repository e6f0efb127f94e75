/**
 * Invariants of LeaseLock and FencedResource on real threads, with random
 * yields at every seam step:
 * - never two live holders of a resource, and each holder's fencing token is
 *   larger than the previous holder's (the ManualClock is frozen, so no lease
 *   expires and exclusion must be exact);
 * - a holder killed at a random step never blocks the others: its lease is
 *   freed by its death (the clock is frozen, so expiry cannot do it);
 * - with holders that stall past their TTL, the fence refuses every stale
 *   token: the stored token never goes down, and at the end it is the largest
 *   token of any accepted write.
 *
 * Meta-tests, each against a twin in props/leases/unsafe-leases.ts that must
 * fail: acquire as a read then a separate write; a lease lock deaf to its
 * holders' deaths; a fence that checks and writes in two steps.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/leases/leases.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { ManualClock } from '../../src/clock.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { FencedResource } from '../../src/lock/fenced-resource.js';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { closeThreads, propertyParameters, runThreads, warmThreads, type YieldSettings } from '../../src/testing/index.js';
import { perThread, seedArb, yieldsArb } from '../arbitraries.js';
import { ACCEPTED_MAX, LEASE_WORDS, STARVED, VIOLATIONS, WAIT_MS, type LeaseInput, type LeaseKind, type LeaseShared } from './program.js';

const program = new URL('./program.ts', import.meta.url);
/** Seam steps of one locker cycle, about: to spread kill steps over a run. */
const STEPS_PER_OP = 40;

interface Kill {
  readonly thread: number;
  readonly atStep: number;
}

const run = async (kind: LeaseKind, inputs: LeaseInput[], seed: number, yields: YieldSettings, kill?: Kill) => {
  const result = await runThreads<LeaseShared, LeaseInput>({
    threads: inputs,
    program,
    setup: () => {
      const clock = new ManualClock({ startMs: 1000 });
      const lock = new LeaseLock({ capacity: 16, maxKeyBytes: 8, clock });
      // Its table's first heap page, taken here: otherwise the first locker's first acquire takes
      // 7 more steps than the other's, and FIRST_HOLD would depend on which came first.
      lock.acquire('warm', { ttlMs: 1000 })!.release();
      return {
        kind,
        clock: clock.handle,
        lock: lock.handle,
        fence: new FencedResource<number>({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 16, codec: 'json' }).handle,
        table: new SharedHashTable({ capacity: 16, maxKeyBytes: 8, maxValueBytes: 64, codec: 'json' }).handle,
        words: new Int32Array(new SharedArrayBuffer(4 * LEASE_WORDS)),
      };
    },
    seed,
    yields,
    ...(kill !== undefined ? { kill } : {}),
    timeoutMs: 3 * WAIT_MS + 4000,
  });
  return result;
};

const lockers = (minOps: number) =>
  perThread(
    fc.record({
      role: fc.constant('locker' as const),
      ops: fc.integer({ min: minOps, max: 40 }),
      resources: fc.integer({ min: 1, max: 2 }),
    }),
  );

const exclusive = (kind: LeaseKind) => async (seed: number, inputs: LeaseInput[], yields: YieldSettings) => {
  const { shared } = await run(kind, inputs, seed, yields);
  expect(Atomics.load(shared.words, VIOLATIONS), 'two live holders, or a token that did not increase').toBe(0);
  expect(Atomics.load(shared.words, STARVED)).toBe(0);
};

const killCase = (minOps: number) =>
  lockers(minOps).chain((inputs) =>
    fc
      .noBias(fc.integer({ min: 0, max: inputs.length - 1 }))
      .chain((thread) =>
        fc.noBias(fc.integer({ min: 1, max: inputs[thread]!.ops * STEPS_PER_OP })).map((atStep) => ({ inputs, kill: { thread, atStep } })),
      ),
  );

/**
 * Seam steps before which a kill finds a locker holding the lease of its first
 * cycle, when that cycle did not wait: an uncontended cycle takes 31 steps
 * (acquire 14, the checks 4, release 13) and holds from about its 12th to its
 * 23rd; 14 to 23 keeps a step of margin at the start.
 */
const FIRST_HOLD = { min: 14, max: 23 };

/**
 * For the deaf-lock meta-test: two lockers on 4 resources, one killed inside
 * its first hold. With fewer lockers and more resources its first cycle waits
 * less (waiting adds steps and moves the hold), and over 20+ operations the
 * survivor still comes back for the dead holder's resource.
 */
const killedHolding = perThread(
  fc.record({ role: fc.constant('locker' as const), ops: fc.integer({ min: 20, max: 40 }), resources: fc.constant(4) }),
  fc.constant(2),
).chain((inputs) =>
  fc
    .noBias(fc.tuple(fc.integer({ min: 0, max: inputs.length - 1 }), fc.integer(FIRST_HOLD)))
    .map(([thread, atStep]) => ({ inputs, kill: { thread, atStep } })),
);

const survives =
  (kind: LeaseKind) =>
  async (seed: number, { inputs, kill }: { inputs: LeaseInput[]; kill: Kill }, yields: YieldSettings) => {
    const { shared } = await run(kind, inputs, seed, yields, kill);
    // (A victim killed inside its section leaves INSIDE raised: exclusion is the other property's.)
    expect(Atomics.load(shared.words, STARVED), "a survivor waited for a dead holder's lease").toBe(0);
  };

const fencedInputs = (minOps: number): fc.Arbitrary<LeaseInput[]> =>
  fc
    .tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: minOps, max: 30 }))
    .map(([writers, ops]) => [
      ...Array.from({ length: writers }, () => ({ role: 'fenced' as const, ops, resources: 1 })),
      { role: 'reader' as const, ops: writers, resources: 1 },
    ]);

const fenced = (kind: LeaseKind) => async (seed: number, inputs: LeaseInput[], yields: YieldSettings) => {
  const { shared } = await run(kind, inputs, seed, yields);
  expect(Atomics.load(shared.words, VIOLATIONS), 'the stored token went down').toBe(0);
  const stored =
    kind === 'check-then-write'
      ? SharedHashTable.from<{ token: number }>(shared.table).get('data')?.token
      : FencedResource.from<number>(shared.fence).read('data')?.token;
  expect(stored ?? 0, 'a stale write landed last').toBe(Atomics.load(shared.words, ACCEPTED_MAX));
};

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('leases', () => {
  test.prop([seedArb, lockers(1), yieldsArb()], propertyParameters({ numRuns: 20, soakRuns: 400 }))(
    'never two live holders; tokens strictly increase per resource',
    exclusive('lease'),
  );

  test.prop([seedArb, killCase(5), yieldsArb()], propertyParameters({ numRuns: 10, soakRuns: 200 }))(
    'a holder killed at a random step never blocks the others',
    survives('lease'),
  );

  test.prop([seedArb, fencedInputs(1), yieldsArb()], propertyParameters({ numRuns: 15, soakRuns: 300 }))(
    'a stale token is refused: the fenced token never goes down',
    fenced('lease'),
  );

  // Expected detection: acquire as read-then-write lets two lockers in
  // whenever a yield falls between its two steps. Measured: 18 of 20 runs;
  // 20 runs, stopping at the first failure: a miss is below 1e-19.
  it('meta: acquire made of a read and a separate write lets two holders in', async () => {
    const details = await fc.check(fc.asyncProperty(seedArb, lockers(20), yieldsArb(0.1), exclusive('check-then-set')), {
      numRuns: 20,
      endOnFailure: true,
    });
    expect(details.failed).toBe(true);
  });

  // Expected detection: most runs. The victim must die holding a lease and
  // the survivor must then want that resource. Kills spread over the whole
  // run hit a hold rarely (measured on 2 loaded cores: 12 of 60 runs), so the
  // meta-test kills one of two lockers inside its first hold; it misses when
  // that cycle waited for the other locker (the table's lock, or the same
  // resource) or the survivor had finished. Measured on 2 cores: 111 of 180
  // runs (75 of 120 loaded, two measurements at once). 25 runs, stopping at
  // the first failure (a failing run costs the run's timeout): a miss is
  // about 4e-11 (below 2e-9 at the 95% lower bound of the rate, 0.55).
  it("meta: a lease lock deaf to its holders' deaths starves the survivors", async () => {
    const details = await fc.check(fc.asyncProperty(seedArb, killedHolding, yieldsArb(), survives('deaf')), {
      numRuns: 25,
      endOnFailure: true,
    });
    expect(details.failed).toBe(true);
  }, 120_000);

  // Expected detection: every run with a stall between the twin's check and
  // write while another writer waits. Measured: 20 of 20 runs.
  it('meta: a fence that checks and writes in two steps lets a stale write land', async () => {
    const details = await fc.check(fc.asyncProperty(seedArb, fencedInputs(15), yieldsArb(0.1), fenced('check-then-write')), {
      numRuns: 20,
      endOnFailure: true,
    });
    expect(details.failed).toBe(true);
  });
});
