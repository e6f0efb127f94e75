/**
 * The failure-rate trip rule: a CLOSED breaker opens when, in its rolling
 * window (failure-window.ts), at least `minimumCalls` calls completed and
 * failures reached `threshold` of them ("equal or greater", as
 * Resilience4j).
 */
import type { Clock } from '../clock.js';
import type { FailureWindow, WindowCounts } from './failure-window.js';
import type { TripRule } from './trip-rule.js';

export class FailureRate implements TripRule {
  constructor(
    private readonly window: FailureWindow,
    private readonly clock: Clock,
    /** The share of failures (0-1] that opens the breaker. */
    readonly threshold: number,
    /** Calls the window must hold before the rate counts. */
    readonly minimumCalls: number,
  ) {}

  success(word: number): void {
    this.window.record(word, this.clock.now(), false);
  }

  failure(word: number): boolean {
    const now = this.clock.now();
    this.window.record(word, now, true);
    const c = this.window.counts(word, now);
    return c.calls >= this.minimumCalls && c.failures >= this.threshold * c.calls;
  }

  closed(): void {
    // A new period starts with an empty window: its slots' period tags no longer match.
  }

  /** Calls and failures in the window of the CLOSED period `word` (a snapshot). */
  counts(word: number): WindowCounts {
    return this.window.counts(word, this.clock.now());
  }
}
