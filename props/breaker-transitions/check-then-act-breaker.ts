/**
 * Test-only twin of CircuitBreaker: the same breaker, opened in a thread
 * whose compare-and-swaps on its control words (the state word, the
 * consecutive failure count, the probe slots) are torn by the atomics seam
 * into a load, a yield point and a store (`tearCompareExchange`). Two
 * threads that read the same word both "win": two probes take one slot
 * (more than halfOpenMaxCalls probes), and two opposite outcomes of a
 * HALF_OPEN period both move the breaker (a transition subscribers never
 * see, calls admitted under a state the log does not show).
 */
import { tearCompareExchange } from '../../src/memory/atomics.js';
import { CircuitBreaker, type CircuitBreakerHandle } from '../../src/resilience/circuit-breaker.js';

/** Opens `handle` with this thread's compare-and-swaps on its control words torn (a thread of runThreads: the hooked seam). */
export function openCheckThenActBreaker(handle: CircuitBreakerHandle): CircuitBreaker {
  const breaker = CircuitBreaker.from(handle);
  // The twin reaches into a private field on purpose: the words whose CAS the seam tears.
  tearCompareExchange((breaker as unknown as { words: Int32Array }).words);
  return breaker;
}
