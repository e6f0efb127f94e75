/**
 * The circuit breaker's state word: which state it is in, which state it came
 * from, and how many transitions it has made, packed in one Int32 so that a
 * transition is one compare-and-swap and exactly one thread wins it.
 *
 * State table (every legal value of the word's state bits, who moves it, to what):
 *
 *   state      moved by                                                  to
 *   CLOSED     a caller whose failure makes the consecutive failures     OPEN
 *              reach failureThreshold, or the window's failure rate
 *              reach its threshold over at least minimumCalls calls
 *   OPEN       the first thread to see resetTimeoutMs passed since the   HALF_OPEN
 *              transition into OPEN (a call, `state`, `stats()`, a
 *              waiter)
 *   HALF_OPEN  a probe whose call succeeded (or threw an error that      CLOSED
 *              isFailure does not count)
 *   HALF_OPEN  a probe whose call failed or timed out                    OPEN
 *
 * Nothing else moves it: there is no edge CLOSED → HALF_OPEN, OPEN → CLOSED
 * or OPEN → OPEN, and the state bits never hold 3. Each transition adds
 * exactly one to SEQ (modulo 2^SEQ_BITS), so a word value names one period of
 * one state, and a CAS from a word read earlier fails if any transition came
 * in between (no ABA short of 2^27 transitions while a thread is suspended).
 */

export const CLOSED = 0,
  OPEN = 1,
  HALF_OPEN = 2;
export type StateCode = typeof CLOSED | typeof OPEN | typeof HALF_OPEN;
export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** Word layout: bits 0-1 STATE, bits 2-3 FROM (the state before the last transition), bits 4-30 SEQ. */
export const STATE_BITS = 2;
export const STATE_MASK = (1 << STATE_BITS) - 1;
export const FROM_SHIFT = STATE_BITS;
export const SEQ_SHIFT = 2 * STATE_BITS;
export const SEQ_BITS = 27;
export const SEQ_MASK = (1 << SEQ_BITS) - 1;

export const STATE_NAMES: readonly BreakerState[] = ['CLOSED', 'OPEN', 'HALF_OPEN'];
export const STATE_CODES: Readonly<Record<BreakerState, StateCode>> = { CLOSED, OPEN, HALF_OPEN };

export const stateOf = (word: number): StateCode => (word & STATE_MASK) as StateCode;
export const fromOf = (word: number): StateCode => ((word >>> FROM_SHIFT) & STATE_MASK) as StateCode;
export const seqOf = (word: number): number => (word >>> SEQ_SHIFT) & SEQ_MASK;
export const packState = (seq: number, from: StateCode, state: StateCode): number =>
  ((seq & SEQ_MASK) << SEQ_SHIFT) | (from << FROM_SHIFT) | state;

/** The word after a transition out of `word` into `to`. */
export const nextWord = (word: number, to: StateCode): number => packState(seqOf(word) + 1, stateOf(word), to);

/** True for the four legal edges. */
export function isLegalEdge(from: StateCode, to: StateCode): boolean {
  return (from === CLOSED && to === OPEN) || (from === OPEN && to === HALF_OPEN) || (from === HALF_OPEN && (to === CLOSED || to === OPEN));
}

/** How many transitions separate `earlier` from `later` (modulo 2^SEQ_BITS). */
export const seqDistance = (earlier: number, later: number): number => (later - earlier) & SEQ_MASK;

/** Tagged words (the consecutive-failure count, a probe slot): a 20-bit value under an 11-bit period tag. */
export const VALUE_BITS = 20;
export const VALUE_MASK = (1 << VALUE_BITS) - 1;
const PERIOD_TAG_MASK = 0x7ff;
/** The tag of the period of state word `word`, in place above a tagged word's value. */
export const periodTag = (word: number): number => (seqOf(word) & PERIOD_TAG_MASK) << VALUE_BITS;
