/**
 * Invariants of the CircuitBreaker on real threads, with random yields at
 * every seam step and the shared ManualClock moved by the threads:
 * - only the legal edges: CLOSED → OPEN → HALF_OPEN → CLOSED or OPEN, one
 *   transition per number, each state entered from the state the previous
 *   transition left it in;
 * - every subscriber, in every thread, receives every transition once, in
 *   order, and all threads agree on what each one was;
 * - no call is admitted while OPEN: each ran in a CLOSED period or as a probe
 *   of a HALF_OPEN period;
 * - HALF_OPEN begins no earlier than resetTimeoutMs after the OPEN before it,
 *   and its probes run no earlier;
 * - at most halfOpenMaxCalls probes in each HALF_OPEN period (no thread dies
 *   here: every probe's outcome ends its period, so that is also the most
 *   that run at once).
 * In both modes (consecutive failures, failure rate).
 *
 * Meta-test: the same program against the breaker with check-then-act
 * compare-and-swaps (props/breaker-transitions/check-then-act-breaker.ts) must fail.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/breaker-transitions/breaker-transitions.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { ManualClock } from '../../src/clock.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { closeThreads, propertyParameters, runThreads, warmThreads, type YieldSettings } from '../../src/testing/index.js';
import { perThread, seedArb, yieldsArb } from '../arbitraries.js';
import {
  ADMIT_COUNT,
  ADMIT_FIELDS,
  BREAKER_WORDS,
  MAX_ADMITS,
  MAX_OBSERVED,
  MAX_THREADS,
  OBSERVED_COUNT,
  OBSERVED_FIELDS,
  RESET_MS,
  STATE_CODE,
  type BreakerInput,
  type BreakerShared,
} from './program.js';

const program = new URL('./program.ts', import.meta.url);
const { CLOSED, OPEN, HALF_OPEN } = STATE_CODE;
const NAMES = ['CLOSED', 'OPEN', 'HALF_OPEN'];

interface Config {
  readonly failureThreshold: number;
  readonly halfOpenMaxCalls: number;
  readonly rateMode: boolean;
}
type Kind = BreakerShared['kind'];
interface Transition {
  from: number;
  to: number;
  at: number;
}

/** Runs the threads and returns the first broken invariant, or undefined. */
async function violation(
  kind: Kind,
  seed: number,
  config: Config,
  inputs: BreakerInput[],
  yields: YieldSettings,
): Promise<string | undefined> {
  let breaker!: CircuitBreaker;
  const { shared } = await runThreads<BreakerShared, BreakerInput>({
    threads: inputs,
    program,
    seed,
    yields,
    setup: () => {
      const clock = new ManualClock({ startMs: 0 });
      breaker = new CircuitBreaker({
        resetTimeoutMs: RESET_MS,
        halfOpenMaxCalls: config.halfOpenMaxCalls,
        clock,
        ...(config.rateMode
          ? { failureRate: { threshold: 0.5, minimumCalls: config.failureThreshold + 1, windowMs: 1000 } }
          : { failureThreshold: config.failureThreshold }),
      });
      return {
        kind,
        breaker: breaker.handle,
        clock: clock.handle,
        words: new Int32Array(new SharedArrayBuffer(4 * BREAKER_WORDS)),
        observed: new Float64Array(new SharedArrayBuffer(8 * MAX_THREADS * MAX_OBSERVED * OBSERVED_FIELDS)),
        admits: new Float64Array(new SharedArrayBuffer(8 * MAX_ADMITS * ADMIT_FIELDS)),
      };
    },
  });
  const { words, observed, admits } = shared;
  const final = breaker.stats().transitions;

  // Every subscriber: transitions 1..final, once each, in order, and the same ones.
  const log = new Map<number, Transition>();
  for (let t = 0; t < inputs.length; t++) {
    const count = Atomics.load(words, OBSERVED_COUNT + t);
    if (count !== final) return `thread ${t}'s subscriber received ${count} transitions; the breaker made ${final}`;
    for (let k = 0; k < count; k++) {
      const at = (t * MAX_OBSERVED + k) * OBSERVED_FIELDS;
      const [seq, from, to, time] = [observed[at]!, observed[at + 1]!, observed[at + 2]!, observed[at + 3]!];
      if (seq !== k + 1) return `thread ${t}'s subscriber received transition ${seq} as its ${k + 1}th`;
      const known = log.get(seq);
      if (known === undefined) log.set(seq, { from, to, at: time });
      else if (known.from !== from || known.to !== to || known.at !== time) return `threads disagree on transition ${seq}`;
    }
  }
  // The edges, and the OPEN periods' length.
  let state: number = CLOSED;
  for (let seq = 1; seq <= final; seq++) {
    const t = log.get(seq)!;
    if (t.from !== state) return `transition ${seq} leaves ${NAMES[t.from]}, but the breaker was ${NAMES[state]}`;
    const legal =
      (t.from === CLOSED && t.to === OPEN) || (t.from === OPEN && t.to === HALF_OPEN) || (t.from === HALF_OPEN && t.to !== HALF_OPEN);
    if (!legal) return `transition ${seq}: illegal edge ${NAMES[t.from]} → ${NAMES[t.to]}`;
    if (t.to === HALF_OPEN && t.at < log.get(seq - 1)!.at + RESET_MS)
      return `transition ${seq}: HALF_OPEN ${t.at - log.get(seq - 1)!.at} ms after OPEN`;
    state = t.to;
  }
  if (NAMES[state] !== breaker.state && !(state === OPEN && breaker.state === 'HALF_OPEN'))
    return `the log ends ${NAMES[state]}, the breaker is ${breaker.state}`;
  // Admissions: only CLOSED calls and HALF_OPEN probes, at most halfOpenMaxCalls per period.
  const probes = new Map<number, number>();
  const admitted = Math.min(Atomics.load(words, ADMIT_COUNT), MAX_ADMITS);
  for (let i = 0; i < admitted; i++) {
    const [thread, seq, probe, now] = [
      admits[i * ADMIT_FIELDS]!,
      admits[i * ADMIT_FIELDS + 1]!,
      admits[i * ADMIT_FIELDS + 2]!,
      admits[i * ADMIT_FIELDS + 3]!,
    ];
    const s = seq === 0 ? CLOSED : log.get(seq)?.to;
    if (s === undefined) return `thread ${thread} ran a call in period ${seq}, which no subscriber saw`;
    if (s === OPEN) return `thread ${thread} ran a call while OPEN (period ${seq})`;
    if ((s === HALF_OPEN) !== (probe === 1)) return `thread ${thread} ran a call in a ${NAMES[s]} period with probe = ${probe === 1}`;
    if (s === HALF_OPEN) {
      const n = (probes.get(seq) ?? 0) + 1;
      probes.set(seq, n);
      if (n > config.halfOpenMaxCalls) return `${n} probes in HALF_OPEN period ${seq} (halfOpenMaxCalls ${config.halfOpenMaxCalls})`;
      if (now < log.get(seq - 1)!.at + RESET_MS) return `a probe ran ${now - log.get(seq - 1)!.at} ms after OPEN`;
    }
  }
  return undefined;
}

const configArb = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 2 }),
  halfOpenMaxCalls: fc.integer({ min: 1, max: 2 }),
  rateMode: fc.boolean(),
});
const percent = (min: number, max: number) =>
  fc.noBias(fc.integer({ min: Math.round(min * 100), max: Math.round(max * 100) })).map((p) => p / 100);
const inputsArb = (minRounds: number) =>
  fc.tuple(fc.integer({ min: minRounds, max: 12 }), fc.integer({ min: 2, max: 4 })).chain(([rounds, callsPerRound]) =>
    perThread(
      fc.record({
        rounds: fc.constant(rounds),
        callsPerRound: fc.constant(callsPerRound),
        failShare: percent(0.2, 0.8),
        advanceShare: percent(0, 0.2),
      }),
    ),
  );

/**
 * The meta-test's perturbation: frequent yields, many of them short sleeps,
 * so that a thread is often suspended between the load and the store of the
 * twin's compare-and-swap while another thread runs the same step.
 */
const hardYields = fc.record({
  probability: fc.noBias(fc.integer({ min: 20, max: 50 })).map((p) => p / 100),
  maxSpins: fc.noBias(fc.integer({ min: 16, max: 256 })),
  maxDelayMs: fc.constantFrom(0.05, 0.1, 0.2),
  sleepShare: fc.noBias(fc.integer({ min: 30, max: 100 })).map((p) => p / 100),
});

const holds = (kind: Kind) => async (seed: number, config: Config, inputs: BreakerInput[], yields: YieldSettings) => {
  const broken = await violation(kind, seed, config, inputs, yields);
  expect(broken).toBeUndefined();
};

/** Long enough for the soak mode's runs on a loaded machine. */
const SOAK_TIMEOUT_MS = 600_000;

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('breaker transitions', () => {
  test.prop([seedArb, configArb, inputsArb(1), yieldsArb()], propertyParameters({ numRuns: 25, soakRuns: 400 }))(
    'legal edges only, each seen once by every subscriber, no call while OPEN, at most halfOpenMaxCalls probes',
    holds('breaker'),
    SOAK_TIMEOUT_MS,
  );

  // Expected detection: about a third of the runs. The twin fails only when
  // two threads run the same control-word step at once, which the rounds
  // arrange at every expiry of an OPEN period: two probes take one slot (most
  // detections), or two outcomes of one HALF_OPEN period both move the
  // breaker (the log and the state word then disagree). Measured: 29 of 80
  // runs, and 39 of 80 on the final code. 40 runs, stopping at the first
  // failure: a miss is below 1e-7.
  it('meta: the breaker with check-then-act compare-and-swaps breaks them', async () => {
    const details = await fc.check(fc.asyncProperty(seedArb, configArb, inputsArb(8), hardYields, holds('check-then-act')), {
      numRuns: 40,
      endOnFailure: true,
    });
    expect(details.failed).toBe(true);
  });
});
