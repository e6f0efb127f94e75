import { afterAll, describe, expect, it } from 'vitest';
import { TokenBucket, MAX_REFILL_NS, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { Remote } from '../threads/remote.js';
import { deprecationsDuring } from '../helpers/deprecation.js';
import { START_WORDS } from '../../workers/start-line.js';

const bucketAt = (startMs: number, options: { burst?: number; refillPerSecond?: number; capacity?: number; maxKeyBytes?: number } = {}) => {
  const clock = new ManualClock({ startMs });
  return { clock, bucket: new TokenBucket({ burst: 5, refillPerSecond: 10, capacity: 8, ...options, clock }) };
};

describe('TokenBucket', () => {
  describe('GCRA arithmetic on a ManualClock', () => {
    it('a fresh key allows a burst of exactly `burst`, then one token per 1/rate', () => {
      const { clock, bucket } = bucketAt(0); // burst 5, 10/s: T = 100 ms
      expect(Array.from({ length: 6 }, () => bucket.tryAcquire('k'))).toEqual([true, true, true, true, true, false]);
      clock.advance(99.999);
      expect(bucket.tryAcquire('k')).toBe(false);
      clock.advance(0.001); // t = 100 ms: exactly one token
      expect(bucket.tryAcquire('k')).toBe(true);
      expect(bucket.tryAcquire('k')).toBe(false);
      clock.advance(250); // t = 350: two more (at 200 and 300), the third at 400
      expect([bucket.tryAcquire('k'), bucket.tryAcquire('k'), bucket.tryAcquire('k')]).toEqual([true, true, false]);
    });

    it('check says how many remain, when to retry and when the bucket is full again', () => {
      const { clock, bucket } = bucketAt(1000);
      expect(bucket.check('k')).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0, resetMs: 100, limit: 5, at: 1000 });
      expect(bucket.check('k', 3)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0, resetMs: 400, limit: 5, at: 1000 });
      expect(bucket.check('k', 2)).toEqual({ allowed: false, remaining: 1, retryAfterMs: 100, resetMs: 400, limit: 5, at: 1000 });
      expect(bucket.check('k')).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 500, limit: 5, at: 1000 });
      expect(bucket.check('k')).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 100, resetMs: 500 });
      clock.advance(30);
      expect(bucket.check('k')).toMatchObject({ allowed: false, retryAfterMs: 70, resetMs: 470, at: 1030 });
      clock.advance(470); // full again
      expect(bucket.peek('k', 5)).toMatchObject({ allowed: true, remaining: 0, resetMs: 500 });
      expect(bucket.check('k')).toMatchObject({ allowed: true, remaining: 4, resetMs: 100 });
    });

    it('a long idle key holds at most `burst` tokens', () => {
      const { clock, bucket } = bucketAt(0);
      bucket.tryAcquire('k');
      clock.advance(3_600_000);
      let allowed = 0;
      while (bucket.tryAcquire('k')) allowed++;
      expect(allowed).toBe(5);
    });

    it('the cost n takes n tokens; n = burst passes on a full bucket; a refusal waits for the deficit', () => {
      const { clock, bucket } = bucketAt(0);
      expect(bucket.tryAcquire('a', 5)).toBe(true);
      expect(bucket.tryAcquire('a')).toBe(false);
      expect(bucket.retryAfterMs('a', 3)).toBe(300);
      clock.advance(200);
      expect(bucket.tryAcquire('a', 3)).toBe(false); // refused: nothing taken
      expect(bucket.tryAcquire('a', 2)).toBe(true);
      expect(bucket.retryAfterMs('b', 5)).toBe(0);
    });

    it('peek decides as check would, takes nothing, and gives an unknown key no state', () => {
      const { bucket } = bucketAt(0);
      expect(bucket.peek('k', 2)).toEqual({ allowed: true, remaining: 3, retryAfterMs: 0, resetMs: 200, limit: 5, at: 0 });
      expect(bucket.size).toBe(0);
      bucket.check('k', 4);
      for (let i = 0; i < 3; i++) expect(bucket.peek('k', 2)).toMatchObject({ allowed: false, remaining: 1, retryAfterMs: 100 });
      expect(bucket.check('k')).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('a rate that does not divide a second is rounded to a slower whole-nanosecond interval, never a faster one', () => {
      const { clock, bucket } = bucketAt(0, { burst: 3, refillPerSecond: 3 }); // T = 333,333,334 ns
      expect([bucket.tryAcquire('k'), bucket.tryAcquire('k'), bucket.tryAcquire('k')]).toEqual([true, true, true]);
      clock.advance(1000); // three exact thirds of a second, but 2 ns short of three rounded intervals
      expect([bucket.tryAcquire('k'), bucket.tryAcquire('k'), bucket.tryAcquire('k')]).toEqual([true, true, false]);
      expect(bucket.retryAfterMs('k')).toBeCloseTo(0.000002, 12);
    });

    it('keys are separate; Uint8Array keys and string keys are different keys', () => {
      const { bucket } = bucketAt(0, { burst: 1 });
      expect(bucket.tryAcquire('user:1')).toBe(true);
      expect(bucket.tryAcquire('user:2')).toBe(true);
      expect(bucket.tryAcquire(new TextEncoder().encode('user:1'))).toBe(true);
      expect(bucket.tryAcquire(new TextEncoder().encode('user:1'))).toBe(false);
      expect(bucket.tryAcquire('user:1')).toBe(false);
    });

    it('from(handle) opens the same buckets on the same clock', () => {
      const { clock, bucket } = bucketAt(0, { burst: 2 });
      bucket.tryAcquire('k');
      const again = TokenBucket.from(structuredClone(bucket.handle));
      expect(again.check('k')).toMatchObject({ allowed: true, remaining: 0 });
      expect(bucket.tryAcquire('k')).toBe(false);
      clock.advance(100);
      expect(again.tryAcquire('k')).toBe(true);
      expect(TokenBucket.byteLength({ burst: 2, refillPerSecond: 10, capacity: 8 })).toBe(bucket.handle.byteLength);
    });

    it('lives in an arena', () => {
      const arena = new SharedArena({ byteLength: 2 * TokenBucket.byteLength({ burst: 1, refillPerSecond: 1, capacity: 16 }) });
      const bucket = new TokenBucket({ burst: 1, refillPerSecond: 1, capacity: 16, arena });
      expect(bucket.handle.buffer).toBe(arena.handle.buffer);
      expect([bucket.tryAcquire('k'), TokenBucket.from(bucket.handle).tryAcquire('k')]).toEqual([true, false]);
    });

    it('policy advertises burst per refill time', () => {
      expect(new TokenBucket({ burst: 100, refillPerSecond: 10, capacity: 1 }).policy).toEqual({
        name: 'default',
        quota: 100,
        windowMs: 10_000,
      });
    });
  });

  describe('keys and reclamation', () => {
    it('a stream of new keys, many more than the table holds, never fills it once older keys are idle', () => {
      const { clock, bucket } = bucketAt(0, { capacity: 64 });
      let largest = 0;
      for (let i = 0; i < 5000; i++) {
        clock.advance(10); // each key took 1 token (100 ms): idle 100 ms later
        expect(bucket.tryAcquire(`client:${i}`)).toBe(true);
        largest = Math.max(largest, bucket.size);
      }
      expect(largest).toBe(64);
      expect(bucket.size).toBeLessThanOrEqual(64);
    });

    it('an unknown key finding every key busy is CapacityError; the busy keys keep their state; room comes back as they idle', () => {
      const { clock, bucket } = bucketAt(0, { capacity: 4 });
      for (let i = 0; i < 4; i++) bucket.check(`busy:${i}`, 5);
      expectCode(() => bucket.tryAcquire('new'), ErrorCode.CAPACITY, /4 keys all hold state that is not idle/);
      expectCode(() => bucket.check('new'), ErrorCode.CAPACITY); // refused at once (the gate), and again
      expect(bucket.peek('new')).toMatchObject({ allowed: true, remaining: 4 }); // peek needs no room
      for (let i = 0; i < 4; i++) expect(bucket.peek(`busy:${i}`)).toMatchObject({ allowed: false, remaining: 0, resetMs: 500 });
      clock.advance(499.999);
      expectCode(() => bucket.tryAcquire('new'), ErrorCode.CAPACITY);
      clock.advance(0.002); // every busy bucket is full again
      expect(bucket.tryAcquire('new')).toBe(true);
      expect(bucket.size).toBe(1);
    });

    it('reclaimIdle retires every idle key at once; a retired key starts again full', () => {
      const { clock, bucket } = bucketAt(0);
      bucket.check('a', 5);
      bucket.check('b', 1);
      clock.advance(100.5);
      expect(bucket.reclaimIdle()).toBe(1); // b is full again; a is not
      expect(bucket.size).toBe(1);
      expect(bucket.check('b')).toMatchObject({ allowed: true, remaining: 4 });
      expect(bucket.check('a')).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('a reference from before a reclaim never acts on the key that reuses its slot', () => {
      const clock = new ManualClock({ startMs: 0 });
      const mine = new TokenBucket({ burst: 3, refillPerSecond: 10, capacity: 1, clock });
      const theirs = TokenBucket.from(mine.handle); // another instance: its own remembered references
      expect(mine.tryAcquire('a')).toBe(true); // 'a' holds the only slot; `mine` remembers where
      clock.advance(200); // 'a' is idle
      expect(theirs.check('b', 3)).toMatchObject({ allowed: true, remaining: 0 }); // retires 'a', reuses its slot
      const before = theirs.peek('b');
      expectCode(() => mine.tryAcquire('a'), ErrorCode.CAPACITY); // 'a' is new again, and 'b' is busy
      expect(mine.check('b')).toMatchObject({ allowed: false }); // 'b' itself, through the table
      expect(theirs.peek('b')).toEqual(before); // nothing taken from 'b' by the stale reference
      clock.advance(300.001); // 'b' is full again (at 500 ms), and idle just after
      expect(mine.check('a')).toMatchObject({ allowed: true, remaining: 2 });
    });
  });

  describe('misuse: a typed error, and nothing is taken or lost', () => {
    it.each([
      ['n 0', (b: TokenBucket) => b.tryAcquire('k', 0), /n \(the request's cost\) must be an integer >= 1, got 0/],
      ['a negative n', (b: TokenBucket) => b.check('k', -1), /got -1/],
      ['a fractional n', (b: TokenBucket) => b.peek('k', 1.5), /got 1.5/],
      ['a NaN n', (b: TokenBucket) => b.tryAcquire('k', NaN), /got NaN/],
      ['n as a string', (b: TokenBucket) => b.tryAcquire('k', '2' as never), /got "2"/],
      [
        'n above the burst',
        (b: TokenBucket) => b.check('k', 6),
        /at most the bucket's burst 5, got 6: such a request could never be allowed/,
      ],
      ['n above the burst (retryAfterMs)', (b: TokenBucket) => b.retryAfterMs('k', 6), /could never be allowed/],
      ['a key too long', (b: TokenBucket) => b.tryAcquire('x'.repeat(9)), /key is too long: 9 bytes/],
      ['a key of another type', (b: TokenBucket) => b.tryAcquire(7 as never), /string or a Uint8Array/],
    ])('%s', (_n, op, message) => {
      const { bucket } = bucketAt(0, { maxKeyBytes: 8 });
      bucket.check('held', 2);
      expectCode(() => op(bucket), ErrorCode.INVALID_ARG, message);
      expect(bucket.peek('held')).toMatchObject({ remaining: 2 });
      expect(bucket.check('k', 5).allowed).toBe(true);
    });

    it.each([
      ['burst 0', { burst: 0, refillPerSecond: 1 }, /burst must be an integer in \[1, \d+\], got 0/],
      ['a negative burst', { burst: -3, refillPerSecond: 1 }, /burst.*got -3/],
      ['a NaN burst', { burst: NaN, refillPerSecond: 1 }, /burst.*got NaN/],
      ['a fractional burst', { burst: 2.5, refillPerSecond: 1 }, /burst.*got 2.5/],
      [
        'refillPerSecond 0',
        { burst: 1, refillPerSecond: 0 },
        /refillPerSecond must be a finite number of tokens per second > 0 and <= 1000000000, got 0/,
      ],
      ['a negative refillPerSecond', { burst: 1, refillPerSecond: -1 }, /refillPerSecond.*got -1/],
      ['a NaN refillPerSecond', { burst: 1, refillPerSecond: NaN }, /refillPerSecond.*got NaN/],
      ['an infinite refillPerSecond', { burst: 1, refillPerSecond: Infinity }, /refillPerSecond.*got Infinity/],
      ['a refillPerSecond above 1e9', { burst: 1, refillPerSecond: 2e9 }, /refillPerSecond.*<= 1000000000, got 2000000000/],
      [
        'a refill time beyond the word',
        { burst: 1000, refillPerSecond: 1e-6 },
        /must be at most 2\^56 ns \(about 834 days\), got 11574\.1 days/,
      ],
      ['capacity 0', { burst: 1, refillPerSecond: 1, capacity: 0 }, /capacity must be an integer/],
      ['maxKeyBytes 0', { burst: 1, refillPerSecond: 1, maxKeyBytes: 0 }, /maxKeyBytes/],
      ['a clock that cannot be shared', { burst: 1, refillPerSecond: 1, clock: { now: () => 1 } }, /systemClock or a ManualClock/],
      ['options that are not an object', 5, /options must be an object/],
      [
        'a misspelled option',
        { burst: 1, refillPerSecond: 1, refilPerSecond: 2 },
        /unknown option "refilPerSecond"; did you mean "refillPerSecond"\?/,
      ],
      ['no burst', { refillPerSecond: 1 }, /burst is required/],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new TokenBucket(o as never), ErrorCode.INVALID_ARG, message);
    });

    it('the largest refill time is accepted', () => {
      expect(() => new TokenBucket({ burst: 1, refillPerSecond: 1e9 / Number(MAX_REFILL_NS), capacity: 1 })).not.toThrow();
    });

    it.each(
      forgedHandles<TokenBucketHandle>('sabre.OnceRegistry', [
        ['other options', (h) => ({ ...h, options: { ...h.options, capacity: 6 } })],
        ['an old option name', (h) => ({ ...h, options: { ...h.options, keys: 1 } })],
        ['a forged rate', (h) => ({ ...h, options: { ...h.options, refillPerSecond: -1 } })],
        ['an extra option', (h) => ({ ...h, options: { ...h.options, extra: 1 } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { bucket } = bucketAt(0);
      expectCode(
        thrown(() => TokenBucket.from(forge(bucket.handle) as TokenBucketHandle)),
        ErrorCode.HANDLE,
      );
    });
  });

  describe('on real threads', () => {
    const remotes: Remote[] = [];
    const workers = (n: number) =>
      Promise.all(
        Array.from({ length: n }, async () => {
          const r = await Remote.start('limits');
          remotes.push(r);
          return r;
        }),
      );
    afterAll(() => Promise.all(remotes.map((r) => r.stop())));

    it('one budget for every thread: two workers rushing one key, then the main thread, get exactly its capacity in all', async () => {
      const clock = new ManualClock({ startMs: 0 }); // time stands still: no refill
      const bucket = new TokenBucket({ burst: 1000, refillPerSecond: 1, capacity: 4, clock });
      const [a, b] = await workers(2);
      const line = new Int32Array(new SharedArrayBuffer(4 * START_WORDS));
      const arg = { bucket: bucket.handle, key: 'api-key:7', attempts: 700, n: 1, line, parties: 2 };
      const got = await Promise.all([a!.call<number>('rush', arg), b!.call<number>('rush', arg)]);
      let mine = 0;
      for (let i = 0; i < 700; i++) if (bucket.tryAcquire('api-key:7')) mine++;
      expect(got[0] + got[1] + mine).toBe(1000);
      expect(got[0] + got[1]).toBeGreaterThan(0);
      expect(bucket.peek('api-key:7')).toMatchObject({ allowed: false, remaining: 0 });
    });

    it('threads streaming new keys reclaim idle ones together and never fill the table, nor starve one another', async () => {
      const clock = new ManualClock({ startMs: 0 });
      // A key is idle 10 ms after its request; the three threads move the clock 1 ms per request.
      // Busy at clock T: keys stamped in [T-10, T] (11 readings, one advance each), plus one per
      // thread whose advance came earlier than its stamp (3), plus slots claimed but not yet
      // published by the two other threads (2): at most 16. Room for all in 20, with sweeps all the time.
      const bucket = new TokenBucket({ burst: 1, refillPerSecond: 100, capacity: 20, clock });
      const threads = await workers(3);
      const line = new Int32Array(new SharedArrayBuffer(4 * START_WORDS));
      const arg = (prefix: string) => ({ bucket: bucket.handle, clock: clock.handle, prefix, keys: 2000, stepMs: 1, line, parties: 3 });
      const results = await Promise.all(threads.map((t, i) => t.call<[number, number]>('stream', arg(`t${i}:`))));
      expect(results.map((r) => r[0])).toEqual([2000, 2000, 2000]); // every new key got its token
      expect(Math.max(...results.map((r) => r[1]))).toBeLessThanOrEqual(20);
    });
  });
});

describe('TokenBucket: deprecated names', () => {
  it('the options of before burst ({ capacity: tokens, keys }) still build the same bucket, and warn once each', async () => {
    const codes = await deprecationsDuring(() => {
      const old = new TokenBucket({ capacity: 3, refillPerSecond: 10, keys: 4 } as never);
      const now = new TokenBucket({ burst: 3, refillPerSecond: 10, capacity: 4 });
      expect([old.burst, old.capacity, old.handle.byteLength]).toEqual([now.burst, now.capacity, now.handle.byteLength]);
      expect(TokenBucket.byteLength({ capacity: 3, refillPerSecond: 10, keys: 4 } as never)).toBe(now.handle.byteLength);
      expect([old.tryAcquire('k', 3), old.tryAcquire('k')]).toEqual([true, false]);
    });
    expect(codes).toEqual(['SABRE_DEP_BUCKET_CAPACITY', 'SABRE_DEP_LIMIT_KEYS']);
  });

  it('the keys property is capacity', async () => {
    const b = new TokenBucket({ burst: 1, refillPerSecond: 1, capacity: 7 });
    expect(await deprecationsDuring(() => expect([b.keys, b.keys]).toEqual([7, 7]))).toEqual(['SABRE_DEP_LIMIT_KEYS']);
  });

  it('keys beside capacity is refused: the new shape names keys capacity', () => {
    expectCode(
      () => new TokenBucket({ burst: 1, refillPerSecond: 1, capacity: 4, keys: 4 }),
      ErrorCode.INVALID_ARG,
      /"keys" is the old name of "capacity"; give only "capacity"/,
    );
  });
});
