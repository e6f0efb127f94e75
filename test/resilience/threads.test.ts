/**
 * The resilience primitives on real threads: one breaker, one bulkhead and
 * one budget seen by every thread, and what a thread that dies leaves behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerTransition } from '../../src/resilience/circuit-breaker.js';
import { Bulkhead } from '../../src/resilience/bulkhead.js';
import { RetryBudget } from '../../src/resilience/retry-budget.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, rejected } from '../helpers/errors.js';
import { Remote } from '../threads/remote.js';
import { until } from '../helpers/wait.js';

let a: Remote, b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([Remote.start('resilience'), Remote.start('resilience')]);
});
afterAll(async () => {
  await Promise.all([a.stop(), b.stop()]);
});

const cell = (): Int32Array => new Int32Array(new SharedArrayBuffer(4));
const down = (): Promise<never> => Promise.reject(new Error('upstream down'));

/** A fixture worker that `stop()` ends, started for one test. */
async function withWorker(use: (w: Remote) => Promise<void>): Promise<void> {
  const w = await Remote.start('resilience');
  try {
    await use(w);
  } finally {
    await w.stop();
  }
}

async function exitWorker(w: Remote): Promise<void> {
  const exited = new Promise((r) => w.worker.once('exit', r));
  w.send('exit', { code: 0 });
  await exited;
}

describe('CircuitBreaker across threads', () => {
  it("one thread's failures open the breaker for every thread", async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 60_000 });
    expect(await a.call('breakerFail', { breaker: breaker.handle, n: 3 })).toBe('OPEN');
    expect(breaker.state).toBe('OPEN');
    expectCode(await rejected(breaker.execute(async () => 'not called')), ErrorCode.CIRCUIT_OPEN);
    expect(await b.call('breakerCall', { breaker: breaker.handle, outcome: 'ok' })).toBe(ErrorCode.CIRCUIT_OPEN);
    expect(breaker.stats()).toMatchObject({ failures: 3, rejections: 2 });
  });

  it('failures in different threads add up to the threshold', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 60_000 });
    expect(await a.call('breakerFail', { breaker: breaker.handle, n: 1 })).toBe('CLOSED');
    expect(await b.call('breakerFail', { breaker: breaker.handle, n: 1 })).toBe('CLOSED');
    await breaker.execute(down).catch(() => {});
    expect(await a.call('breakerState', { breaker: breaker.handle })).toBe('OPEN');
  });

  it('HALF_OPEN admits halfOpenMaxCalls probes across all threads, and no more', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2, clock });
    await breaker.execute(down).catch(() => {});
    clock.advance(100);
    expect(await a.call('breakerHang', { breaker: breaker.handle, cell: cell() })).toBe('probe');
    expect(await b.call('breakerHang', { breaker: breaker.handle, cell: cell() })).toBe('probe');
    expectCode(await rejected(breaker.execute(async () => 'third')), ErrorCode.CIRCUIT_OPEN, /all 2 probe/);
    expect(await b.call('breakerCall', { breaker: breaker.handle, outcome: 'ok' })).toBe(ErrorCode.CIRCUIT_OPEN);
    expect(breaker.stats()).toMatchObject({ state: 'HALF_OPEN', probesInFlight: 2 });
  });

  it('a probe whose thread died is replaced by the next caller: HALF_OPEN is not held forever', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 100, clock });
    await breaker.execute(down).catch(() => {});
    clock.advance(100);
    await withWorker(async (w) => {
      expect(await w.call('breakerHang', { breaker: breaker.handle, cell: cell() })).toBe('probe');
      expectCode(await rejected(breaker.execute(async () => 'refused')), ErrorCode.CIRCUIT_OPEN, /probe/);
      await exitWorker(w);
    });
    expect(await breaker.execute(async (call) => call.probe)).toBe(true);
    expect(breaker.state).toBe('CLOSED');
  });

  it('a subscriber in each worker sees every transition once, in order', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 10, clock });
    await Promise.all([a.call('subscribe', { breaker: breaker.handle }), b.call('subscribe', { breaker: breaker.handle })]);
    const mine: BreakerTransition[] = [];
    breaker.onStateChange((t) => mine.push(t));
    // Transitions made by the main thread and by the workers.
    await breaker.execute(down).catch(() => {}); // 1 CLOSED → OPEN
    clock.advance(10);
    expect(await a.call('breakerCall', { breaker: breaker.handle, outcome: 'fail' })).not.toBe('ok'); // 2 → HALF_OPEN, 3 → OPEN
    clock.advance(10);
    expect(await b.call('breakerCall', { breaker: breaker.handle, outcome: 'ok' })).toBe('ok'); // 4 → HALF_OPEN, 5 → CLOSED
    await breaker.execute(down).catch(() => {}); // 6 → OPEN
    const expected = ['1:CLOSED>OPEN', '2:OPEN>HALF_OPEN', '3:HALF_OPEN>OPEN', '4:OPEN>HALF_OPEN', '5:HALF_OPEN>CLOSED', '6:CLOSED>OPEN'];
    const edges = (ts: BreakerTransition[]) => ts.map((t) => `${t.seq}:${t.from}>${t.to}`);
    for (const w of [a, b]) {
      let seen: BreakerTransition[] = [];
      await until(async () => (seen = await w.call<BreakerTransition[]>('seen')).length >= expected.length, {
        what: 'the worker saw every transition',
      });
      expect(edges(seen)).toEqual(expected);
      expect(seen.map((t) => t.at)).toEqual([0, 10, 10, 20, 20, 20]);
      await w.call('unsubscribe');
    }
    await until(() => mine.length === expected.length);
    expect(edges(mine)).toEqual(expected);
  });
});

describe('Bulkhead across threads', () => {
  it('counts slots and queue places of every thread together', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 2 });
    expect(await a.call('bulkheadHold', { bulkhead: bulkhead.handle, cell: cell() })).toBe('running');
    expect(await b.call('bulkheadHold', { bulkhead: bulkhead.handle, cell: cell() })).toBe('running');
    expectCode(await rejected(bulkhead.execute(() => 'third')), ErrorCode.BULKHEAD_FULL);
    expect(await a.call('bulkheadRunSync', { bulkhead: bulkhead.handle, n: 0 })).toBe(ErrorCode.BULKHEAD_FULL);
    expect(bulkhead.stats()).toEqual({ running: 2, queued: 0, available: 0 });
  });

  it('slots held by a thread that died are returned, to a newcomer and to a queued call', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    await withWorker(async (w) => {
      await withWorker(async (v) => {
        expect(await w.call('bulkheadHold', { bulkhead: bulkhead.handle, cell: cell() })).toBe('running');
        expect(await v.call('bulkheadHold', { bulkhead: bulkhead.handle, cell: cell() })).toBe('running');
        const queued = bulkhead.execute(() => 'queued ran', { timeoutMs: 10_000 });
        expectCode(await rejected(bulkhead.execute(() => 'refused')), ErrorCode.BULKHEAD_FULL);
        await exitWorker(w);
        expect(await queued).toBe('queued ran');
        await exitWorker(v);
      });
    });
    // Every slot and queue place is usable again: two calls run and a third waits.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = [bulkhead.execute(() => gate), bulkhead.execute(() => gate)];
    const waiting = bulkhead.execute(() => 'waited', { timeoutMs: 10_000 });
    expect(bulkhead.stats()).toEqual({ running: 2, queued: 1, available: 0 });
    release();
    await Promise.all(running);
    expect(await waiting).toBe('waited');
    expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, available: 2 });
  });
});

describe('RetryBudget across threads', () => {
  it('deposits and withdrawals of every thread share one budget', async () => {
    const budget = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 0, windowMs: 60_000, clock: new ManualClock() });
    await a.call('deposit', { budget: budget.handle, n: 6 });
    await b.call('deposit', { budget: budget.handle, n: 4 });
    const [x, y] = await Promise.all([
      a.call<number>('withdraw', { budget: budget.handle, n: 10 }),
      b.call<number>('withdraw', { budget: budget.handle, n: 10 }),
    ]);
    expect(x + y).toBe(5);
    expect(budget.tryWithdraw()).toBe(false);
    expect(budget.stats()).toEqual({ deposits: 10, withdrawals: 5, balance: 0 });
  });
});
