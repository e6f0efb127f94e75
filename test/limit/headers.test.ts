import { describe, expect, it } from 'vitest';
import { rateLimitHeaders } from '../../src/limit/headers.js';
import type { RateLimitDecision } from '../../src/limit/decision.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode } from '../helpers/errors.js';

const decision = (d: Partial<RateLimitDecision> = {}): RateLimitDecision => ({
  allowed: true,
  remaining: 50,
  retryAfterMs: 0,
  resetMs: 30_000,
  limit: 100,
  at: 0,
  ...d,
});

describe('rateLimitHeaders (IETF RateLimit fields, draft-10)', () => {
  it("writes the draft's own examples", () => {
    expect(rateLimitHeaders(decision(), { windowMs: 60_000 })).toEqual({
      'RateLimit-Policy': '"default";q=100;w=60',
      RateLimit: '"default";r=50;t=30',
    });
    expect(rateLimitHeaders(decision({ limit: 100, remaining: 99, resetMs: 50_000 }), { name: 'fixedwindow', windowMs: 60_000 })).toEqual({
      'RateLimit-Policy': '"fixedwindow";q=100;w=60',
      RateLimit: '"fixedwindow";r=99;t=50',
    });
    expect(rateLimitHeaders(decision({ remaining: 0, resetMs: 5000, allowed: false, retryAfterMs: 5000 }))).toEqual({
      'RateLimit-Policy': '"default";q=100',
      RateLimit: '"default";r=0;t=5',
      'Retry-After': '5',
    });
  });

  it.each([
    [0, '0'],
    [0.001, '1'],
    [999.999, '1'],
    [1000, '1'],
    [1000.001, '2'],
    [29_001, '30'],
    [30_000, '30'],
  ])('t rounds resetMs %s up to %s whole seconds', (resetMs, t) => {
    expect(rateLimitHeaders(decision({ resetMs })).RateLimit).toBe(`"default";r=50;t=${t}`);
  });

  it.each([
    [0.2, '1'],
    [1000, '1'],
    [1500, '2'],
    [59_999.5, '60'],
  ])('Retry-After rounds retryAfterMs %s up to %s whole seconds, and only on a refusal', (retryAfterMs, seconds) => {
    expect(rateLimitHeaders(decision({ allowed: false, remaining: 0, retryAfterMs }))['Retry-After']).toBe(seconds);
    expect('Retry-After' in rateLimitHeaders(decision({ allowed: true, retryAfterMs: 0 }))).toBe(false);
  });

  it.each([
    [1, 1, 100_000],
    [500, 1, 200],
    [1000, 1, 100],
    [1500, 2, 133],
    [60_000, 60, 100],
    [86_400_000, 86_400, 100],
  ])(
    'w rounds windowMs %s up to %s seconds (the draft has no sub-second windows) and scales q to it, rounded down (%s)',
    (windowMs, w, q) => {
      expect(rateLimitHeaders(decision(), { windowMs })['RateLimit-Policy']).toBe(`"default";q=${q};w=${w}`);
    },
  );

  it('advertises a bucket that refills within a second at its real rate', () => {
    const bucket = new TokenBucket({ burst: 20, refillPerSecond: 100, capacity: 4 });
    expect(rateLimitHeaders(bucket.check('k'), bucket.policy)['RateLimit-Policy']).toBe('"default";q=100;w=1');
  });

  it('quotes and escapes the policy name as a structured-field string; quota overrides the limit; r is a whole count', () => {
    expect(rateLimitHeaders(decision({ remaining: 7.9 }), { name: 'say "hi" \\o/', quota: 7 })).toEqual({
      'RateLimit-Policy': '"say \\"hi\\" \\\\o/";q=7',
      RateLimit: '"say \\"hi\\" \\\\o/";r=7;t=30',
    });
  });

  it('adds the quota unit (but not the default one) and the partition key as a byte sequence in both fields', () => {
    const h = rateLimitHeaders(decision(), { name: 'peruser', quotaUnit: 'content-bytes', windowMs: 10_000, partitionKey: 'user:1' });
    expect(h).toEqual({
      'RateLimit-Policy': '"peruser";q=100;qu="content-bytes";w=10;pk=:dXNlcjox:',
      RateLimit: '"peruser";r=50;t=30;pk=:dXNlcjox:',
    });
    expect(rateLimitHeaders(decision(), { quotaUnit: 'requests', partitionKey: new Uint8Array([0xff, 0, 1]) })['RateLimit-Policy']).toBe(
      '"default";q=100;pk=:/wAB:',
    );
  });

  it("from a TokenBucket and a SlidingWindow's own decisions and policies", () => {
    const clock = new ManualClock({ startMs: 0 });
    const bucket = new TokenBucket({ burst: 100, refillPerSecond: 10, capacity: 4, clock });
    bucket.check('k', 99);
    expect(rateLimitHeaders(bucket.check('k'), bucket.policy)).toEqual({
      'RateLimit-Policy': '"default";q=100;w=10',
      RateLimit: '"default";r=0;t=10',
    });
    // Refused: the reset is the Retry-After second (draft-10 §6: Retry-After
    // SHOULD NOT point earlier than the reset), not the 10 s to a full bucket.
    expect(rateLimitHeaders(bucket.check('k'), bucket.policy)).toEqual({
      'RateLimit-Policy': '"default";q=100;w=10',
      RateLimit: '"default";r=0;t=1',
      'Retry-After': '1',
    });
    const window = new SlidingWindow({ limit: 2, windowMs: 60_000, capacity: 4, clock });
    window.check('k', 2);
    clock.advance(15_500);
    expect(rateLimitHeaders(window.check('k'), { ...window.policy, name: 'login' })).toEqual({
      'RateLimit-Policy': '"login";q=2;w=60',
      RateLimit: '"login";r=0;t=45',
      'Retry-After': '45',
    });
  });

  describe('misuse: a typed error', () => {
    it.each([
      [
        'a name with a non-ASCII character',
        () => rateLimitHeaders(decision(), { name: 'défaut' }),
        /policy name must be a string of printable ASCII/,
      ],
      ['a name with a newline', () => rateLimitHeaders(decision(), { name: 'a\r\nX-Evil: 1' }), /printable ASCII/],
      ['a negative quota', () => rateLimitHeaders(decision(), { quota: -1 }), /quota must be an integer in \[0, 999999999999999\]/],
      ['a quota of 16 digits', () => rateLimitHeaders(decision(), { quota: 1e15 }), /quota must be an integer/],
      ['a fractional quota', () => rateLimitHeaders(decision(), { quota: 1.5 }), /got 1.5/],
      ['windowMs 0', () => rateLimitHeaders(decision(), { windowMs: 0 }), /windowMs must be a finite number of milliseconds > 0, got 0/],
      ['a NaN windowMs', () => rateLimitHeaders(decision(), { windowMs: NaN }), /got NaN/],
      ['an unknown quota unit', () => rateLimitHeaders(decision(), { quotaUnit: 'tokens' as never }), /quotaUnit must be one of/],
      [
        'a partition key of another type',
        () => rateLimitHeaders(decision(), { partitionKey: 5 as never }),
        /partitionKey must be a string or a Uint8Array/,
      ],
      ['a negative resetMs', () => rateLimitHeaders(decision({ resetMs: -1 })), /resetMs must be a finite number of milliseconds >= 0/],
      [
        'something that is not a decision',
        () => rateLimitHeaders({} as never),
        /decision must be what a limiter's check\(\) or peek\(\) returned/,
      ],
      [
        'a policy that is not an object',
        () => rateLimitHeaders(decision(), 'default' as never),
        /rateLimitHeaders\(decision, policy\): options must be an object, got "default"/,
      ],
      [
        'a misspelled policy field',
        () => rateLimitHeaders(decision(), { window: 60_000 } as never),
        /rateLimitHeaders\(decision, policy\): unknown option "window"; did you mean "windowMs"\?/,
      ],
      [
        'a policy field of another spelling',
        () => rateLimitHeaders(decision(), { quotaunit: 'requests' } as never),
        /unknown option "quotaunit"; did you mean "quotaUnit"\?/,
      ],
    ])('%s', (_n, op, message) => {
      expectCode(op, ErrorCode.INVALID_ARG, message);
    });
  });
});

describe('rateLimitHeaders: every draft', () => {
  const allowed = decision({ remaining: 99, resetMs: 60_000 });
  const refused = decision({ allowed: false, remaining: 0, retryAfterMs: 2_500, resetMs: 60_000 });
  const policy = { name: 'per-user', windowMs: 60_000 };

  it('draft-6: RateLimit-Limit, -Remaining and -Reset, as express-rate-limit writes them', () => {
    expect(rateLimitHeaders(allowed, policy, { draft: 'draft-6' })).toEqual({
      'RateLimit-Policy': '100;w=60',
      'RateLimit-Limit': '100',
      'RateLimit-Remaining': '99',
      'RateLimit-Reset': '60',
    });
    expect(rateLimitHeaders(refused, policy, { draft: 'draft-6' })).toEqual({
      'RateLimit-Policy': '100;w=60',
      'RateLimit-Limit': '100',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '3',
      'Retry-After': '3',
    });
  });

  it('draft-7: one RateLimit field of limit, remaining and reset', () => {
    expect(rateLimitHeaders(allowed, policy, { draft: 'draft-7' })).toEqual({
      'RateLimit-Policy': '100;w=60',
      RateLimit: 'limit=100, remaining=99, reset=60',
    });
    expect(rateLimitHeaders(refused, {}, { draft: 'draft-7' })).toEqual({
      'RateLimit-Policy': '100',
      RateLimit: 'limit=100, remaining=0, reset=3',
      'Retry-After': '3',
    });
  });

  it.each(['draft-8', 'draft-10', 'draft-11'] as const)('%s: named policy items with r and t', (draft) => {
    expect(rateLimitHeaders(allowed, { ...policy, partitionKey: 'user:1' }, { draft })).toEqual({
      'RateLimit-Policy': '"per-user";q=100;w=60;pk=:dXNlcjox:',
      RateLimit: '"per-user";r=99;t=60;pk=:dXNlcjox:',
    });
    expect(rateLimitHeaders(refused, policy, { draft })).toEqual({
      'RateLimit-Policy': '"per-user";q=100;w=60',
      RateLimit: '"per-user";r=0;t=3',
      'Retry-After': '3',
    });
  });

  it('draft-12: a (available), w (effective window) and c (cost)', () => {
    expect(rateLimitHeaders(allowed, policy, { draft: 'draft-12', cost: 1 })).toEqual({
      'RateLimit-Policy': '"per-user";q=100;w=60',
      RateLimit: '"per-user";a=99;w=60;c=1',
    });
    expect(rateLimitHeaders(refused, { ...policy, quotaUnit: 'content-bytes' }, { draft: 'draft-12' })).toEqual({
      'RateLimit-Policy': '"per-user";q=100;qu="content-bytes";w=60',
      RateLimit: '"per-user";a=0;w=3',
      'Retry-After': '3',
    });
  });

  it('the default is draft-10, as since 0.1', () => {
    expect(rateLimitHeaders(allowed, policy)).toEqual(rateLimitHeaders(allowed, policy, { draft: 'draft-10' }));
  });

  it.each([
    [{ draft: 'draft-9' }, /draft must be one of "draft-6", "draft-7", "draft-8", "draft-10", "draft-11", "draft-12", got "draft-9"/],
    [{ cost: -1 }, /cost/],
    [{ cost: 1.5 }, /cost/],
    [{ drafts: 'draft-7' }, /unknown option "drafts"; did you mean "draft"/],
  ])('a bad option %j is a typed error', (options, message) => {
    expectCode(() => rateLimitHeaders(allowed, policy, options as never), ErrorCode.INVALID_ARG, message);
  });
});
