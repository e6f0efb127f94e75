/**
 * Invariant of IdempotencyStore on real threads, with random yields at every
 * seam step: for any schedule of duplicate payment requests (the same keys
 * from several threads, some with altered bodies, some aborted before they
 * charge), each key's charge runs once, and every reply for a key is the
 * same response (status, headers and body, byte for byte).
 *
 * Checked in two phases. During the run the shared ManualClock stays far
 * below the lease, so no live request can be taken over: every key is
 * charged at most once. Then, as a client would, every key is retried after
 * the leases have lapsed: it replays the stored response (equal to every
 * reply the threads got), or, if no attempt completed, runs now; in the end
 * each key is charged exactly once by the attempts that completed.
 *
 * With a thread killed at a random step (mid-request, mid-charge, inside a
 * store step): still at most once before the lease lapses (the dead
 * request's key waits for its lease, since it may have charged), and
 * exactly once after the retry, counting the charges of completed attempts;
 * the dead attempt's own charge, if it made one before dying, is the only
 * other one (what the lease cannot know, and why it waits).
 *
 * Meta-tests, each of which must fail: the same body against a store whose
 * begin reads the record, then writes it in a separate step
 * (props/charged-once/check-then-begin.ts); and the request killed between its
 * charge and its record against a store with `reclaimOnOwnerDeath`, which
 * frees the dead request's key at once and so charges the card again
 * before the lease would have lapsed (why the lease is the default).
 *
 * Retention follows the same ManualClock: after the run, a key completed
 * last still replays 1 ms before its retention ends, and every key is
 * forgotten once it has.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/charged-once/charged-once.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { ManualClock } from '../../src/clock.js';
import { closeThreads, propertyParameters, runThreads, warmThreads } from '../../src/testing/index.js';
import { perThread, seedArb, switchesArb, yieldsArb, perturbed, type Perturbation } from '../arbitraries.js';
import {
  CHARGES,
  LEASE_MS,
  MAIN_ROW,
  MAX_KEYS,
  RETENTION_MS,
  chargeResponse,
  digest,
  fingerprintOf,
  keyOf,
  openPayments,
  paymentShared,
  type PaymentInput,
  type PaymentKind,
  type PaymentShared,
  type Reply,
} from './program.js';

const program = new URL('./program.ts', import.meta.url);
/** Seam steps of one request, about (a replay takes ~5, a charged request ~24): to spread kill steps over a run. */
const STEPS_PER_OP = 10;
/**
 * Seam steps around the window of a thread's first request in which its
 * charge is made but not yet recorded (measured on one thread, on a fresh
 * store as in this test: `begin` takes 24 steps, 6 of them taking the
 * store's first heap page, the charge is step 26, `complete` commits at step
 * 37). Kills before step 27 find nothing charged; the property holds either
 * way.
 */
const UNRECORDED_STEPS = { min: 24, max: 38 };

interface Kill {
  readonly thread: number;
  readonly atStep: number;
}

const percent = (min: number, max: number) =>
  fc.noBias(fc.integer({ min: Math.round(min * 100), max: Math.round(max * 100) })).map((p) => p / 100);

/** 1 to 4 keys for all threads; up to 30% altered bodies; aborts in `abort` (a share range). */
const inputs = (minOps: number, abort: readonly [number, number] = [0, 0.3], maxOps = 30) =>
  fc
    .tuple(fc.integer({ min: 1, max: MAX_KEYS }), percent(0, 0.3), percent(...abort))
    .chain(([keys, alterShare, abortShare]) =>
      perThread(fc.integer({ min: minOps, max: maxOps }).map((ops): PaymentInput => ({ ops, keys, alterShare, abortShare }))),
    );

/** Inputs and a controlled schedule of switches for them. */
const scheduled = (minOps: number, abort: readonly [number, number], maxOps: number) =>
  inputs(minOps, abort, maxOps).chain((ins) =>
    switchesArb(ins.length, { maxSwitches: 24, maxAfter: 30 }).map((schedule) => ({ ins, schedule })),
  );

/** A random thread killed before a step drawn uniformly over its run. */
const withKill = (minOps: number) =>
  inputs(minOps).chain((ins) =>
    fc
      .noBias(fc.integer({ min: 0, max: ins.length - 1 }))
      .chain((thread) =>
        fc.noBias(fc.integer({ min: 1, max: ins[thread]!.ops * STEPS_PER_OP })).map((atStep) => ({ ins, kill: { thread, atStep } })),
      ),
  );

/**
 * One key, thread 0 first (the others start 5 ms later, by when it is
 * dead), killed inside its first request, mostly between its charge and its
 * `complete`: the death the lease is for.
 */
const killedMidCharge = fc
  .tuple(perThread(fc.integer({ min: 20, max: 30 })), fc.noBias(fc.integer(UNRECORDED_STEPS)))
  .map(([ops, atStep]) => ({
    ins: ops.map((n, t): PaymentInput => ({ ops: n, keys: 1, alterShare: 0, abortShare: 0, ...(t === 0 ? {} : { waitMs: 5 }) })),
    kill: { thread: 0, atStep },
  }));

const chargedOnce = (kind: PaymentKind) => async (seed: number, ins: PaymentInput[], perturb: Perturbation, kill?: Kill) => {
  const { shared, results, killed } = await runThreads<PaymentShared, PaymentInput, Reply[]>({
    threads: ins,
    program,
    setup: () => paymentShared(kind),
    seed,
    ...perturbed(perturb),
    ...(kill !== undefined ? { kill } : {}),
    timeoutMs: 8000,
  });
  const { words } = shared;
  const charges = (row: number, k: number): number => Atomics.load(words, CHARGES + row * MAX_KEYS + k);
  const total = (k: number): number => Array.from({ length: MAIN_ROW + 1 }, (_, row) => charges(row, k)).reduce((a, b) => a + b, 0);
  const keys = ins[0]!.keys;

  for (let k = 0; k < keys; k++) expect(total(k), `${keyOf(k)}: charges before any lease lapsed`).toBeLessThanOrEqual(1);

  // Every client retries once the leases have lapsed.
  ManualClock.from(shared.clock).advance(LEASE_MS);
  const payments = openPayments(shared);
  const storedFingerprint: string[] = [];
  const completedNow: number[] = [];
  for (let k = 0; k < keys; k++) {
    storedFingerprint[k] = fingerprintOf(k, false);
    let b = payments.begin(keyOf(k), storedFingerprint[k]!);
    if (b.status === 'mismatch') b = payments.begin(keyOf(k), (storedFingerprint[k] = fingerprintOf(k, true)));
    let stored: string, chargedBy: string | undefined;
    if (b.status === 'replay') {
      stored = digest(b.response);
      chargedBy = b.response.headers?.['x-charged-by'];
    } else if (b.status === 'new') {
      Atomics.add(words, CHARGES + MAIN_ROW * MAX_KEYS + k, 1);
      const response = chargeResponse('main', 0, k, false);
      payments.complete(b.token, response);
      completedNow.push(k);
      stored = digest(response);
      chargedBy = 'main';
    } else {
      throw new Error(`${keyOf(k)}: '${b.status}' after every lease lapsed`);
    }
    results.forEach((replies, t) => {
      for (const [key, reply] of replies ?? [])
        if (key === k) expect(reply, `${keyOf(k)}: thread ${t}'s reply against the stored response`).toBe(stored);
    });
    // The killed thread's charge of a key it never recorded: made before it died, invisible to the store.
    const unrecorded = killed !== undefined && chargedBy !== String(killed) ? charges(killed, k) : 0;
    expect(unrecorded, `${keyOf(k)}: charges by the killed thread's unrecorded attempt`).toBeLessThanOrEqual(1);
    expect(total(k) - unrecorded, `${keyOf(k)}: charges by completed attempts`).toBe(1);
  }

  // Retention runs on the same clock: a key completed just now still replays
  // 1 ms before its retention ends, and once it has ended for every key
  // (all completed by now), every key is forgotten.
  const clock = ManualClock.from(shared.clock);
  clock.advance(RETENTION_MS - 1);
  for (const k of completedNow)
    expect(payments.begin(keyOf(k), storedFingerprint[k]!).status, `${keyOf(k)}: 1 ms before its retention ends`).toBe('replay');
  clock.advance(1);
  for (let k = 0; k < keys; k++)
    expect(payments.begin(keyOf(k), storedFingerprint[k]!).status, `${keyOf(k)}: after its retention`).toBe('new');
};

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('charged once', () => {
  test.prop([seedArb, inputs(1), yieldsArb()], propertyParameters({ numRuns: 20, soakRuns: 400 }))(
    'each key is charged once and every reply for a key is the same response',
    (seed, ins, yields) => chargedOnce('store')(seed, ins, yields),
  );

  test.prop([seedArb, withKill(5), yieldsArb()], propertyParameters({ numRuns: 15, soakRuns: 300 }))(
    'a thread killed at a random step: at most once before the lease lapses, exactly once after the retry',
    (seed, { ins, kill }, yields) => chargedOnce('store')(seed, ins, yields, kill),
  );

  test.prop([seedArb, killedMidCharge, yieldsArb()], propertyParameters({ numRuns: 10, soakRuns: 200 }))(
    'a request killed between its charge and its record: the key waits for its lease, then the retry charges once more',
    (seed, { ins, kill }, yields) => chargedOnce('store')(seed, ins, yields, kill),
  );

  // Expected detection: about half the runs. Two threads must both read a
  // key's missing record before either writes it: a yield between the
  // twin's get and set while another thread begins the same key, at the
  // start of a run or after an abort frees the key (aborts are frequent
  // here, 30-60%, to give more such moments). Measured: 30 of 60 runs; 20
  // runs, stopping at the first failure: a miss is about 1e-6.
  test.prop([seedArb, scheduled(1, [0, 0.3], 10)], propertyParameters({ numRuns: 20, soakRuns: 400, shrink: true, file: import.meta.url }))(
    'under controlled schedules: every key charged once, every reply consistent',
    (seed, { ins, schedule }) => chargedOnce('store')(seed, ins, { schedule }),
  );

  // The twin under controlled schedules, seeded: the outcome is fixed.
  // Measured: the 2nd run fails, and it shrinks to no switch of its own:
  // the handoff a schedule makes after 64 steps in a row (its fairness rule)
  // falls inside a begin's read-then-write, and the next thread begins the
  // same key.
  it('meta: the check-then-begin store under controlled schedules, shrunk to a few switches', async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, scheduled(2, [0.3, 0.6], 8), (seed, { ins, schedule }) =>
        chargedOnce('check-then-begin')(seed, ins, { schedule }),
      ),
      { numRuns: 100, seed: 2 },
    );
    expect(details.failed).toBe(true);
    const [, shrunk] = details.counterexample!;
    expect(shrunk.schedule.kind === 'switches' && shrunk.schedule.switches.length).toBeLessThanOrEqual(3);
  });

  it('meta: a store whose begin reads, then writes in a separate step, charges a key twice', async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, inputs(20, [0.3, 0.6]), yieldsArb(0.1), (seed, ins, yields) =>
        chargedOnce('check-then-begin')(seed, ins, yields),
      ),
      { numRuns: 20, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  });

  // Why a dead request's key waits for its lease (the store's default): a
  // store that frees it as soon as the thread is known dead lets a retry
  // charge again a card the dead request had already charged. Expected
  // detection: about half the runs (the kill must fall after the charge,
  // and the survivors must see the death before their requests). Measured:
  // 22 of 40 runs; 20 runs, stopping at the first failure: a miss is below 1e-6.
  it("meta: freeing a dead request's key at once (reclaimOnOwnerDeath) charges a key twice before its lease lapses", async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, killedMidCharge, yieldsArb(), (seed, { ins, kill }, yields) =>
        chargedOnce('reclaim-at-death')(seed, ins, yields, kill),
      ),
      { numRuns: 20, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
    expect((details.errorInstance as Error).message).toMatch(/charges before any lease lapsed/);
  });
});
