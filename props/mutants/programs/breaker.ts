/**
 * Threads call one CircuitBreaker (failureThreshold 1, two probe slots)
 * `input` times each with a call that fails half of the time, moving the
 * shared ManualClock on by the reset timeout before each, so that every OPEN
 * period has expired by the next call: the threads keep meeting at the
 * transitions. Each returns the calls it saw admitted, as
 * [seq, probe] (the period that admitted it, from the call's BreakerCall).
 *
 * `breakerViolation` checks a run against the breaker's own transition log,
 * as props/breaker-transitions checks it against the subscribers' copies.
 */
import { ManualClock, type ManualClockHandle } from '../../../src/clock.js';
import { ErrorCode, isSabreError } from '../../../src/errors.js';
import type { TransitionLog } from '../../../src/resilience/breaker-events.js';
import { isLegalEdge, seqOf, stateOf, STATE_CODES, STATE_NAMES } from '../../../src/resilience/breaker-state.js';
import { CircuitBreaker, type CircuitBreakerHandle } from '../../../src/resilience/circuit-breaker.js';
import { defineProgram } from '../../../src/testing/index.js';

export const RESET_MS = 100;
export const HALF_OPEN_MAX_CALLS = 2;

export interface BreakerShared {
  readonly breaker: CircuitBreakerHandle;
  readonly clock: ManualClockHandle;
}
/** An admitted call: the period (transition count) that admitted it, and whether it was a probe. */
export type Admission = readonly [seq: number, probe: boolean];

/** The shared value: a CLOSED breaker on a ManualClock at 0. */
export function breakerSetup(): BreakerShared {
  const clock = new ManualClock({ startMs: 0 });
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: RESET_MS, halfOpenMaxCalls: HALF_OPEN_MAX_CALLS, clock });
  return { breaker: breaker.handle, clock: clock.handle };
}

/**
 * The first broken invariant of a run, or undefined:
 * - the log holds transitions 1..seq of the state word, each leaving the
 *   state the one before entered, by a legal edge, and the last entering the
 *   state the word holds (two threads that both made transition q disagree
 *   with the log somewhere along this chain);
 * - each call of every thread's results was admitted in a period that
 *   exists and is CLOSED, or HALF_OPEN for a probe, and no period admitted
 *   more than HALF_OPEN_MAX_CALLS probes.
 */
export function breakerViolation(shared: BreakerShared, results: readonly (readonly Admission[] | undefined)[]): string | undefined {
  // The log and the state word are private: read them as the breaker does.
  const { log, words } = CircuitBreaker.from(shared.breaker) as unknown as { log: TransitionLog; words: Int32Array };
  const word = Atomics.load(words, 0);
  const periods: string[] = ['CLOSED']; // periods[q]: the state transition q entered
  for (let q = 1; q <= seqOf(word); q++) {
    const t = log.read(q);
    if (t === undefined) return `transition ${q} is not in the log`;
    if (t.from !== periods[q - 1]) return `transition ${q} leaves ${t.from}, but the breaker was ${periods[q - 1]}`;
    if (!isLegalEdge(STATE_CODES[t.from], STATE_CODES[t.to])) return `transition ${q}: illegal edge ${t.from} → ${t.to}`;
    periods.push(t.to);
  }
  if (periods[seqOf(word)] !== STATE_NAMES[stateOf(word)])
    return `the log ends ${periods[seqOf(word)]}, the breaker is ${STATE_NAMES[stateOf(word)]}`;
  const probes = new Map<number, number>();
  for (const [seq, probe] of results.flatMap((r) => r ?? [])) {
    const state = periods[seq];
    if (state === undefined) return `a call was admitted in period ${seq}, after the last transition (${seqOf(word)})`;
    if (state !== (probe ? 'HALF_OPEN' : 'CLOSED')) return `a ${probe ? 'probe' : 'call'} was admitted in period ${seq}, ${state}`;
    if (probe) probes.set(seq, (probes.get(seq) ?? 0) + 1);
    if ((probes.get(seq) ?? 0) > HALF_OPEN_MAX_CALLS) return `more than ${HALF_OPEN_MAX_CALLS} probes in period ${seq}`;
  }
  return undefined;
}

const down = new Error('the dependency is down');

export default defineProgram<BreakerShared, number, Admission[]>((ctx) => {
  const breaker = CircuitBreaker.from(ctx.shared.breaker);
  const clock = ManualClock.from(ctx.shared.clock);
  const admitted: Admission[] = [];
  for (let i = 0; i < ctx.input; i++) {
    clock.advance(RESET_MS);
    try {
      breaker.executeSync((call) => {
        admitted.push([call.seq, call.probe]);
        if (ctx.random() < 0.5) throw down;
      });
    } catch (e) {
      if (e !== down && !isSabreError(e, ErrorCode.CIRCUIT_OPEN)) throw e;
    }
  }
  return admitted;
});
