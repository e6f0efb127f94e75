import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CircuitBreaker,
  type BreakerTransition,
  type CircuitBreakerHandle,
  type CircuitBreakerOptions,
} from '../../src/resilience/circuit-breaker.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { CircuitOpenError, ErrorCode } from '../../src/errors.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { elapse, nextTurn, until } from '../helpers/wait.js';

const boom = (): Promise<never> => Promise.reject(new Error('upstream down'));
const ok = (): Promise<number> => Promise.resolve(1);
const never = (): Promise<never> => new Promise<never>(() => {});

function breaker(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = new ManualClock({ startMs: 1000 });
  return { clock, b: new CircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 100, clock, ...options }) };
}

async function fail(b: CircuitBreaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await b.execute(boom).catch(() => {});
}

/** Collects the transitions a subscriber of `b` receives. */
function subscribe(b: CircuitBreaker): BreakerTransition[] {
  const seen: BreakerTransition[] = [];
  b.onStateChange((t) => seen.push(t));
  return seen;
}
const edges = (seen: BreakerTransition[]) => seen.map((t) => `${t.seq}:${t.from}>${t.to}`);

describe('CircuitBreaker', () => {
  it('opens after failureThreshold failures in a row; a success in between starts the count again', async () => {
    const { b } = breaker();
    await fail(b, 2);
    expect(b.stats().consecutiveFailures).toBe(2);
    await b.execute(ok);
    expect(b.stats().consecutiveFailures).toBe(0);
    await fail(b, 2);
    expect(b.state).toBe('CLOSED');
    await fail(b, 1);
    expect(b.state).toBe('OPEN');
  });

  it('while OPEN, calls fail fast with CircuitOpenError and the time left, and fn is not called', async () => {
    const { b, clock } = breaker();
    await fail(b, 3);
    clock.advance(30);
    let called = 0;
    const e = expectCode(await rejected(b.execute(async () => called++)), ErrorCode.CIRCUIT_OPEN, /circuit open/) as CircuitOpenError;
    expect(e.retryAfterMs).toBe(70);
    expect(called).toBe(0);
    clock.advance(69.5);
    expect(((await rejected(b.execute(ok))) as CircuitOpenError).retryAfterMs).toBe(1); // rounded up: never early
    expect(b.stats()).toMatchObject({ state: 'OPEN', rejections: 2, failures: 3, retryAfterMs: 1 });
  });

  it('after resetTimeoutMs a probe is admitted; its success closes the breaker', async () => {
    const { b, clock } = breaker();
    await fail(b, 3);
    clock.advance(100);
    expect(b.state).toBe('HALF_OPEN');
    const call = await b.execute(async (c) => c);
    expect(call).toMatchObject({ probe: true, seq: 2 });
    expect(b.state).toBe('CLOSED');
    expect((await b.execute(async (c) => c)).probe).toBe(false);
  });

  it('a probe failure reopens the breaker for a full reset timeout', async () => {
    const { b, clock } = breaker();
    await fail(b, 3);
    clock.advance(150);
    await b.execute(boom).catch(() => {});
    expect(b.state).toBe('OPEN');
    expect(((await rejected(b.execute(ok))) as CircuitOpenError).retryAfterMs).toBe(100);
    expect(b.stats().transitions).toBe(3);
  });

  it('HALF_OPEN admits at most halfOpenMaxCalls probes; the first outcome decides', async () => {
    const { b, clock } = breaker({ halfOpenMaxCalls: 2 });
    await fail(b, 3);
    clock.advance(100);
    let settle!: () => void;
    const first = b.execute(() => new Promise<void>((r) => (settle = r)));
    const second = b.execute(never);
    second.catch(() => {});
    expect(b.stats().probesInFlight).toBe(2);
    expectCode(await rejected(b.execute(ok)), ErrorCode.CIRCUIT_OPEN, /half-open: all 2 probe/);
    settle();
    await first;
    expect(b.state).toBe('CLOSED');
    expect(b.stats().probesInFlight).toBe(0);
  });

  it('a probe still running from an earlier HALF_OPEN period keeps its slot', async () => {
    const { b, clock } = breaker({ failureThreshold: 1, halfOpenMaxCalls: 2 });
    await fail(b, 1);
    clock.advance(100);
    let settleSlow!: () => void;
    const slow = b.execute(() => new Promise<void>((r) => (settleSlow = r)));
    await b.execute(ok); // the other probe closes the breaker
    await fail(b, 1);
    clock.advance(100);
    const next = b.execute(never); // one slot left: the slow probe still runs
    next.catch(() => {});
    expectCode(await rejected(b.execute(ok)), ErrorCode.CIRCUIT_OPEN, /probe/);
    settleSlow();
    await slow;
    expect(b.state).toBe('HALF_OPEN'); // a late outcome does not move the new period
    expect(await b.execute(async (c) => c.probe)).toBe(true);
    expect(b.state).toBe('CLOSED');
  });

  it('counts failures normally after a long outage (1,203 transitions: period tags 11 bits wide wrap past half)', async () => {
    const { b, clock } = breaker({ failureThreshold: 2 });
    await fail(b, 2);
    for (let cycle = 0; cycle < 600; cycle++) {
      clock.advance(100);
      expect(
        (
          thrown(() =>
            b.executeSync(() => {
              throw new Error('still down');
            }),
          ) as Error
        ).message,
      ).toBe('still down'); // a probe, admitted
    }
    clock.advance(100);
    b.executeSync(() => 'recovered');
    expect(b.stats()).toMatchObject({ state: 'CLOSED', transitions: 1203 });
    await fail(b, 2);
    expect(b.state).toBe('OPEN');
  });

  it('a result admitted in an earlier period does not count in the next one', async () => {
    const { b, clock } = breaker({ failureThreshold: 1 });
    let failLate!: (e: Error) => void;
    const late = b.execute(() => new Promise((_, reject) => (failLate = reject)));
    await b.execute(boom).catch(() => {}); // opens
    clock.advance(100);
    await b.execute(ok); // probe: closes
    failLate(new Error('slow failure from the first period'));
    await late.catch(() => {});
    expect(b.state).toBe('CLOSED');
    expect(b.stats()).toMatchObject({ consecutiveFailures: 0, failures: 2 });
  });

  describe('failure-rate mode', () => {
    const rate = { threshold: 0.5, minimumCalls: 4, windowMs: 1000 };

    it('opens when failures reach the threshold over at least minimumCalls calls', async () => {
      const { b } = breaker({ failureThreshold: undefined, failureRate: rate });
      await fail(b, 3);
      expect(b.state).toBe('CLOSED'); // 3 calls: fewer than minimumCalls
      await b.execute(ok);
      await b.execute(ok);
      expect(b.stats().window).toEqual({ calls: 5, failures: 3, failureRate: 0.6 });
      expect(b.state).toBe('CLOSED'); // only failures trip it
      await fail(b, 1);
      expect(b.state).toBe('OPEN');
    });

    it('counts only the rolling window: old buckets roll off on the clock', async () => {
      const { b, clock } = breaker({ failureThreshold: undefined, failureRate: { ...rate, buckets: 10 } });
      await fail(b, 3);
      clock.advance(1000);
      expect(b.stats().window).toEqual({ calls: 0, failures: 0, failureRate: 0 });
      await fail(b, 3);
      expect(b.state).toBe('CLOSED');
      clock.advance(500);
      await b.execute(ok);
      await fail(b, 1);
      expect(b.state).toBe('OPEN'); // 4 of 5 in the window
    });

    it('a new CLOSED period starts with an empty window', async () => {
      const { b, clock } = breaker({ failureThreshold: undefined, failureRate: rate });
      await fail(b, 4);
      clock.advance(100);
      await b.execute(ok); // the probe closes it, inside the same window
      expect(b.stats().window).toEqual({ calls: 0, failures: 0, failureRate: 0 });
      await fail(b, 3);
      expect(b.state).toBe('CLOSED');
    });

    it('with a failureThreshold too, either condition opens it', async () => {
      const { b } = breaker({ failureThreshold: 2, failureRate: { ...rate, minimumCalls: 100 } });
      await fail(b, 2);
      expect(b.state).toBe('OPEN');
    });
  });

  describe('timeouts', () => {
    it('a call that does not settle in timeoutMs fails with TimeoutError, counts, and its signal aborts', async () => {
      const { b } = breaker({ failureThreshold: 1, timeoutMs: 5 });
      let signal: AbortSignal | undefined;
      const e = await rejected(
        b.execute((call) => {
          signal = call.signal;
          return never();
        }),
      );
      expectCode(e, ErrorCode.TIMEOUT, /timeoutMs \(5 ms\)/);
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBe(e);
      expect(b.stats()).toMatchObject({ state: 'OPEN', timeouts: 1, failures: 1 });
    });

    it('a result after the timeout is ignored', async () => {
      const { b } = breaker({ failureThreshold: 2, timeoutMs: 5 });
      let resolveLate!: (v: number) => void;
      const p = b.execute(() => new Promise<number>((r) => (resolveLate = r)));
      await rejected(p);
      resolveLate(7);
      await nextTurn(); // the late result's handlers have run
      expect(b.stats()).toMatchObject({ successes: 0, failures: 1, consecutiveFailures: 1 });
    });

    it('a call that settles in time is unaffected', async () => {
      const { b } = breaker({ timeoutMs: 10_000 });
      expect(await b.execute(async (call) => call.signal instanceof AbortSignal)).toBe(true);
      expect(b.stats().successes).toBe(1);
    });

    it('executeSync: a call that took longer than timeoutMs counts as a failure and throws TimeoutError', () => {
      const { b } = breaker({ failureThreshold: 1, timeoutMs: 1 });
      const cell = new Int32Array(new SharedArrayBuffer(4));
      expectCode(() => b.executeSync(() => Atomics.wait(cell, 0, 0, 5)), ErrorCode.TIMEOUT);
      expect(b.state).toBe('OPEN');
    });
  });

  describe('what counts as a failure', () => {
    it('isFailure: an error it refuses reaches the caller and counts as a success', async () => {
      const notFound = Object.assign(new Error('404'), { status: 404 });
      const { b } = breaker({ failureThreshold: 1, isFailure: (e) => (e as { status?: number }).status !== 404 });
      expect(await rejected(b.execute(() => Promise.reject(notFound)))).toBe(notFound);
      expect(b.stats()).toMatchObject({ state: 'CLOSED', successes: 1, failures: 0 });
      await b.execute(boom).catch(() => {});
      expect(b.state).toBe('OPEN');
    });

    it("an isFailure that throws counts the call as a failure; the caller still gets fn's error", async () => {
      const { b } = breaker({
        failureThreshold: 1,
        isFailure: () => {
          throw new Error('bad filter');
        },
      });
      expect(((await rejected(b.execute(boom))) as Error).message).toBe('upstream down');
      expect(b.state).toBe('OPEN');
    });

    it.each([
      ['a string', 'boom'],
      ['undefined', undefined],
      ['null', null],
      ['a number', 42],
      ['a plain object', { reason: 'x' }],
    ])('fn throwing %s: the caller gets it unchanged and it counts', async (_n, value) => {
      const { b } = breaker({ failureThreshold: 2 });
      expect(
        await b
          .execute(() => Promise.reject(value))
          .then(
            () => 'resolved',
            (e: unknown) => e,
          ),
      ).toBe(value);
      expect(
        await b
          .execute(() => {
            throw value;
          })
          .then(
            () => 'resolved',
            (e: unknown) => e,
          ),
      ).toBe(value);
      expect(b.state).toBe('OPEN');
      expect(thrown(() => b.executeSync(() => 1))).toBeInstanceOf(CircuitOpenError);
    });

    it('a synchronous fn and a non-promise thenable work through execute', async () => {
      const { b } = breaker();
      expect(await b.execute(() => 5)).toBe(5);
      const thenable = { then: (r: (v: number) => void) => r(6) } as unknown as PromiseLike<number>;
      expect(await b.execute(() => thenable)).toBe(6);
      expect(b.stats().successes).toBe(2);
    });
  });

  describe('executeSync', () => {
    it('runs, counts and refuses like execute', () => {
      const { b, clock } = breaker({ failureThreshold: 2 });
      expect(b.executeSync(() => 3)).toBe(3);
      for (let i = 0; i < 2; i++)
        expect(
          thrown(() =>
            b.executeSync(() => {
              throw new Error('x');
            }),
          ),
        ).toBeInstanceOf(Error);
      expectCode(() => b.executeSync(() => 1), ErrorCode.CIRCUIT_OPEN);
      clock.advance(100);
      expect(b.executeSync((c) => c.probe)).toBe(true);
      expect(b.state).toBe('CLOSED');
    });

    it('refuses a function that returns a promise, and a probe slot taken for it is freed', async () => {
      const { b, clock } = breaker({ failureThreshold: 1 });
      await fail(b, 1);
      clock.advance(100);
      expectCode(() => b.executeSync(() => Promise.reject(new Error('x')) as never), ErrorCode.INVALID_ARG, /use execute/);
      expect(b.stats()).toMatchObject({ state: 'HALF_OPEN', probesInFlight: 0 });
      expect(b.executeSync((c) => c.probe)).toBe(true);
    });
  });

  describe('onStateChange, waitUntil and waitUntilAsync', () => {
    it('delivers each transition once, in order, to every subscriber; unsubscribe stops it', async () => {
      const { b, clock } = breaker({ failureThreshold: 1 });
      const first = subscribe(b);
      const second: BreakerTransition[] = [];
      const stop = b.onStateChange((t) => second.push(t));
      await fail(b, 1);
      clock.advance(100);
      await b.execute(boom).catch(() => {});
      await until(() => first.length === 3);
      expect(edges(first)).toEqual(['1:CLOSED>OPEN', '2:OPEN>HALF_OPEN', '3:HALF_OPEN>OPEN']);
      expect(first.map((t) => t.at)).toEqual([1000, 1100, 1100]);
      expect(edges(second)).toEqual(edges(first));
      stop();
      clock.advance(100);
      await b.execute(ok);
      await until(() => first.length === 5);
      expect(second.length).toBe(3);
    });

    it('onBreak, onHalfOpen and onReset (as cockatiel) each get the transitions into their state, in order; unsubscribe stops them', async () => {
      const { b, clock } = breaker({ failureThreshold: 1 });
      const all = subscribe(b);
      const seen: Record<string, BreakerTransition[]> = { break: [], halfOpen: [], reset: [] };
      const stops = [
        b.onBreak((t) => seen.break!.push(t)),
        b.onHalfOpen((t) => seen.halfOpen!.push(t)),
        b.onReset((t) => seen.reset!.push(t)),
      ];
      await fail(b, 1); // CLOSED > OPEN
      clock.advance(100);
      await b.execute(boom).catch(() => {}); // OPEN > HALF_OPEN > OPEN
      clock.advance(100);
      await b.execute(ok); // OPEN > HALF_OPEN > CLOSED
      await until(() => all.length === 5);
      await until(() => seen.reset!.length === 1);
      expect(edges(seen.break!)).toEqual(['1:CLOSED>OPEN', '3:HALF_OPEN>OPEN']);
      expect(edges(seen.halfOpen!)).toEqual(['2:OPEN>HALF_OPEN', '4:OPEN>HALF_OPEN']);
      expect(edges(seen.reset!)).toEqual(['5:HALF_OPEN>CLOSED']);
      for (const stop of stops) stop();
      await fail(b, 1);
      await until(() => all.length === 6);
      expect(seen.break).toHaveLength(2);
      expectCode(
        thrown(() => b.onBreak(1 as never)),
        ErrorCode.INVALID_ARG,
        /onBreak\(listener\): listener must be a function/,
      );
    });

    it('a subscriber gets only the transitions after it subscribed; another instance of the same breaker gets them too', async () => {
      const { b, clock } = breaker({ failureThreshold: 1 });
      await fail(b, 1);
      const other = CircuitBreaker.from(b.handle);
      const seen = subscribe(other);
      await elapse(5); // a window for an old transition to be wrongly delivered: a slow machine only lengthens it
      expect(seen).toEqual([]);
      clock.advance(100);
      expect(b.state).toBe('HALF_OPEN');
      await until(() => seen.length === 1);
      expect(edges(seen)).toEqual(['2:OPEN>HALF_OPEN']);
    });

    it('waitUntilAsync resolves when another caller moves the breaker, and when the clock passes the reset timeout', async () => {
      const { b, clock } = breaker({ failureThreshold: 1 });
      const open = b.waitUntilAsync('OPEN', { timeoutMs: 5000 });
      void nextTurn().then(() => b.execute(boom).catch(() => {})); // after the wait began
      await open;
      const halfOpen = b.waitUntilAsync('HALF_OPEN', { timeoutMs: 5000 });
      void nextTurn().then(() => clock.advance(100));
      await halfOpen;
      expect(b.state).toBe('HALF_OPEN');
      await b.waitUntilAsync('HALF_OPEN'); // already there
    });

    it('waitUntilAsync and waitUntil time out and abort with typed errors', async () => {
      const { b } = breaker();
      expectCode(await rejected(b.waitUntilAsync('OPEN', { timeoutMs: 10 })), ErrorCode.TIMEOUT, /OPEN/);
      const ac = new AbortController();
      const p = b.waitUntilAsync('OPEN', { signal: ac.signal });
      ac.abort(new Error('shutdown'));
      expectCode(await rejected(p), ErrorCode.ABORTED);
      expectCode(() => b.waitUntil('OPEN', 5), ErrorCode.TIMEOUT);
      b.waitUntil('CLOSED', 0);
    });
  });

  it('from(handle) shares the state; isFailure is given again to from', async () => {
    const { b } = breaker({ failureThreshold: 2 });
    const other = CircuitBreaker.from(structuredClone(b.handle), { isFailure: (e) => e !== 'ignored' });
    await other.execute(() => Promise.reject('ignored')).catch(() => {});
    expect(b.stats().successes).toBe(1);
    await fail(other, 2);
    expect(b.state).toBe('OPEN');
    expect(other.stats().failures).toBe(2);
  });

  it('lives in an arena; byteLength is what it takes', () => {
    const arena = new SharedArena({ byteLength: 64 * 1024 });
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 10, arena });
    expect(b.handle.buffer).toBe(arena.handle.buffer);
    expect(b.handle.byteLength).toBe(CircuitBreaker.byteLength({ failureThreshold: 1, resetTimeoutMs: 10 }));
    expect(
      CircuitBreaker.byteLength({ resetTimeoutMs: 10, failureRate: { threshold: 0.5, minimumCalls: 1, windowMs: 10, buckets: 60 } }),
    ).toBeGreaterThan(CircuitBreaker.byteLength({ failureThreshold: 1, resetTimeoutMs: 10 }));
    expect(CircuitBreaker.from(b.handle).executeSync(() => 'ran')).toBe('ran');
  });

  describe('misuse: a typed error, and the shared state stays as it was', () => {
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['failureThreshold 0', { failureThreshold: 0 }, /failureThreshold must be an integer in \[1, 1000000\], got 0/],
      ['a negative failureThreshold', { failureThreshold: -1 }, /got -1/],
      ['a NaN failureThreshold', { failureThreshold: NaN }, /got NaN/],
      ['a fractional failureThreshold', { failureThreshold: 1.5 }, /got 1.5/],
      ['no threshold at all', { failureThreshold: undefined }, /give failureThreshold, failureRate or both/],
      ['resetTimeoutMs 0', { resetTimeoutMs: 0 }, /resetTimeoutMs must be a finite number of milliseconds > 0 and <= 2147483647, got 0/],
      ['a negative resetTimeoutMs', { resetTimeoutMs: -5 }, /got -5/],
      ['a NaN resetTimeoutMs', { resetTimeoutMs: NaN }, /got NaN/],
      ['an infinite resetTimeoutMs', { resetTimeoutMs: Infinity }, /got Infinity/],
      ['halfOpenMaxCalls 0', { halfOpenMaxCalls: 0 }, /halfOpenMaxCalls must be an integer in \[1, 64\], got 0/],
      ['halfOpenMaxCalls 65', { halfOpenMaxCalls: 65 }, /got 65/],
      ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs must be a number of milliseconds > 0 and <= 2147483647 \(or Infinity\), got 0/],
      ['a NaN timeoutMs', { timeoutMs: NaN }, /got NaN/],
      ['a negative timeoutMs', { timeoutMs: -1 }, /got -1/],
      [
        'failureRate threshold 0',
        { failureRate: { threshold: 0, minimumCalls: 1, windowMs: 10 } },
        /failureRate.threshold must be a finite number > 0 and <= 1, got 0/,
      ],
      ['failureRate threshold 1.5', { failureRate: { threshold: 1.5, minimumCalls: 1, windowMs: 10 } }, /got 1.5/],
      ['a NaN failureRate threshold', { failureRate: { threshold: NaN, minimumCalls: 1, windowMs: 10 } }, /got NaN/],
      ['minimumCalls 0', { failureRate: { threshold: 0.5, minimumCalls: 0, windowMs: 10 } }, /minimumCalls/],
      ['windowMs 0', { failureRate: { threshold: 0.5, minimumCalls: 1, windowMs: 0 } }, /failureRate.windowMs/],
      ['a NaN windowMs', { failureRate: { threshold: 0.5, minimumCalls: 1, windowMs: NaN } }, /got NaN/],
      ['buckets 0', { failureRate: { threshold: 0.5, minimumCalls: 1, windowMs: 10, buckets: 0 } }, /buckets/],
      ['an isFailure that is not a function', { isFailure: 'yes' }, /isFailure must be a function, got "yes"/],
      ['a clock that cannot be shared', { clock: { now: () => 1 } }, /systemClock or a ManualClock/],
      ['a misspelled option', { timeout: 100 }, /new CircuitBreaker\(options\): unknown option "timeout"; did you mean "timeoutMs"\?/],
      [
        'a misspelled failureRate option',
        { failureRate: { treshold: 0.5, minimumCalls: 1, windowMs: 10 } },
        /failureRate: unknown option "treshold"; did you mean "threshold"\?/,
      ],
    ];
    it.each(bad)('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 10, ...o }), ErrorCode.INVALID_ARG, message);
    });

    it.each([
      ['execute(a non-function)', (b: CircuitBreaker) => rejected(b.execute(42 as never)), /execute\(fn\): fn must be a function, got 42/],
      ['executeSync(a non-function)', (b: CircuitBreaker) => thrown(() => b.executeSync(null as never)), /got null/],
      ['onStateChange(a non-function)', (b: CircuitBreaker) => thrown(() => b.onStateChange('x' as never)), /listener must be a function/],
      ['waitUntilAsync of an unknown state', (b: CircuitBreaker) => rejected(b.waitUntilAsync('BROKEN' as never)), /state must be one of/],
      ['waitUntilAsync with a NaN timeoutMs', (b: CircuitBreaker) => rejected(b.waitUntilAsync('OPEN', { timeoutMs: NaN })), /timeoutMs/],
      [
        'waitUntilAsync with a misspelled option',
        (b: CircuitBreaker) => rejected(b.waitUntilAsync('OPEN', { timout: 5 } as never)),
        /unknown option "timout"; did you mean "timeoutMs"\?/,
      ],
      ['waitUntil with a NaN timeout', (b: CircuitBreaker) => thrown(() => b.waitUntil('OPEN', NaN)), /timeoutMs/],
      [
        'from with an unknown option',
        (b: CircuitBreaker) => thrown(() => CircuitBreaker.from(b.handle, { isFailur: () => true } as never)),
        /unknown option "isFailur"; did you mean "isFailure"\?/,
      ],
      [
        'from with an isFailure that is not a function',
        (b: CircuitBreaker) => thrown(() => CircuitBreaker.from(b.handle, { isFailure: 1 as never })),
        /isFailure/,
      ],
    ])('%s', async (_n, op, message) => {
      const { b } = breaker();
      await fail(b, 2);
      expectCode(await op(b), ErrorCode.INVALID_ARG, message);
      expect(b.stats()).toMatchObject({ state: 'CLOSED', consecutiveFailures: 2, failures: 2, successes: 0 });
    });

    it.each(
      forgedHandles<CircuitBreakerHandle>('sabre.Mutex', [
        ['other options', (h) => ({ ...h, options: { ...h.options, failureThreshold: 2 } })],
        ['a missing option', (h) => ({ ...h, options: { ...h.options, timeoutMs: undefined } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
        ['an unknown option', (h) => ({ ...h, options: { ...h.options, isFailure: 'x' } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { b } = breaker();
      expectCode(
        thrown(() => CircuitBreaker.from(forge(b.handle) as CircuitBreakerHandle)),
        ErrorCode.HANDLE,
      );
    });
  });

  describe('deprecated names', () => {
    afterEach(() => {
      vi.restoreAllMocks();
      resetDeprecationsForTesting();
    });

    it.each<[string, (b: CircuitBreaker) => unknown, string]>([
      ['waitForState (now waitUntilAsync)', (b: CircuitBreaker) => b.waitForState('CLOSED'), 'SABRE_DEP_WAIT_FOR_STATE'],
      ['waitForStateSync (now waitUntil)', (b: CircuitBreaker) => b.waitForStateSync('CLOSED', 0), 'SABRE_DEP_WAIT_FOR_STATE'],
      [
        'the timeout option of waitUntilAsync (now timeoutMs)',
        (b: CircuitBreaker) => b.waitUntilAsync('CLOSED', { timeout: 5 }),
        'SABRE_DEP_TIMEOUT',
      ],
    ])('%s still works and warns once', async (_n, call, code) => {
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      const { b } = breaker();
      await call(b);
      await call(b);
      expect(warn.mock.calls.map((c) => (c[1] as { code: string }).code)).toEqual([code]);
    });

    it('the old wait times out as the new one does', async () => {
      vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      const { b } = breaker();
      expectCode(await rejected(b.waitForState('OPEN', { timeout: 5 })), ErrorCode.TIMEOUT, /OPEN/);
      expectCode(() => b.waitForStateSync('OPEN', 5), ErrorCode.TIMEOUT);
    });
  });
});
