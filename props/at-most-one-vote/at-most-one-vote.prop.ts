/**
 * Invariants of VoteRegistry on real threads, with random yields at every
 * seam step: at most one vote per (poll, user) (first votes: exactly one of
 * a pair's attempts is accepted), and each poll's tally equals its ballots,
 * with vote changes and retractions mixed in, and when a voting thread is
 * killed at a random step (the next user of its poll's stripe recounts).
 *
 * Meta-tests: a registry whose votes take no stripe lock
 * (props/at-most-one-vote/unsafe-votes.ts, 'unlocked') must accept two first votes or
 * let a tally drift; one that keeps the lock but never recounts after a
 * death ('no-recount') must show a tally that disagrees with its ballots.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/at-most-one-vote/at-most-one-vote.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { VoteRegistry } from '../../src/store/vote-registry.js';
import { closeThreads, propertyParameters, runThreads, warmThreads, type YieldSettings } from '../../src/testing/index.js';
import { perThread, seedArb, yieldsArb } from '../arbitraries.js';
import { ACCEPTED, ATTEMPTS, CHOICES, MAX_USERS, VOTE_WORDS, type VoteInput, type VoteShared } from './program.js';
import { openUnsafeVotes } from './unsafe-votes.js';

const program = new URL('./program.ts', import.meta.url);
/** Seam steps of one operation, about (votes take ~20, retractions fewer): to spread kill steps over a run. */
const STEPS_PER_OP = 15;
type Kind = VoteShared['kind'];
interface Kill {
  readonly thread: number;
  readonly atStep: number;
}

const inputs = (minOps: number, changes: boolean) =>
  fc
    .tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }))
    .chain(([polls, users]) => perThread(fc.integer({ min: minOps, max: 30 }).map((ops): VoteInput => ({ ops, polls, users, changes }))));

const withKill = (minOps: number) =>
  inputs(minOps, true).chain((ins) =>
    fc
      .noBias(fc.integer({ min: 0, max: ins.length - 1 }))
      .chain((thread) =>
        fc.noBias(fc.integer({ min: 1, max: ins[thread]!.ops * STEPS_PER_OP })).map((atStep) => ({ ins, kill: { thread, atStep } })),
      ),
  );

/**
 * Seam steps before which a kill leaves an uncontended first vote half done:
 * its ballot written (by its 22nd step, counting the program's ATTEMPTS add)
 * and its tally not yet (written at its 29th). Measured on a registry that
 * has had one vote, as `setup` leaves it: the first insert into each of its
 * tables also takes a heap page (6 more steps), which would make the gap
 * depend on which voter came first.
 */
const FIRST_VOTE_GAP = { min: 23, max: 29 };

/**
 * For the no-recount meta-test: two voters casting first votes only, on 6
 * (poll, user) pairs, one of them killed inside its first vote, between its
 * ballot and tally writes (when that vote is neither contended nor a repeat).
 */
const killedMidVote = perThread(
  fc.integer({ min: 20, max: 30 }).map((ops): VoteInput => ({ ops, polls: 2, users: 3, changes: false })),
  fc.constant(2),
).chain((ins) =>
  fc
    .noBias(fc.tuple(fc.integer({ min: 0, max: ins.length - 1 }), fc.integer(FIRST_VOTE_GAP)))
    .map(([thread, atStep]) => ({ ins, kill: { thread, atStep } })),
);

const body = (kind: Kind) => async (seed: number, ins: VoteInput[], yields: YieldSettings, kill?: Kill) => {
  const { shared, killed } = await runThreads<VoteShared, VoteInput>({
    threads: ins,
    program,
    setup: () => {
      const registry = new VoteRegistry({ capacity: 16, choices: [...CHOICES], maxKeyBytes: 8 });
      registry.vote('pw', 'uw', CHOICES[0]); // its tables' first heap pages (see FIRST_VOTE_GAP); not a poll the checks read
      return { kind, registry: registry.handle, words: new Int32Array(new SharedArrayBuffer(4 * VOTE_WORDS)) };
    },
    seed,
    yields,
    ...(kill !== undefined ? { kill } : {}),
    timeoutMs: 8000,
  });
  const { polls, users, changes } = ins[0]!;
  // Read back through the same kind: the no-recount twin must not be repaired by the check itself.
  const v = kind === 'registry' ? VoteRegistry.from(shared.registry) : openUnsafeVotes(shared.registry, kind);
  for (let p = 0; p < polls; p++) {
    const ballots: Record<string, number> = Object.fromEntries(CHOICES.map((c) => [c, 0]));
    for (let u = 0; u < users; u++) {
      const b = v.ballot(`p${p}`, `u${u}`);
      if (b !== null) ballots[b]!++;
      const pair = p * MAX_USERS + u;
      // Without changes, exactly one first vote per attempted pair is accepted (a killed thread's may be lost).
      if (!changes && killed === undefined && Atomics.load(shared.words, ATTEMPTS + pair) > 0) {
        expect(Atomics.load(shared.words, ACCEPTED + pair), `poll p${p}, user u${u}: accepted first votes`).toBe(1);
      }
    }
    expect(v.tally(`p${p}`), `poll p${p}: tally against ballots`).toEqual(ballots);
  }
};

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('at most one vote; tally = ballots', () => {
  test.prop([seedArb, inputs(1, false), yieldsArb()], propertyParameters({ numRuns: 20, soakRuns: 400 }))(
    'first votes: exactly one accepted per (poll, user)',
    (seed, ins, yields) => body('registry')(seed, ins, yields),
  );

  test.prop([seedArb, inputs(1, true), yieldsArb()], propertyParameters({ numRuns: 20, soakRuns: 400 }))(
    'with changes and retractions, every tally equals its ballots',
    (seed, ins, yields) => body('registry')(seed, ins, yields),
  );

  test.prop([seedArb, withKill(5), yieldsArb()], propertyParameters({ numRuns: 15, soakRuns: 300 }))(
    'a voter killed at a random step: no deadlock, and every tally still equals its ballots',
    (seed, { ins, kill }, yields) => body('registry')(seed, ins, yields, kill),
  );

  // Expected detection: most runs. Two threads voting for one user with a
  // yield inside the unlocked read-write-count sequence. Measured: 16 of 20
  // runs; 20 runs, stopping at the first failure: a miss is below 1e-13.
  it('meta: votes without the stripe lock count a user twice or let a tally drift', async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, inputs(20, true), yieldsArb(0.1), (seed, ins, yields) => body('unlocked')(seed, ins, yields)),
      { numRuns: 20, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  });

  // Expected detection: most runs. The kill must land between a vote's
  // ballot write and its tally write: 7 seam steps of a first vote's 35, and
  // none of a repeated vote or of a retraction of nothing, so kills spread
  // over the whole run hit it rarely (measured on 2 loaded cores: 8 of 60
  // runs). The meta-test kills one of two voters inside that gap of its first
  // vote, which misses when that vote waited for the other voter (its stripe
  // lock, or a table's) or repeated its pair. Measured on 2 cores: 147 of
  // 300 runs (96 of 200 loaded, two measurements at once). 30 runs, stopping
  // at the first failure: a miss is about 2e-9 (below 3e-8 at the 95% lower
  // bound of the rate, 0.44).
  it('meta: without a recount after a voter dies, a tally disagrees with its ballots', async () => {
    const details = await fc.check(
      fc.asyncProperty(seedArb, killedMidVote, yieldsArb(), (seed, { ins, kill }, yields) => body('no-recount')(seed, ins, yields, kill)),
      { numRuns: 30, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  }, 120_000);
});
