/**
 * The checker against porcupine's own test data: every verdict its tests
 * expect (porcupine_test.go), on its Jepsen etcd histories and its
 * key-value histories, parsed by our own parsers (data/porcupine.ts).
 */
import { describe, expect, it } from 'vitest';
import { checkLinearizable, kvModel, registerModel } from '../../src/testing/index.js';
import { ETCD_LINEARIZABLE, ETCD_LOGS, parseJepsenLog, parseKvLog } from './data/porcupine.js';

/** Generous: the slowest of these takes well under a second here; the budget only guards a hang. */
const BUDGET_MS = 60_000;

describe("porcupine's Jepsen etcd histories (a register with read, write and cas)", () => {
  it.each(ETCD_LOGS)('etcd_%i', (n) => {
    const verdict = checkLinearizable(parseJepsenLog(n), registerModel<number | null>(null), { timeoutMs: BUDGET_MS });
    expect(verdict.result, verdict.summary).toBe(ETCD_LINEARIZABLE.has(n) ? 'ok' : 'illegal');
  });

  it('reads the logs as porcupine does: indeterminate writes and cas, timed-out reads', () => {
    const all = ETCD_LOGS.flatMap((n) => parseJepsenLog(n));
    const returns = all.filter((e) => e.type === 'return');
    expect(all.length - returns.length).toBe(2939 + 2836 + 2748); // every invoke
    expect(returns.filter((e) => e.unknown === true)).toHaveLength(17); // :fail :read :timed-out
    expect(returns.filter((e) => e.name === 'cas' && e.value === false)).toHaveLength(1748);
    // :info writes and cas (657 + 626) have no return at all: indeterminate
    expect(all.length - 2 * returns.length).toBe(657 + 626);
  });
});

describe("porcupine's key-value histories (get, put, append; partitioned by key)", () => {
  it.each([
    ['c01-ok', 'ok'],
    ['c01-bad', 'illegal'],
    ['c10-ok', 'ok'],
    ['c10-bad', 'illegal'],
    ['c50-ok', 'ok'],
    ['c50-bad', 'illegal'],
  ] as const)('%s is %s', (name, expected) => {
    const verdict = checkLinearizable(parseKvLog(name), kvModel(), { timeoutMs: BUDGET_MS });
    expect(verdict.result, verdict.summary).toBe(expected);
    if (expected === 'illegal') expect(verdict.partial!.unplaced.length).toBeGreaterThan(0);
  });
});
