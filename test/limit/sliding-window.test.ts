import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SlidingWindow, MAX_APPROXIMATE_LIMIT, type SlidingWindowHandle, type SlidingWindowMode } from '../../src/limit/sliding-window.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { deprecationsDuring } from '../helpers/deprecation.js';
import { Remote } from '../threads/remote.js';
import { START_WORDS } from '../../workers/start-line.js';

const windowAt = (
  startMs: number,
  mode: SlidingWindowMode,
  options: { limit?: number; windowMs?: number; capacity?: number; maxKeyBytes?: number } = {},
) => {
  const clock = new ManualClock({ startMs });
  return { clock, window: new SlidingWindow({ limit: 3, windowMs: 1000, mode, capacity: 8, ...options, clock }) };
};
const takeAll = (w: SlidingWindow, key: string, max = 100): number => {
  let n = 0;
  while (n < max && w.tryAcquire(key)) n++;
  return n;
};

describe('SlidingWindow', () => {
  describe("mode 'exact'", () => {
    it('allows `limit` per window, and the next one when the oldest leaves the window', () => {
      const { clock, window } = windowAt(0, 'exact');
      expect(window.check('k')).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0, resetMs: 1000, limit: 3, at: 0 });
      clock.advance(100);
      expect(window.check('k', 2)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 1000, limit: 3, at: 100 });
      expect(window.check('k')).toEqual({ allowed: false, remaining: 0, retryAfterMs: 900, resetMs: 1000, limit: 3, at: 100 }); // until the one at 0 leaves
      clock.advance(899.5);
      expect(window.check('k')).toMatchObject({ allowed: false, retryAfterMs: 0.5 });
      clock.advance(0.5); // t = 1000: the request at 0 has left (now - windowMs)
      expect(window.check('k')).toMatchObject({ allowed: true, remaining: 0, resetMs: 1000 });
      expect(window.check('k')).toMatchObject({ allowed: false, retryAfterMs: 100 });
    });

    it('no burst at the edges: a full window just before a boundary leaves no room just after it', () => {
      const { clock, window } = windowAt(0, 'exact', { limit: 5 });
      clock.advance(999); // the end of a fixed window [0, 1000)
      expect(takeAll(window, 'k')).toBe(5);
      clock.advance(1); // a fixed-window limiter would allow 5 more here
      expect(takeAll(window, 'k')).toBe(0);
      clock.advance(998);
      expect(takeAll(window, 'k')).toBe(0);
      clock.advance(1); // t = 1999
      expect(takeAll(window, 'k')).toBe(5);
    });

    it('peek answers as check would and counts nothing; remaining counts what is in the window', () => {
      const { clock, window } = windowAt(0, 'exact', { limit: 4 });
      window.check('k', 2);
      clock.advance(600);
      window.check('k');
      expect(window.peek('k')).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 1000, limit: 4, at: 600 });
      expect(window.peek('k', 2)).toMatchObject({ allowed: false, remaining: 1, retryAfterMs: 400 });
      clock.advance(400); // the two at 0 have left
      expect(window.peek('k', 3)).toMatchObject({ allowed: true, remaining: 0, resetMs: 1000 });
      expect(window.check('k', 3)).toMatchObject({ allowed: true, remaining: 0 });
      expect(window.retryAfterMs('k')).toBe(600);
      expect(window.peek('unknown')).toMatchObject({ allowed: true, remaining: 3, resetMs: 1000 });
      expect(window.size).toBe(1);
    });

    it('from(handle) opens the same windows', () => {
      const { window } = windowAt(0, 'exact');
      window.check('k', 2);
      const again = SlidingWindow.from(structuredClone(window.handle));
      expect([again.tryAcquire('k'), window.tryAcquire('k')]).toEqual([true, false]);
      expect(SlidingWindow.byteLength({ limit: 3, windowMs: 1000, mode: 'exact', capacity: 8 })).toBe(window.handle.byteLength);
      expect(again.policy).toEqual({ name: 'default', quota: 3, windowMs: 1000 });
    });
  });

  describe("mode 'approximate'", () => {
    it("weights the previous fixed window by the share of it still inside the sliding window (Cloudflare's estimate)", () => {
      const { clock, window } = windowAt(0, 'approximate', { limit: 10 });
      expect(takeAll(window, 'k')).toBe(10);
      expect(window.check('k')).toMatchObject({ allowed: false, retryAfterMs: 1100 }); // this window alone is full: into the next, until 10 * 0.9 + 1 <= 10
      clock.advance(1250); // a quarter into the next window: 10 * 0.75 = 7.5 still count
      expect(window.check('k')).toMatchObject({ allowed: true, remaining: 1 }); // 8.5
      expect(window.check('k')).toMatchObject({ allowed: true, remaining: 0 }); // 9.5
      expect(window.check('k')).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 50 }); // 10.5 until 10 * 0.7 + 2 + 1 <= 10
      clock.advance(50);
      expect(window.tryAcquire('k')).toBe(true);
      clock.advance(2000); // both windows over: a fresh count
      expect(takeAll(window, 'k')).toBe(10);
    });

    it('a decision within the first window counts like a fixed window; resetMs covers the two windows a count weighs on', () => {
      const { clock, window } = windowAt(500, 'approximate', { limit: 4 });
      expect(window.check('k', 3)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0, resetMs: 1500, limit: 4, at: 500 });
      expect(window.check('k', 2)).toMatchObject({ allowed: false, remaining: 1 });
      clock.advance(500); // t = 1000: the 3 now weigh fully as the previous window
      expect(window.peek('k', 2)).toMatchObject({ allowed: false, remaining: 1, resetMs: 1000 });
      expect(window.retryAfterMs('k', 2)).toBeCloseTo(1000 / 3, 9); // until 3 * (1 - e / 1000) + 2 <= 4
      expect(window.peek('unknown', 4)).toMatchObject({ allowed: true, remaining: 0 });
    });
  });

  describe.each(['exact', 'approximate'] as const)("keys and reclamation ('%s')", (mode) => {
    it('a stream of new keys, many more than the table holds, never fills it once older keys are idle', () => {
      const { clock, window } = windowAt(0, mode, { capacity: 32 });
      for (let i = 0; i < 3000; i++) {
        clock.advance(100); // a key's one request leaves its window(s) within 2 s
        expect(window.tryAcquire(`client:${i}`)).toBe(true);
        expect(window.size).toBeLessThanOrEqual(32);
      }
    });

    it('an unknown key finding every key busy is CapacityError; room comes back as they idle', () => {
      const { clock, window } = windowAt(0, mode, { capacity: 2 });
      window.check('a');
      window.check('b', 3);
      expectCode(
        () => window.check('c'),
        ErrorCode.CAPACITY,
        /2 keys all hold state that is not idle yet; create it with a larger capacity/,
      );
      expect(window.peek('b')).toMatchObject({ allowed: false });
      clock.advance(2000);
      expect(window.check('c')).toMatchObject({ allowed: true, remaining: 2 });
      expect(window.size).toBe(1); // a and b were both idle, and both retired
      expect(window.check('a')).toMatchObject({ allowed: true, remaining: 2 });
      clock.advance(2000);
      expect(window.reclaimIdle()).toBe(2);
      expect(window.size).toBe(0);
    });
  });

  describe('misuse: a typed error, and nothing is counted or lost', () => {
    it.each([
      ['n 0', (w: SlidingWindow) => w.tryAcquire('k', 0), /must be an integer >= 1, got 0/],
      ['a NaN n', (w: SlidingWindow) => w.check('k', NaN), /got NaN/],
      [
        'n above the limit',
        (w: SlidingWindow) => w.check('k', 4),
        /at most the window's limit 3, got 4: such a request could never be allowed/,
      ],
      ['n above the limit (peek)', (w: SlidingWindow) => w.peek('k', 4), /could never be allowed/],
      ['a key too long', (w: SlidingWindow) => w.tryAcquire('x'.repeat(9)), /key is too long: 9 bytes/],
    ])('%s', (_n, op, message) => {
      for (const mode of ['exact', 'approximate'] as const) {
        const { window } = windowAt(0, mode, { maxKeyBytes: 8 });
        window.check('held', 2);
        expectCode(() => op(window), ErrorCode.INVALID_ARG, message);
        expect(window.peek('held')).toMatchObject({ allowed: true, remaining: 0 });
        expect(window.check('k', 3).allowed).toBe(true);
      }
    });

    it.each([
      ['limit 0', { limit: 0, windowMs: 1 }, /limit must be an integer in \[1, 65536\], got 0/],
      ['a negative limit', { limit: -2, windowMs: 1 }, /limit.*got -2/],
      ['a NaN limit', { limit: NaN, windowMs: 1 }, /limit.*got NaN/],
      ['windowMs 0', { limit: 1, windowMs: 0 }, /windowMs must be a finite number of milliseconds > 0, got 0/],
      ['a negative windowMs', { limit: 1, windowMs: -5 }, /windowMs.*got -5/],
      ['a NaN windowMs', { limit: 1, windowMs: NaN }, /windowMs.*got NaN/],
      ['an infinite windowMs', { limit: 1, windowMs: Infinity }, /windowMs.*got Infinity/],
      ['an unknown mode', { limit: 1, windowMs: 1, mode: 'fixed' }, /mode must be one of "exact", "approximate", got "fixed"/],
      [
        'an approximate limit beyond its counters',
        { limit: MAX_APPROXIMATE_LIMIT + 1, windowMs: 1, mode: 'approximate' },
        /limit must be an integer in \[1, 1048575\]/,
      ],
      ['an exact limit beyond its ring', { limit: 65_537, windowMs: 1 }, /limit must be an integer in \[1, 65536\], got 65537/],
      [
        'an exact window too large for memory',
        { limit: 65_536, windowMs: 1, capacity: 10_000 },
        /for a capacity of 10000 keys needs \d+ bytes; the limit is 2147483647 \(a smaller capacity, or mode 'approximate'\)/,
      ],
      [
        'a misspelled option',
        { limit: 1, windowMs: 1, windowMS: 5 },
        /new SlidingWindow\(options\): unknown option "windowMS"; did you mean "windowMs"\?/,
      ],
      [
        'an option of the token bucket',
        { limit: 1, windowMs: 1, burst: 5 },
        /unknown option "burst" \(the options are "limit", "windowMs", "mode", "capacity"/,
      ],
      [
        'an old name and its new one together',
        { limit: 1, windowMs: 1, keys: 4, capacity: 4 },
        /"keys" is the old name of "capacity"; give only "capacity"/,
      ],
      ['a clock that cannot be shared', { limit: 1, windowMs: 1, clock: { now: () => 1 } }, /systemClock or a ManualClock/],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new SlidingWindow(o as never), ErrorCode.INVALID_ARG, message);
    });

    it("byteLength reads the constructor's options, as strictly", () => {
      expectCode(
        () => SlidingWindow.byteLength({ limit: 3, windowMs: 1000, mod: 'exact' } as never),
        ErrorCode.INVALID_ARG,
        /SlidingWindow\.byteLength\(options\): unknown option "mod"; did you mean "mode"\?/,
      );
    });

    it.each(
      forgedHandles<SlidingWindowHandle>('sabre.TokenBucket', [
        ['another mode', (h) => ({ ...h, options: { ...h.options, mode: 'approximate' } })],
        ['another limit', (h) => ({ ...h, options: { ...h.options, limit: 4 } })],
        ['a forged window', (h) => ({ ...h, options: { ...h.options, windowMs: NaN } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { window } = windowAt(0, 'exact');
      expectCode(
        thrown(() => SlidingWindow.from(forge(window.handle) as SlidingWindowHandle)),
        ErrorCode.HANDLE,
      );
    });
  });

  describe('on real threads', () => {
    const remotes: Remote[] = [];
    afterAll(() => Promise.all(remotes.map((r) => r.stop())));

    it.each(['exact', 'approximate'] as const)(
      "one budget for every thread ('%s'): two workers rushing one key, then the main thread, get exactly the limit",
      async (mode) => {
        const clock = new ManualClock({ startMs: 0 }); // time stands still: one window
        const window = new SlidingWindow({ limit: 500, windowMs: 60_000, mode, capacity: 4, clock });
        const workers = await Promise.all([Remote.start('limits'), Remote.start('limits')]);
        remotes.push(...workers);
        const line = new Int32Array(new SharedArrayBuffer(4 * START_WORDS));
        const arg = { window: window.handle, key: 'login:ada', attempts: 400, n: 1, line, parties: 2 };
        const got = await Promise.all(workers.map((w) => w.call<number>('rush', arg)));
        expect(got[0]! + got[1]! + takeAll(window, 'login:ada', 1000)).toBe(500);
        expect(await workers[0].call('check', { window: window.handle, key: 'login:ada', n: 1 })).toMatchObject({
          allowed: false,
          remaining: 0,
        });
      },
    );
  });
});

describe('SlidingWindow: deprecated names', () => {
  afterEach(() => resetDeprecationsForTesting());

  it('`keys` is `capacity`, option and property: the same window, and one SABRE_DEP_LIMIT_KEYS warning', async () => {
    let old!: SlidingWindow;
    let keys = 0;
    const codes = await deprecationsDuring(() => {
      old = new SlidingWindow({ limit: 1, windowMs: 1000, keys: 2 });
      SlidingWindow.byteLength({ limit: 1, windowMs: 1000, keys: 2 });
      keys = old.keys;
    });
    expect(codes).toEqual(['SABRE_DEP_LIMIT_KEYS']);
    const current = new SlidingWindow({ limit: 1, windowMs: 1000, capacity: 2 });
    expect(old.handle.options).toEqual(current.handle.options);
    expect(old.handle.byteLength).toBe(current.handle.byteLength);
    expect([keys, old.capacity]).toEqual([2, 2]);
    expect([old.tryAcquire('a'), old.tryAcquire('b')]).toEqual([true, true]);
    expectCode(() => old.check('c'), ErrorCode.CAPACITY); // two keys, both busy
  });

  it('the old property warns once by itself', async () => {
    const { window } = windowAt(0, 'approximate');
    expect(await deprecationsDuring(() => [window.keys, window.keys])).toEqual(['SABRE_DEP_LIMIT_KEYS']);
    expect(window.keys).toBe(window.capacity);
  });
});

describe('a new key while another thread is starting one', () => {
  it("waits for that thread's claim of the last slot to end instead of refusing (capacity 2, two keys)", async () => {
    const w = new SlidingWindow({ limit: 5, windowMs: 60_000, capacity: 2, clock: new ManualClock() });
    expect(w.check('a').allowed).toBe(true);
    // keyed-slots.ts: STATE holds a claimer's threadId + 1 while it starts a key; it gives the slot back
    // (FREE, 0) when it finds its key already there. A live worker's claim of the other slot, in flight:
    const state = (w as unknown as { slots: { state: Int32Array } }).slots.state;
    const free = state.indexOf(0);
    const other = await Remote.start();
    try {
      Atomics.store(state, free, other.threadId + 1);
      const go = new Int32Array(new SharedArrayBuffer(4));
      const givenBack = other.call('storeWhen', { cell: go, words: state, index: free, value: 0, ms: 5 });
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      expect(w.check('b').allowed, 'refused while a claim was only in flight').toBe(true); // blocks until the claim ends
      await givenBack;
      expect(w.stats().keys).toBe(2);
      expect(w.stats().refusedWhenFull).toBe(0);
    } finally {
      await other.stop();
    }
  });

  it('a claim that ends while the new key sweeps (before it would wait) is a reason to look again, not to refuse', () => {
    // Four threads starting two keys in a table of four: every slot claimed for a moment, then two given back.
    const w = new SlidingWindow({ limit: 5, windowMs: 60_000, capacity: 2, clock: new ManualClock() });
    expect(w.check('a').allowed).toBe(true);
    const slots = (w as unknown as { slots: { state: Int32Array; claimerDied: (id: number) => boolean } }).slots;
    const free = slots.state.indexOf(0);
    Atomics.store(slots.state, free, 999 + 1); // another thread's claim, in flight
    // The sweep asks whether each claimer died: the claim ends at that moment (given back) and its thread lives.
    slots.claimerDied = () => {
      Atomics.compareExchange(slots.state, free, 999 + 1, 0);
      return false;
    };
    expect(w.check('b').allowed, 'refused after the claim in its way had ended').toBe(true);
    expect(w.stats()).toMatchObject({ keys: 2, refusedWhenFull: 0 });
  });

  it('a claim that never ends (a claimer not yet proved dead) holds the refusal back only briefly: the new key is refused, not stuck', async () => {
    const w = new SlidingWindow({ limit: 5, windowMs: 60_000, capacity: 2 });
    expect(w.check('a').allowed).toBe(true);
    const state = (w as unknown as { slots: { state: Int32Array } }).slots.state;
    const free = state.indexOf(0);
    const [other, checker] = await Promise.all([Remote.start(), Remote.start('limits')]);
    try {
      Atomics.store(state, free, other.threadId + 1); // a live thread's claim, which never ends
      const refused = checker.call('check', { window: w.handle, key: 'b' }).then(
        () => 'allowed',
        (e: unknown) => (e as { code?: string }).code,
      );
      const stuck = new Promise<string>((resolve) => setTimeout(() => resolve('stuck'), 10_000));
      expect(await Promise.race([refused, stuck])).toBe(ErrorCode.CAPACITY);
    } finally {
      Atomics.store(state, free, 0);
      await Promise.all([other.stop(), checker.stop()]);
    }
  });
});
