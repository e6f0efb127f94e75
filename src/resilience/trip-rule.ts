/**
 * A trip rule decides when failures open a CLOSED CircuitBreaker (the model
 * is cockatiel's `IBreaker`). Each rule keeps its counts in the breaker's
 * shared region, tagged with the CLOSED period (the state word) that
 * admitted the call, so a transition resets nothing: a new period ignores
 * old tags, and a result of a period that is over is dropped. The breaker
 * tells every rule of each outcome and opens when any rule says so; a new
 * rule is a new implementation of this interface
 * (consecutive-failures.ts, failure-window.ts).
 */
export interface TripRule {
  /** A call admitted in CLOSED period `word` succeeded. On the hot path: keep it to a load or two. */
  success(word: number): void;
  /** A call admitted in CLOSED period `word` failed. Returns true if the breaker should open. */
  failure(word: number): boolean;
  /** The breaker has just entered the CLOSED period `word`. */
  closed(word: number): void;
}
