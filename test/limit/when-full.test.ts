/**
 * A keyed limiter whose key table is full of live keys (a flood of new
 * client ids) answers a new key as `whenFull` says: a CapacityError (the
 * default), allowed untracked ('fail-open') or refused ('fail-closed'), and
 * counts every such decision in `stats().refusedWhenFull`, in shared memory.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { ManualClock } from '../../src/clock.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import type { LimiterStats, RateLimitDecision, WhenFull } from '../../src/limit/decision.js';
import { expectCode } from '../helpers/errors.js';

interface Limiter {
  tryAcquire(key: string): boolean;
  check(key: string): RateLimitDecision;
  peek(key: string): RateLimitDecision;
  stats(): LimiterStats;
  readonly whenFull: WhenFull;
}

/** Each limiter with 2 key slots, both taken by busy keys; `idleMs` is when a key goes idle. */
const limiters: { name: string; idleMs: number; make: (whenFull?: WhenFull) => { limiter: Limiter; reopen: () => Limiter } }[] = [
  {
    name: 'TokenBucket',
    idleMs: 2000,
    make: (whenFull) => {
      const clock = new ManualClock({ startMs: 1000 });
      const b = new TokenBucket({ burst: 2, refillPerSecond: 1, capacity: 2, clock, ...(whenFull ? { whenFull } : {}) });
      return { limiter: b, reopen: () => TokenBucket.from(b.handle) };
    },
  },
  {
    name: 'SlidingWindow',
    idleMs: 1000,
    make: (whenFull) => {
      const clock = new ManualClock({ startMs: 1000 });
      const w = new SlidingWindow({ limit: 2, windowMs: 1000, capacity: 2, clock, ...(whenFull ? { whenFull } : {}) });
      return { limiter: w, reopen: () => SlidingWindow.from(w.handle) };
    },
  },
];

describe.each(limiters)('$name', ({ make, idleMs }) => {
  function full(whenFull?: WhenFull): { limiter: Limiter; reopen: () => Limiter } {
    const made = make(whenFull);
    expect(made.limiter.tryAcquire('a')).toBe(true);
    expect(made.limiter.tryAcquire('b')).toBe(true);
    return made;
  }

  it("'throw' (the default): a CapacityError, counted; the busy keys keep their state", () => {
    const { limiter, reopen } = full();
    expect(limiter.whenFull).toBe('throw');
    expectCode(() => limiter.tryAcquire('c'), ErrorCode.CAPACITY, /not idle/);
    expectCode(() => limiter.check('c'), ErrorCode.CAPACITY);
    expect(limiter.stats()).toMatchObject({ keys: 2, capacity: 2, refusedWhenFull: 2 });
    expect(reopen().stats().refusedWhenFull).toBe(2); // the count is in shared memory
    expect(limiter.check('a').remaining).toBe(0); // 'a' still has its state
  });

  it("'fail-open': the new key is allowed, untracked, and counted", () => {
    const { limiter, reopen } = full('fail-open');
    expect(limiter.tryAcquire('c')).toBe(true);
    const d = limiter.check('c');
    expect(d).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0, limit: 2 });
    expect(limiter.peek('c').allowed).toBe(true); // a peek takes nothing and needs no room
    expect(limiter.stats()).toMatchObject({ keys: 2, capacity: 2, refusedWhenFull: 2 });
    expect(reopen().whenFull).toBe('fail-open'); // the policy travels in the handle
  });

  it("'fail-closed': the new key is refused until a key can go idle, and counted", () => {
    const { limiter } = full('fail-closed');
    expect(limiter.tryAcquire('c')).toBe(false);
    expect(limiter.check('c')).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: idleMs, limit: 2 });
    expect(limiter.stats().refusedWhenFull).toBe(2);
  });

  it('a bad whenFull is an InvalidArgumentError naming the choices', () => {
    expectCode(() => make('open' as WhenFull), ErrorCode.INVALID_ARG, /whenFull must be one of "throw", "fail-open", "fail-closed"/);
  });
});
