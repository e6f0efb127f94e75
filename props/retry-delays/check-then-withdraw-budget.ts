/**
 * Test-only twin of RetryBudget: counts deposits and withdrawals in two
 * shared words (atomic adds), but decides a withdrawal by reading the
 * balance and then adding the withdrawal in a separate step. Two threads that
 * read the same last retry both take it: more retries than the budget allows.
 * Same surface as the budget `retry` uses (deposit, tryWithdraw).
 */
import { add, load } from '../../src/memory/atomics.js';

/** `words`: DEPOSITS and WITHDRAWALS, both starting at 0. */
export const DEPOSITS = 0,
  WITHDRAWALS = 1;

export class CheckThenWithdrawBudget {
  /** `ratioMilli` and `reserveMilli` in thousandths of a retry, as RetryBudget counts. */
  constructor(
    private readonly words: Int32Array,
    private readonly ratioMilli: number,
    private readonly reserveMilli: number,
  ) {}

  deposit(): void {
    add(this.words, DEPOSITS, 1);
  }

  tryWithdraw(): boolean {
    const balance = this.reserveMilli + this.ratioMilli * load(this.words, DEPOSITS) - 1000 * load(this.words, WITHDRAWALS);
    if (balance < 1000) return false;
    add(this.words, WITHDRAWALS, 1); // the bug: not the same step as the check
    return true;
  }
}
