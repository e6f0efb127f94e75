import { describe, expect, it } from 'vitest';
import { RetryBudget, type RetryBudgetHandle, type RetryBudgetOptions } from '../../src/resilience/retry-budget.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';

function budget(options: Partial<RetryBudgetOptions> = {}) {
  const clock = new ManualClock({ startMs: 5000 });
  return { clock, b: new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 1000, clock, ...options }) };
}
const withdrawAll = (b: RetryBudget, max = 1000): number => {
  let n = 0;
  while (n < max && b.tryWithdraw()) n++;
  return n;
};

describe('RetryBudget', () => {
  it('allows ratio retries per call: 0.2 is one retry for every five calls', () => {
    const { b } = budget();
    expect(b.tryWithdraw()).toBe(false);
    for (let i = 0; i < 4; i++) b.deposit();
    expect(b.balance).toBeCloseTo(0.8, 9);
    expect(b.tryWithdraw()).toBe(false);
    b.deposit();
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
    for (let i = 0; i < 50; i++) b.deposit();
    expect(withdrawAll(b)).toBe(10);
    expect(b.stats()).toEqual({ deposits: 55, withdrawals: 11, balance: 0 });
  });

  it('the reserve (minRetriesPerSecond × window) allows retries with no traffic', () => {
    const { b } = budget({ minRetriesPerSecond: 3, windowMs: 2000 });
    expect(withdrawAll(b)).toBe(6);
  });

  it('counts only the last windowMs: deposits and withdrawals expire', () => {
    const { b, clock } = budget({ ratio: 1 });
    for (let i = 0; i < 10; i++) b.deposit();
    expect(withdrawAll(b, 4)).toBe(4);
    clock.advance(500);
    for (let i = 0; i < 2; i++) b.deposit();
    expect(b.stats()).toMatchObject({ deposits: 12, withdrawals: 4, balance: 8 });
    clock.advance(600); // the first bucket (10 deposits, 4 withdrawals) has left the window
    expect(b.stats()).toMatchObject({ deposits: 2, withdrawals: 0, balance: 2 });
    clock.advance(10_000);
    expect(b.stats()).toEqual({ deposits: 0, withdrawals: 0, balance: 0 });
    b.deposit();
    expect(b.tryWithdraw()).toBe(true);
  });

  it('from(handle) is the same budget', () => {
    const { b } = budget({ ratio: 1 });
    const other = RetryBudget.from(structuredClone(b.handle));
    other.deposit();
    expect(b.tryWithdraw()).toBe(true);
    expect(other.tryWithdraw()).toBe(false);
    expect(other.stats()).toEqual({ deposits: 1, withdrawals: 1, balance: 0 });
  });

  it('lives in an arena', () => {
    const arena = new SharedArena({ byteLength: 4096 });
    const b = new RetryBudget({ ratio: 1, arena });
    expect(b.handle.buffer).toBe(arena.handle.buffer);
    expect(b.handle.byteLength).toBe(RetryBudget.byteLength({ ratio: 1 }));
    expect(b.tryWithdraw()).toBe(true); // the default reserve: 10/s over 10 s
  });

  describe('misuse: a typed error, and nothing deposited or withdrawn is lost', () => {
    it.each([
      ['a negative ratio', { ratio: -0.1 }, /ratio must be a finite number >= 0 and <= 1000, got -0.1/],
      ['a NaN ratio', { ratio: NaN }, /got NaN/],
      ['an infinite ratio', { ratio: Infinity }, /got Infinity/],
      ['a missing ratio', { ratio: undefined }, /ratio is required/],
      ['a negative minRetriesPerSecond', { minRetriesPerSecond: -1 }, /minRetriesPerSecond/],
      ['windowMs 0', { windowMs: 0 }, /windowMs must be a finite number of milliseconds > 0 and <= 2147483647, got 0/],
      ['a NaN windowMs', { windowMs: NaN }, /got NaN/],
      ['a budget that never allows a retry', { ratio: 0, minRetriesPerSecond: 0 }, /never allows a retry/],
      ['a clock that cannot be shared', { clock: { now: () => 0 } }, /systemClock or a ManualClock/],
      [
        'a misspelled option',
        { minRetriesPerSec: 1 },
        /new RetryBudget\(options\): unknown option "minRetriesPerSec"; did you mean "minRetriesPerSecond"\?/,
      ],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(
        () => new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 1000, ...o } as never),
        ErrorCode.INVALID_ARG,
        message,
      );
    });

    it.each(
      forgedHandles<RetryBudgetHandle>('sabre.Mutex', [
        ['other options', (h) => ({ ...h, options: { ...h.options, ratio: 0.5 } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
        ['an unknown option', (h) => ({ ...h, options: { ...h.options, percent: 1 } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { b } = budget();
      b.deposit();
      expectCode(
        thrown(() => RetryBudget.from(forge(b.handle) as RetryBudgetHandle)),
        ErrorCode.HANDLE,
      );
      expect(b.stats().deposits).toBe(1);
    });
  });
});
