import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  parseRetryAfter,
  retry,
  retryAfterMsOf,
  type GiveUpInfo,
  type RetryInfo,
  type RetryOptions,
} from '../../src/resilience/retry.js';
import { RetryBudget } from '../../src/resilience/retry-budget.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { ManualClock } from '../../src/clock.js';
import { BulkheadFullError, CircuitOpenError, ErrorCode, InvalidArgumentError, TimeoutError } from '../../src/errors.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { nextTurn, until } from '../helpers/wait.js';

/** A function failing `times` times, then returning 'done'; counts its calls. */
function flaky(times: number, error: unknown = new Error('flaky')) {
  const calls: number[] = [];
  const fn = async ({ attempt }: { attempt: number }) => {
    calls.push(attempt);
    if (calls.length <= times) throw error;
    return 'done';
  };
  return { fn, calls };
}

/** retry() with tiny delays, recording onRetry. */
async function run<T>(
  fn: Parameters<typeof retry<T>>[0],
  options: RetryOptions = {},
): Promise<{ value?: T; error?: unknown; retries: RetryInfo[] }> {
  const retries: RetryInfo[] = [];
  const outcome = await retry(fn, { baseMs: 0.01, maxMs: 1, idempotent: true, onRetry: (i) => retries.push(i), ...options }).then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  return { ...outcome, retries };
}

describe('backoffDelay: the AWS formulas', () => {
  // retry k: t = min(maxMs, baseMs * 2^k)
  it.each([
    ['none', 0.5, [100, 200, 400, 800, 1000]],
    ['full', 0, [0, 0, 0, 0, 0]],
    ['full', 0.5, [50, 100, 200, 400, 500]],
    ['equal', 0, [50, 100, 200, 400, 500]],
    ['equal', 0.999, [99.95, 199.9, 399.8, 799.6, 999.5]],
  ] as const)('%s jitter with random() = %s', (jitter, r, expected) => {
    const delays = [0, 1, 2, 3, 4].map((k) => backoffDelay(jitter, k, 100, 1000, 100, () => r));
    delays.forEach((d, i) => expect(d).toBeCloseTo(expected[i]!, 6));
  });

  it('decorrelated: between baseMs and three times the previous delay, capped at maxMs', () => {
    expect(backoffDelay('decorrelated', 0, 100, 1000, 100, () => 0)).toBe(100);
    expect(backoffDelay('decorrelated', 0, 100, 1000, 100, () => 0.5)).toBe(200); // 100 + 0.5 * (300 - 100)
    expect(backoffDelay('decorrelated', 3, 100, 1000, 400, () => 0.5)).toBe(650);
    expect(backoffDelay('decorrelated', 9, 100, 1000, 900, () => 0.9)).toBe(1000);
  });

  it('a random source outside [0, 1) is an InvalidArgumentError', () => {
    expectCode(
      () => backoffDelay('full', 0, 1, 1, 1, () => 1),
      ErrorCode.INVALID_ARG,
      /random\(\) must return a number in \[0, 1\), got 1/,
    );
    expectCode(() => backoffDelay('equal', 0, 1, 1, 1, () => NaN), ErrorCode.INVALID_ARG, /got NaN/);
  });
});

describe('Retry-After', () => {
  it('reads CircuitOpenError, retryAfterMs, and a Retry-After header in seconds or as a date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(retryAfterMsOf(new CircuitOpenError('open', { retryAfterMs: 1500 }))).toBe(1500);
    const crossed = structuredClone(new CircuitOpenError('open', { retryAfterMs: 700 })); // as postMessage leaves it
    expect(retryAfterMsOf(crossed)).toBe(700);
    expect(retryAfterMsOf(Object.assign(new Error('429'), { retryAfterMs: 250 }))).toBe(250);
    expect(retryAfterMsOf({ headers: { 'Retry-After': '3' } })).toBe(3000);
    expect(retryAfterMsOf({ response: { headers: new Headers({ 'retry-after': '2' }) } })).toBe(2000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0); // in the past: now
    expect(parseRetryAfter(['5'])).toBe(5000);
  });

  it.each([
    ['no header', {}],
    ['garbage', { headers: { 'retry-after': 'soon' } }],
    ['a negative delay', { retryAfterMs: -1 }],
    ['a string error', 'x'],
    ['null', null],
  ])('nothing to read from %s', (_n, e) => expect(retryAfterMsOf(e)).toBeUndefined());
});

/**
 * An upstream that charges and keeps a ledger, like a payment provider; it
 * may answer too late (the charge is made, the caller times out) and may
 * deduplicate by Idempotency-Key.
 */
function bank(options: { dedupe: boolean }) {
  const ledger: string[] = [];
  const seen = new Set<string>();
  let timeouts = 0;
  return {
    ledger,
    /** Charges `payment` (once per key when deduplicating); the first `n` calls then time out. */
    timeoutAfterCharging(n: number) {
      timeouts = n;
    },
    charge(payment: string, key?: string): Promise<string> {
      if (!(options.dedupe && key !== undefined && seen.has(key))) ledger.push(payment);
      if (key !== undefined) seen.add(key);
      if (timeouts > 0) {
        timeouts--;
        return Promise.reject(new TimeoutError('the bank did not answer within 2000 ms'));
      }
      return Promise.resolve(`charged ${payment}`);
    },
  };
}

describe('retry is safe for work that must not happen twice', () => {
  const fast = { baseMs: 0.01, maxMs: 1 } as const;

  it('by default a timeout is not retried: the charge may have happened, so it is not made again', async () => {
    const b = bank({ dedupe: false });
    b.timeoutAfterCharging(1);
    const told: GiveUpInfo[] = [];
    const error = await rejected(retry(() => b.charge('pay-1'), { ...fast, onGiveUp: (i) => told.push(i) }));
    expectCode(error, ErrorCode.TIMEOUT);
    expect(b.ledger).toEqual(['pay-1']); // charged once, and the caller is told it timed out
    expect(told).toMatchObject([{ reason: 'unsafe', attempts: 1 }]);
  });

  it('by default an unknown error and a reset connection are not retried either', async () => {
    for (const error of [new Error('socket hang up'), Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })]) {
      const { fn, calls } = flaky(1, error);
      const told: GiveUpInfo[] = [];
      expect(await rejected(retry(fn, { ...fast, onGiveUp: (i) => told.push(i) }))).toBe(error);
      expect(calls).toEqual([0]);
      expect(told).toMatchObject([{ reason: 'unsafe' }]);
    }
  });

  it('by default retries what proves the work did not happen: an open breaker, a full bulkhead, a refused connection, a 429', async () => {
    const refused = [
      new CircuitOpenError('open', { retryAfterMs: 0.01 }),
      new BulkheadFullError('full'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND bank'), { code: 'ENOTFOUND' }) }),
      Object.assign(new Error('Too Many Requests'), { status: 429 }),
      { response: { status: 429, headers: { 'retry-after': '0' } } },
    ];
    for (const error of refused) {
      const { fn, calls } = flaky(1, error);
      expect(await retry(fn, fast)).toBe('done');
      expect(calls).toEqual([0, 1]);
    }
  });

  it('idempotencyKey: one key for every attempt, passed to fn; an upstream that deduplicates charges once', async () => {
    const b = bank({ dedupe: true });
    b.timeoutAfterCharging(2);
    const keys: (string | undefined)[] = [];
    const out = await retry(
      ({ idempotencyKey }) => {
        keys.push(idempotencyKey);
        return b.charge('pay-2', idempotencyKey);
      },
      { ...fast, idempotencyKey: true },
    );
    expect(out).toBe('charged pay-2');
    expect(b.ledger).toEqual(['pay-2']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    // A key of the caller's own (the client's Idempotency-Key, passed on upstream).
    const given: (string | undefined)[] = [];
    await retry(({ idempotencyKey }) => (given.push(idempotencyKey), given.length < 2 ? Promise.reject(new TimeoutError('slow')) : 'ok'), {
      ...fast,
      idempotencyKey: 'order-77',
    });
    expect(given).toEqual(['order-77', 'order-77']);
    // Without the option, fn is told no key.
    await retry(({ idempotencyKey }) => given.push(idempotencyKey ?? 'none'));
    expect(given.at(-1)).toBe('none');
  });

  it('idempotent: true retries timeouts and unknown errors (for work that is safe to repeat)', async () => {
    const { fn, calls } = flaky(2, new TimeoutError('slow'));
    expect(await retry(fn, { ...fast, idempotent: true })).toBe('done');
    expect(calls).toEqual([0, 1, 2]);
  });

  it('a retryOn of the caller overrides the classification both ways', async () => {
    const timedOut = flaky(1, new TimeoutError('slow'));
    expect(await retry(timedOut.fn, { ...fast, retryOn: () => true })).toBe('done');
    const open = flaky(1, new CircuitOpenError('open', { retryAfterMs: 0 }));
    const told: GiveUpInfo[] = [];
    await rejected(retry(open.fn, { ...fast, retryOn: () => false, onGiveUp: (i) => told.push(i) }));
    expect(told).toMatchObject([{ reason: 'not-retryable' }]);
  });

  it('maxRetryAfterMs: a Retry-After beyond maxMs is waited up to it, and beyond it gives up with reason retry-after', async () => {
    const asks = (ms: number) => Object.assign(new Error('busy'), { status: 429, retryAfterMs: ms });
    const waited = flaky(1, asks(3));
    const infos: RetryInfo[] = [];
    expect(await retry(waited.fn, { baseMs: 0.01, maxMs: 1, maxRetryAfterMs: 5, onRetry: (i) => infos.push(i) })).toBe('done');
    expect(infos[0]!.delayMs).toBeGreaterThanOrEqual(3);
    const told: GiveUpInfo[] = [];
    const tooLong = flaky(1, asks(50));
    await rejected(retry(tooLong.fn, { baseMs: 0.01, maxMs: 1, maxRetryAfterMs: 5, onGiveUp: (i) => told.push(i) }));
    expect(told).toMatchObject([{ reason: 'retry-after', retryAfterMs: 50 }]);
    expect(tooLong.calls).toEqual([0]);
    expectCode(await rejected(retry(() => 1, { maxMs: 10, maxRetryAfterMs: 5 })), ErrorCode.INVALID_ARG);
  });

  it('bad idempotencyKey values are typed errors, before fn is called', async () => {
    for (const idempotencyKey of ['', 'x'.repeat(256), 'bad\nkey', 7, false]) {
      let called = false;
      const e = await rejected(retry(() => (called = true), { idempotencyKey } as unknown as RetryOptions));
      expectCode(e, ErrorCode.INVALID_ARG);
      expect(called).toBe(false);
    }
  });
});

describe('retry', () => {
  it('retries until fn succeeds, passing the attempt number', async () => {
    const { fn, calls } = flaky(2);
    const r = await run(fn, { retries: 3 });
    expect(r).toMatchObject({ value: 'done' });
    expect(calls).toEqual([0, 1, 2]);
    expect(r.retries.map((i) => i.attempt)).toEqual([1, 2]);
  });

  it('gives up after `retries` retries with the last error', async () => {
    const errors = [new Error('1'), new Error('2'), new Error('3')];
    let i = 0;
    const r = await run(
      async () => {
        throw errors[i++];
      },
      { retries: 2 },
    );
    expect(r.error).toBe(errors[2]);
    expect(i).toBe(3);
    expect(
      (
        await run(
          async () => {
            throw errors[0];
          },
          { retries: 0 },
        )
      ).retries,
    ).toEqual([]);
  });

  it('returns a first success without waiting, for async and sync functions', async () => {
    expect(await retry(async () => 7)).toBe(7);
    expect(await retry(() => 8)).toBe(8);
    const { fn, calls } = flaky(1);
    expect(
      await retry(
        ({ attempt }) => {
          if (attempt === 0) throw new Error('sync throw');
          return fn({ attempt });
        },
        { baseMs: 0.01, idempotent: true },
      ),
    ).toBe('done');
    expect(calls).toEqual([1, 2]);
  });

  it('delays follow the jitter formula with the injected random source', async () => {
    const { fn } = flaky(4);
    const r = await run(fn, { retries: 4, baseMs: 0.01, maxMs: 0.05, jitter: 'equal', random: () => 0.5 });
    r.retries.forEach((info, k) => expect(info.delayMs).toBeCloseTo(0.75 * Math.min(0.05, 0.01 * 2 ** k), 9));
  });

  it('retryOn decides; sabre argument, handle and abort errors are not retried by default', async () => {
    const { fn, calls } = flaky(5, Object.assign(new Error('400'), { status: 400 }));
    const r = await run(fn, { retryOn: (e, attempt) => (e as { status: number }).status >= 500 || attempt < 2 });
    expect(calls.length).toBe(2);
    expect((r.error as { status: number }).status).toBe(400);
    const invalid = flaky(5, new InvalidArgumentError('bad'));
    await run(invalid.fn);
    expect(invalid.calls).toEqual([0]);
  });

  it('waits at least what a Retry-After asks, and gives up when it asks more than maxMs', async () => {
    const open = flaky(1, new CircuitOpenError('open', { retryAfterMs: 3 }));
    const r = await run(open.fn, { maxMs: 5 });
    expect(r.value).toBe('done');
    expect(r.retries[0]).toMatchObject({ retryAfterMs: 3 });
    expect(r.retries[0]!.delayMs).toBeGreaterThanOrEqual(3);
    const tooLong = flaky(1, { headers: { 'retry-after': '120' } });
    const r2 = await run(tooLong.fn, { maxMs: 1000 });
    expect(r2.error).toEqual({ headers: { 'retry-after': '120' } });
    expect(tooLong.calls).toEqual([0]);
  });

  it('an AbortSignal cancels the wait; an aborted signal stops before the first call', async () => {
    const ac = new AbortController();
    const { fn, calls } = flaky(5);
    const p = retry(fn, { baseMs: 10_000, maxMs: 10_000, jitter: 'none', signal: ac.signal, idempotent: true });
    await until(() => calls.length === 1, { what: 'the first call failed' });
    await nextTurn(); // its rejection handled: retry waits out its 10 s delay now
    ac.abort(new Error('shutdown'));
    const e = expectCode(await rejected(p), ErrorCode.ABORTED, /while waiting/);
    expect((e as Error & { cause: { cause: Error } }).cause.cause.message).toBe('shutdown');
    expect(calls).toEqual([0]);
    const never = flaky(0);
    expectCode(await rejected(retry(never.fn, { signal: ac.signal })), ErrorCode.ABORTED);
    expect(never.calls).toEqual([]);
  });

  it('a budget limits retries across calls and gives up with the last error', async () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 0, windowMs: 1000, clock });
    const results = [];
    for (let c = 0; c < 4; c++) results.push(await run(flaky(10).fn, { retries: 5, budget }));
    // 4 calls deposit 2 retries between them.
    expect(results.reduce((n, r) => n + r.retries.length, 0)).toBe(2);
    expect(budget.stats()).toMatchObject({ deposits: 4, withdrawals: 2, balance: 0 });
    expect((results[3]!.error as Error).message).toBe('flaky');
  });

  it('onGiveUp says once why it gave up: retries, not-retryable, retry-after or budget; never on success or abort', async () => {
    const why = async (fn: Parameters<typeof retry>[0], options: RetryOptions = {}) => {
      const told: GiveUpInfo[] = [];
      const r = await run(fn, { onGiveUp: (i) => told.push(i), ...options });
      return { r, told };
    };
    const spent = new Error('always');
    let g = await why(
      async () => {
        throw spent;
      },
      { retries: 2 },
    );
    expect(g.told).toEqual([{ reason: 'retries', attempts: 3, error: spent, retryAfterMs: undefined }]);
    expect(g.r.error).toBe(spent);
    g = await why(flaky(5, Object.assign(new Error('400'), { status: 400 })).fn, { retryOn: () => false });
    expect(g.told).toMatchObject([{ reason: 'not-retryable', attempts: 1 }]);
    g = await why(flaky(5, { headers: { 'retry-after': '120' } }).fn, { maxMs: 1000 });
    expect(g.told).toMatchObject([{ reason: 'retry-after', attempts: 1, retryAfterMs: 120_000 }]);
    const budget = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 0, windowMs: 1000, clock: new ManualClock() });
    g = await why(flaky(5).fn, { retries: 5, budget });
    expect(g.told).toMatchObject([{ reason: 'budget', attempts: 1 }]);
    expect((await why(flaky(2).fn, { retries: 3 })).told).toEqual([]);
    const ac = new AbortController();
    const told: GiveUpInfo[] = [];
    const waiting = flaky(5);
    const p = retry(waiting.fn, { baseMs: 10_000, jitter: 'none', signal: ac.signal, idempotent: true, onGiveUp: (i) => told.push(i) });
    await until(() => waiting.calls.length === 1, { what: 'the first call failed' });
    await nextTurn(); // retry waits out its delay now
    ac.abort();
    expectCode(await rejected(p), ErrorCode.ABORTED);
    expect(told).toEqual([]);
  });

  it('retry over a shared breaker: waits out its retryAfterMs', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 2, clock });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    const r0: RetryInfo[] = [];
    const r = await run(() => breaker.execute(async () => 'up'), {
      retries: 2,
      maxMs: 10,
      onRetry: (i) => {
        r0.push(i);
        clock.advance(2);
      },
    });
    expect(r.value).toBe('up');
    expect(r0[0]).toMatchObject({ retryAfterMs: 2 });
  });

  describe('misuse: a typed error before fn is called', () => {
    it.each([
      ['fn not a function', 42, {}, /retry\(fn\): fn must be a function, got 42/],
      ['negative retries', null, { retries: -1 }, /retries must be an integer in \[0, 1000\], got -1/],
      ['fractional retries', null, { retries: 1.5 }, /got 1.5/],
      ['baseMs 0', null, { baseMs: 0 }, /baseMs must be a finite number of milliseconds > 0 and <= 2147483647, got 0/],
      ['a NaN baseMs', null, { baseMs: NaN }, /got NaN/],
      ['a negative maxMs', null, { maxMs: -1 }, /maxMs/],
      ['maxMs below baseMs', null, { baseMs: 100, maxMs: 10 }, /maxMs must be at least baseMs \(100\), got 10/],
      ['an unknown jitter', null, { jitter: 'gaussian' }, /jitter must be one of "full", "equal", "decorrelated", "none", got "gaussian"/],
      ['a retryOn that is not a function', null, { retryOn: true }, /retryOn must be a function/],
      ['an onGiveUp that is not a function', null, { onGiveUp: 'log' }, /onGiveUp must be a function, got "log"/],
      [
        'a budget without deposit()',
        null,
        { budget: { tryWithdraw: () => true } },
        /budget must be a RetryBudget \(an object with deposit\(\) and tryWithdraw\(\)\), got an object/,
      ],
      ['a signal that is not an AbortSignal', null, { signal: {} }, /signal must be an AbortSignal/],
      ['options that are not an object', null, 7, /retry\(fn, options\): options must be an object, got 7/],
      ['a misspelled option', null, { retires: 3 }, /retry\(fn, options\): unknown option "retires"; did you mean "retries"\?/],
      ['an option of another library', null, { maxAttempts: 3 }, /unknown option "maxAttempts"/],
    ])('%s', async (_n, fnArg, options, message) => {
      let called = 0;
      const fn = fnArg ?? (() => called++);
      expectCode(await rejected(retry(fn as never, options as never)), ErrorCode.INVALID_ARG, message);
      expect(called).toBe(0);
    });

    it('a random source that returns garbage rejects the retry with InvalidArgumentError', async () => {
      const { fn, calls } = flaky(3);
      expectCode(await rejected(retry(fn, { random: () => 2, idempotent: true })), ErrorCode.INVALID_ARG, /random/);
      expect(calls).toEqual([0]);
      let p: Promise<unknown> | undefined;
      expect(thrown(() => (p = retry(42 as never)))).toBeUndefined(); // always a rejection, never a throw
      expectCode(await rejected(p!), ErrorCode.INVALID_ARG);
    });
  });
});
