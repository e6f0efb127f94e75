/**
 * Threads call one CircuitBreaker (or its check-then-act twin) that fails
 * some of the time, move the shared ManualClock past the reset timeout now
 * and then, and record two logs for the property to check:
 * - OBSERVED, per thread: every transition its `onStateChange` subscriber
 *   received, as (seq, from, to, at). Each thread subscribes first, and no
 *   call starts until every thread has subscribed (the READY barrier), so
 *   each must receive transitions 1..final, once each, in order.
 * - ADMITS, shared: every call that ran, as (thread, seq, probe, now): the
 *   period it was admitted in, as `fn`'s BreakerCall says, and the clock.
 * The calls come in rounds: at the start of each, thread 0 moves the clock on
 * by the reset timeout and every thread waits at a barrier, so that all of
 * them rush at the breaker together just as an OPEN period expires (where
 * the probe limit and the transitions are contended most). Calls are made
 * three ways (drawn per call): `executeSync`, `execute` of a synchronous fn,
 * and `execute` of an async fn that holds its admission across a turn of the
 * event loop (so probes of different threads overlap).
 */
import { add, load } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { CircuitBreaker, type BreakerCall, type CircuitBreakerHandle } from '../../src/resilience/circuit-breaker.js';
import { defineProgram } from '../../src/testing/index.js';
import { openCheckThenActBreaker } from './check-then-act-breaker.js';

export const RESET_MS = 100;
export const MAX_THREADS = 4;
/** Fields of one OBSERVED entry and one ADMITS entry (Float64). */
export const OBSERVED_FIELDS = 4,
  ADMIT_FIELDS = 4;
/** Per-thread OBSERVED entries; ADMITS entries in all. */
export const MAX_OBSERVED = 512,
  MAX_ADMITS = 1024;
/** `words`: READY, DONE, ADMIT_COUNT, ARRIVED (the round barrier), then OBSERVED_COUNT[thread]. */
export const READY = 0,
  DONE = 1,
  ADMIT_COUNT = 2,
  ARRIVED = 3,
  OBSERVED_COUNT = 4,
  BREAKER_WORDS = OBSERVED_COUNT + MAX_THREADS;
export const STATE_CODE = { CLOSED: 0, OPEN: 1, HALF_OPEN: 2 } as const;

export interface BreakerShared {
  readonly kind: 'breaker' | 'check-then-act';
  readonly breaker: CircuitBreakerHandle;
  readonly clock: ManualClockHandle;
  readonly words: Int32Array;
  /** MAX_THREADS × MAX_OBSERVED entries of (seq, from, to, at). */
  readonly observed: Float64Array;
  /** MAX_ADMITS entries of (thread, seq, probe, now). */
  readonly admits: Float64Array;
}

export interface BreakerInput {
  /** Rounds (the same for every thread) and calls per round. */
  readonly rounds: number;
  readonly callsPerRound: number;
  /** Chance that a call fails. */
  readonly failShare: number;
  /** Chance, before a call, to move the clock on by the reset timeout (or half of it) mid-round. */
  readonly advanceShare: number;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits until ARRIVED reaches `target`: spins briefly (so the threads leave together), then lets the event loop run. */
async function barrier(words: Int32Array, target: number): Promise<void> {
  add(words, ARRIVED, 1);
  while (load(words, ARRIVED) < target) {
    for (let spin = 0; spin < 2000 && Atomics.load(words, ARRIVED) < target; spin++);
    if (Atomics.load(words, ARRIVED) < target) await tick();
  }
}

export default defineProgram<BreakerShared, BreakerInput, void>(async ({ shared, input, random, thread, threads }) => {
  const breaker = shared.kind === 'breaker' ? CircuitBreaker.from(shared.breaker) : openCheckThenActBreaker(shared.breaker);
  const clock = ManualClock.from(shared.clock);
  const { words, observed, admits } = shared;
  breaker.onStateChange((t) => {
    const n = add(words, OBSERVED_COUNT + thread, 1);
    if (n >= MAX_OBSERVED) return;
    observed.set([t.seq, STATE_CODE[t.from], STATE_CODE[t.to], t.at], (thread * MAX_OBSERVED + n) * OBSERVED_FIELDS);
  });
  add(words, READY, 1);
  while (load(words, READY) < threads) await tick();

  const admitted = (call: BreakerCall): void => {
    const n = add(words, ADMIT_COUNT, 1);
    if (n < MAX_ADMITS) admits.set([thread, call.seq, call.probe ? 1 : 0, clock.now()], n * ADMIT_FIELDS);
  };
  for (let i = 0; i < input.rounds * input.callsPerRound; i++) {
    if (i % input.callsPerRound === 0) {
      if (thread === 0) clock.advance(RESET_MS);
      await barrier(words, threads * (i / input.callsPerRound + 1));
    } else if (random() < input.advanceShare) {
      clock.advance(random() < 0.7 ? RESET_MS : RESET_MS / 2);
    }
    const fails = random() < input.failShare;
    const style = random();
    try {
      if (style < 0.3) {
        breaker.executeSync((call) => {
          admitted(call);
          if (fails) throw new Error('upstream down');
        });
      } else if (style < 0.6) {
        await breaker.execute((call) => {
          admitted(call);
          if (fails) throw new Error('upstream down');
        });
      } else {
        await breaker.execute(async (call) => {
          admitted(call);
          await tick();
          if (fails) throw new Error('upstream down');
        });
      }
    } catch {
      // failures and refusals are expected
    }
    if (random() < 0.2) await tick(); // lets the subscriber run mid-run too
  }

  // Wait for every thread, then until this thread's subscriber has caught up.
  add(words, DONE, 1);
  while (load(words, DONE) < threads) await tick();
  const final = breaker.stats().transitions;
  // Polled on a timer (which keeps this thread's loop, and so the subscriber, running); the
  // deadline is in time, not in polls, and only bounds a subscriber that never catches up.
  const deadline = performance.now() + 10_000;
  while (load(words, OBSERVED_COUNT + thread) < final && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
});
