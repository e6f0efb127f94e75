import type { Mutant } from './mutant.js';
import { breakerSetup, breakerViolation, type Admission, type BreakerShared } from './programs/breaker.js';

/**
 * A transition is a load of the state word, a check that it is still the
 * period the thread decided from, and a store: not one compare-and-swap. Two
 * threads that load the same word both make the transition out of it: two
 * probes' opposite outcomes both move the breaker (the log keeps one of them,
 * the state word the other), and a thread suspended before its store puts
 * back a period that has already ended (which then admits more probes).
 */
export const breakerTransitionWithoutCas: Mutant<BreakerShared, number, Admission[]> = {
  id: 'breaker-transition-without-cas',
  title: 'CircuitBreaker transitions by a load-check-then-store of the state word',
  file: 'src/resilience/circuit-breaker.ts',
  find: 'if (compareExchange(this.words, STATE, word, next) !== word) return false;',
  replace: 'if (load(this.words, STATE) !== word) return false;\n    seam.store(this.words, STATE, next);',
  program: 'breaker.ts',
  threads: [4, 4, 4],
  setup: breakerSetup,
  // A log that is not one chain of legal transitions ending in the state word, or a call admitted outside its period.
  found: ({ shared, results }) => breakerViolation(shared, results) !== undefined,
};
