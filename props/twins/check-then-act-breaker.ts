/**
 * Test-only twin of CircuitBreaker: the same breaker with each
 * compare-and-swap of its control words (the state word, the consecutive
 * failure count, the probe slots) replaced by a load, a compare and a store.
 * Two threads that read the same word both "win": two probes take one slot
 * (more than halfOpenMaxCalls probes), and two opposite outcomes of a
 * HALF_OPEN period both move the breaker (a transition subscribers never see,
 * calls admitted under a state the log does not show).
 */
import { load, store } from '../../src/memory/atomics.js';
import { CircuitBreaker, openBreakerRegion, type CircuitBreakerHandle } from '../../src/resilience/circuit-breaker.js';

export class CheckThenActBreaker extends CircuitBreaker {
  static override from(handle: CircuitBreakerHandle): CheckThenActBreaker {
    return new CheckThenActBreaker(openBreakerRegion(handle));
  }

  protected override cas(index: number, expected: number, next: number): number {
    const found = load(this.words, index);
    if (found === expected) store(this.words, index, next); // the bug: not one atomic step
    return found;
  }
}
