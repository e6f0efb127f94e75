import { describe, expect, it } from 'vitest';
import { OnceRegistry, type OnceRegistryHandle } from '../../src/store/once-registry.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';

describe('OnceRegistry', () => {
  it('claim: once per key by default; release gives it back', () => {
    const likes = new OnceRegistry({ capacity: 8 });
    expect(likes.claim('like:p1:u1')).toMatchObject({ claimed: true, uses: 1, retryAfterMs: 0 });
    expect(likes.claim('like:p1:u1')).toMatchObject({ claimed: false, uses: 1, retryAfterMs: Infinity });
    expect(likes.claim('like:p1:u2').claimed).toBe(true);
    expect(likes.uses('like:p1:u1')).toBe(1);
    expect(likes.release('like:p1:u1')).toBe(true); // unlike
    expect(likes.release('like:p1:u1')).toBe(false);
    expect(likes.uses('like:p1:u1')).toBe(0);
    expect(likes.claim('like:p1:u1').claimed).toBe(true);
  });

  it('claim with maxUses: a coupon redeemed at most maxUses times', () => {
    const coupons = new OnceRegistry({ capacity: 8 });
    const results = Array.from({ length: 5 }, () => coupons.claim('SPRING10', { maxUses: 3 }));
    expect(results.map((r) => r.claimed)).toEqual([true, true, true, false, false]);
    expect(results.map((r) => r.uses)).toEqual([1, 2, 3, 3, 3]);
    coupons.release('SPRING10');
    expect(coupons.claim('SPRING10', { maxUses: 3 }).claimed).toBe(true);
  });

  it('claimWithin: once per window on the registry clock, with the wait until the next', () => {
    const clock = new ManualClock({ startMs: 0 });
    const rewards = new OnceRegistry({ capacity: 8, clock });
    const day = 24 * 3600_000;
    expect(rewards.claimWithin('daily:u1', day)).toEqual({ claimed: true, uses: 1, retryAfterMs: 0, at: 0 });
    clock.advance(day - 1000);
    expect(rewards.claimWithin('daily:u1', day)).toMatchObject({ claimed: false, retryAfterMs: 1000 });
    clock.advance(1000);
    expect(rewards.claimWithin('daily:u1', day)).toMatchObject({ claimed: true, uses: 2, at: day });
    const again = OnceRegistry.from(structuredClone(rewards.handle));
    expect(again.claimWithin('daily:u1', day).claimed).toBe(false); // the same registry and clock
  });

  it('a full registry refuses new keys and keeps the claims it has', () => {
    const r = new OnceRegistry({ capacity: 2 });
    r.claim('a');
    r.claim('b');
    expectCode(() => r.claim('c'), ErrorCode.CAPACITY);
    expect(r.claim('a').claimed).toBe(false);
    r.release('a'); // a key with no claims left takes no room
    expect(r.claim('c').claimed).toBe(true);
  });

  describe('misuse: a typed error, and no claim is taken or lost', () => {
    it.each([
      ['maxUses 0', (r: OnceRegistry) => r.claim('k', { maxUses: 0 }), /maxUses must be an integer >= 1, got 0/],
      ['a fractional maxUses', (r: OnceRegistry) => r.claim('k', { maxUses: 1.5 }), /maxUses/],
      ['windowMs 0', (r: OnceRegistry) => r.claimWithin('k', 0), /windowMs must be a finite number of milliseconds > 0, got 0/],
      ['a negative windowMs', (r: OnceRegistry) => r.claimWithin('k', -1), /got -1/],
      ['a NaN windowMs', (r: OnceRegistry) => r.claimWithin('k', NaN), /got NaN/],
      ['a key too long', (r: OnceRegistry) => r.claim('x'.repeat(9)), /key is too long: 9 bytes/],
      ['a key of another type', (r: OnceRegistry) => r.claim(1 as never), /string or a Uint8Array/],
      [
        'a misspelled claim option',
        (r: OnceRegistry) => r.claim('k', { maxUse: 3 } as never),
        /registry\.claim\(key, options\): unknown option "maxUse"; did you mean "maxUses"\?/,
      ],
      ['claim options that are not an object', (r: OnceRegistry) => r.claim('k', 3 as never), /options must be an object, got 3/],
    ])('%s', (_n, op, message) => {
      const r = new OnceRegistry({ capacity: 4, maxKeyBytes: 8 });
      r.claim('held');
      expectCode(() => op(r), ErrorCode.INVALID_ARG, message);
      expect(r.uses('k')).toBe(0);
      expect(r.uses('held')).toBe(1);
      expect(r.claim('k').claimed).toBe(true);
    });

    it.each([
      ['capacity 0', { capacity: 0 }, /capacity/],
      ['a clock that cannot be shared', { capacity: 1, clock: { now: () => 1 } }, /systemClock or a ManualClock/],
      [
        'a misspelled option',
        { capacity: 1, maxKeyByte: 8 },
        /new OnceRegistry\(options\): unknown option "maxKeyByte"; did you mean "maxKeyBytes"\?/,
      ],
      [
        'a per-claim option given to the constructor',
        { capacity: 1, maxUses: 3 },
        /unknown option "maxUses" \(the options are "capacity", "maxKeyBytes", "clock", "whenFull", "arena"\)/,
      ],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new OnceRegistry(o), ErrorCode.INVALID_ARG, message);
    });

    it("byteLength reads the constructor's options, as strictly", () => {
      const r = new OnceRegistry({ capacity: 4, maxKeyBytes: 8 });
      expect(OnceRegistry.byteLength({ capacity: 4, maxKeyBytes: 8 })).toBe(r.handle.byteLength);
      expectCode(
        () => OnceRegistry.byteLength({ capacity: 4, maxkeybytes: 8 } as never),
        ErrorCode.INVALID_ARG,
        /OnceRegistry\.byteLength\(options\): unknown option "maxkeybytes"; did you mean "maxKeyBytes"\?/,
      );
    });

    it.each(
      forgedHandles<OnceRegistryHandle>('sabre.Mutex', [
        ['other options', (h) => ({ ...h, options: { ...h.options, capacity: 3 } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const r = new OnceRegistry({ capacity: 4 });
      expectCode(
        thrown(() => OnceRegistry.from(forge(r.handle) as OnceRegistryHandle)),
        ErrorCode.HANDLE,
      );
    });
  });
});
