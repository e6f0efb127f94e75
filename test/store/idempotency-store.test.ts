import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
  IdempotencyStore,
  type IdempotencyBegin,
  type IdempotencyResponse,
  type IdempotencyStoreHandle,
  type IdempotencyToken,
} from '../../src/store/idempotency-store.js';
import { idempotent, type IdempotentRequest } from '../../src/store/idempotency-http.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { Remote } from '../threads/remote.js';
import { until } from '../helpers/wait.js';

const FP = IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{"amount":100}' });
const OTHER_FP = IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{"amount":999}' });
const CHARGED: IdempotencyResponse = {
  status: 201,
  headers: { 'content-type': 'application/json', 'x-charge': 'ch_1' },
  body: '{"id":"ch_1"}',
};

const manual = (options: { leaseMs?: number; retentionMs?: number; capacity?: number; maxResponseBytes?: number } = {}) => {
  const clock = new ManualClock({ startMs: 1000 });
  const store = new IdempotencyStore({
    capacity: options.capacity ?? 8,
    leaseMs: options.leaseMs ?? 100,
    retentionMs: options.retentionMs ?? 10_000,
    clock,
    ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}),
  });
  return { clock, store };
};

/** The token of a 'new' answer (fails the test otherwise). */
function tokenOf(b: IdempotencyBegin): IdempotencyToken {
  expect(b.status).toBe('new');
  return (b as { token: IdempotencyToken }).token;
}

const remotes: Remote[] = [];
afterEach(async () => {
  await Promise.all(remotes.splice(0).map((r) => r.stop()));
});
const worker = async (): Promise<Remote> => {
  const r = await Remote.start('idempotency');
  remotes.push(r);
  return r;
};

describe('IdempotencyStore', () => {
  it('the first request runs; a duplicate while it runs is in flight; after it completes, duplicates replay', () => {
    const { store } = manual({ leaseMs: 100 });
    const t = tokenOf(store.begin('key-1', FP));
    expect(t.key).toBe('key-1');
    expect(store.begin('key-1', FP)).toEqual({ status: 'in-flight', retryAfterMs: 100 });
    store.complete(t, CHARGED);
    expect(store.begin('key-1', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
    expect(store.begin('key-1', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
    expect(tokenOf(store.begin('key-2', FP)).attempt).toBeGreaterThan(t.attempt); // other keys are independent
  });

  it('recovered: true only for a key whose earlier lease lapsed before it completed (it may have reached the upstream)', () => {
    const { store, clock } = manual({ leaseMs: 100, retentionMs: 1000 });
    const first = store.begin('k', FP);
    expect(first).toMatchObject({ status: 'new', recovered: false });
    clock.advance(100); // the lease lapses: its thread died, or it is still stuck upstream
    expect(store.begin('k', FP)).toMatchObject({ status: 'new', recovered: true });
    const done = tokenOf(store.begin('c', FP));
    store.complete(done, CHARGED);
    clock.advance(1000); // past its retention: forgotten, nothing was cut off
    expect(store.begin('c', FP)).toMatchObject({ status: 'new', recovered: false });
    store.abort(tokenOf(store.begin('a', FP))); // given up on purpose: nothing to recover
    expect(store.begin('a', FP)).toMatchObject({ status: 'new', recovered: false });
  });

  it('the same key with another fingerprint is a mismatch, in flight or completed', () => {
    const { store } = manual();
    const t = tokenOf(store.begin('k', FP));
    expect(store.begin('k', OTHER_FP)).toEqual({ status: 'mismatch' });
    store.complete(t, CHARGED);
    expect(store.begin('k', OTHER_FP)).toEqual({ status: 'mismatch' });
    expect(store.begin('k', FP).status).toBe('replay');
  });

  it('a replay returns the response exactly: a string stays a string, bytes stay bytes, absent fields stay absent', () => {
    const { store } = manual();
    const responses: IdempotencyResponse[] = [
      { status: 201, headers: { b: '2', a: '1', 'set-cookie': 'x=1; Path=/' }, body: 'héllo ✓ 🎉' },
      { status: 200, body: new Uint8Array([0, 255, 1, 128]) },
      { status: 204 },
      { status: 500, headers: {}, body: '' },
      { status: 202, body: new Uint8Array(0) },
    ];
    responses.forEach((response, i) => {
      store.complete(tokenOf(store.begin(`k${i}`, FP)), response);
      const replay = store.begin(`k${i}`, FP);
      expect(replay).toStrictEqual({ status: 'replay', response });
      const body = (replay as { response: IdempotencyResponse }).response.body;
      expect(typeof body).toBe(typeof response.body);
      if (response.headers)
        expect(Object.keys((replay as { response: IdempotencyResponse }).response.headers!)).toEqual(Object.keys(response.headers));
    });
  });

  it('a Buffer body replays as a plain Uint8Array with the same bytes', () => {
    const { store } = manual();
    store.complete(tokenOf(store.begin('k', FP)), { status: 200, body: Buffer.from('abc') });
    const body = (store.begin('k', FP) as { response: IdempotencyResponse }).response.body as Uint8Array;
    expect(body).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(body).toString()).toBe('abc');
  });

  it('abort gives the key up: the retry runs (and may carry another fingerprint)', () => {
    const { store } = manual();
    const first = tokenOf(store.begin('k', FP));
    store.abort(first);
    const retry = tokenOf(store.begin('k', OTHER_FP));
    expect(retry.attempt).toBeGreaterThan(first.attempt);
    store.complete(retry, CHARGED);
    expect(store.begin('k', OTHER_FP).status).toBe('replay');
  });

  it('a lapsed lease is taken over by the retry, with no cleanup; the old token can neither complete nor abort', () => {
    const { clock, store } = manual({ leaseMs: 100 });
    const stalled = tokenOf(store.begin('k', FP));
    clock.advance(60);
    expect(store.begin('k', FP)).toEqual({ status: 'in-flight', retryAfterMs: 40 });
    clock.advance(40); // exactly at the lease's end: lapsed
    const retry = tokenOf(store.begin('k', FP));
    expect(retry.attempt).toBeGreaterThan(stalled.attempt);
    expectCode(() => store.complete(stalled, CHARGED), ErrorCode.NOT_OWNER, new RegExp(`attempt ${retry.attempt} holds the key now`));
    expectCode(() => store.abort(stalled), ErrorCode.NOT_OWNER, /lease lapsed and a retry took over/);
    expect(store.begin('k', FP).status).toBe('in-flight'); // the stalled one's errors changed nothing
    store.complete(retry, { status: 200, body: 'retry' });
    expectCode(() => store.complete(stalled, CHARGED), ErrorCode.NOT_OWNER, new RegExp(`attempt ${retry.attempt} completed the key`));
    expect(store.begin('k', FP)).toStrictEqual({ status: 'replay', response: { status: 200, body: 'retry' } });
  });

  it('a late complete is recorded when no retry has taken the key over yet', () => {
    const { clock, store } = manual({ leaseMs: 100 });
    const slow = tokenOf(store.begin('k', FP));
    clock.advance(500);
    store.complete(slow, CHARGED);
    expect(store.begin('k', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
  });

  it('retention: a completed key replays for retentionMs after its completion, then is forgotten', () => {
    const { clock, store } = manual({ leaseMs: 100, retentionMs: 1000 });
    const t = tokenOf(store.begin('k', FP));
    clock.advance(90); // retention counts from completion, not from begin
    store.complete(t, CHARGED);
    clock.advance(999);
    expect(store.begin('k', FP).status).toBe('replay');
    expect(store.begin('k', OTHER_FP).status).toBe('mismatch');
    clock.advance(1);
    const again = tokenOf(store.begin('k', OTHER_FP)); // forgotten: any request may use the key
    expect(again.attempt).toBeGreaterThan(t.attempt);
    expect(store.retentionMs).toBe(1000);
    expect(new IdempotencyStore({ capacity: 1, leaseMs: 1 }).retentionMs).toBe(DEFAULT_IDEMPOTENCY_RETENTION_MS);
  });

  it('peek answers as begin would, taking nothing', () => {
    const { clock, store } = manual({ leaseMs: 100 });
    expect(store.peek('k', FP)).toEqual({ status: 'absent' });
    expect(store.size).toBe(0);
    const t = tokenOf(store.begin('k', FP));
    expect(store.peek('k', FP)).toEqual({ status: 'in-flight', retryAfterMs: 100 });
    expect(store.peek('k', OTHER_FP)).toEqual({ status: 'mismatch' });
    clock.advance(100);
    expect(store.peek('k', FP)).toEqual({ status: 'absent' }); // lapsed: a begin would take it over
    store.complete(t, CHARGED); // nobody did, so it is still t's
    expect(store.peek('k', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
    expectCode(() => store.peek('', FP), ErrorCode.INVALID_ARG);
  });

  it('a full store reclaims expired and abandoned records before it refuses a new key; live ones stay', () => {
    const { clock, store } = manual({ capacity: 3, leaseMs: 100, retentionMs: 1000 });
    store.complete(tokenOf(store.begin('done', FP)), CHARGED); // forgotten at 2000
    tokenOf(store.begin('abandoned', FP)); // its lease lapses at 1100
    clock.advance(50);
    const live = tokenOf(store.begin('live', FP)); // lease until 1150
    expectCode(() => store.begin('new-1', FP), ErrorCode.CAPACITY, /all 3 idempotency records are live/);
    clock.advance(50); // 1100: the abandoned lease lapses
    const n1 = tokenOf(store.begin('new-1', FP));
    expectCode(() => store.begin('new-2', FP), ErrorCode.CAPACITY);
    expect(store.begin('live', FP).status).toBe('in-flight');
    store.complete(live, CHARGED); // replays until 2100
    clock.advance(900); // 2000: 'done' is forgotten, the lease of 'new-1' has lapsed
    tokenOf(store.begin('new-2', FP));
    expect(store.begin('live', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
    expect(store.size).toBe(2);
    expectCode(() => store.complete(n1, CHARGED), ErrorCode.NOT_OWNER, /no request holds the key/); // reclaimed: its late complete is refused
  });

  it('a response larger than maxResponseBytes is refused with nothing stored: the key stays in flight until aborted', () => {
    const { store } = manual({ maxResponseBytes: 64 });
    const t = tokenOf(store.begin('k', FP));
    expectCode(
      () => store.complete(t, { status: 200, body: 'x'.repeat(65) }),
      ErrorCode.INVALID_ARG,
      /response is too large: 65 bytes .* maxResponseBytes is 64/,
    );
    expectCode(
      () => store.complete(t, { status: 200, headers: { h: 'x'.repeat(50) }, body: 'y'.repeat(10) }),
      ErrorCode.INVALID_ARG,
      /too large/,
    );
    expect(store.begin('k', FP).status).toBe('in-flight');
    store.complete(t, { status: 200, body: 'x'.repeat(64) }); // exactly the limit fits
    expect(store.begin('k', FP).status).toBe('replay');
    const u = tokenOf(store.begin('u', FP));
    expectCode(() => store.complete(u, { status: 200, body: new Uint8Array(65) }), ErrorCode.INVALID_ARG);
    store.abort(u);
    tokenOf(store.begin('u', FP));
  });

  it('keys of up to 255 characters, any of them, fit by default', () => {
    const { store } = manual();
    store.complete(tokenOf(store.begin('€'.repeat(255), FP)), CHARGED);
    expect(store.begin('€'.repeat(255), FP).status).toBe('replay');
    expect(store.begin('k'.repeat(255), FP).status).toBe('new');
  });

  it('re-opens from its handle with its clock: one store for every opener; tokens cross too', () => {
    const { clock, store } = manual({ leaseMs: 100 });
    const again = IdempotencyStore.from(structuredClone(store.handle));
    const t = tokenOf(again.begin('k', FP));
    expect(store.begin('k', FP).status).toBe('in-flight');
    store.complete(structuredClone(t), CHARGED);
    expect(again.begin('k', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
    again.begin('other', FP);
    clock.advance(100);
    expect(store.begin('other', FP).status).toBe('new'); // the same ManualClock
    expect(IdempotencyStore.byteLength({ capacity: 8, leaseMs: 100, retentionMs: 10_000 })).toBe(store.handle.byteLength);
  });

  it('lives in an arena', () => {
    const arena = new SharedArena({
      byteLength: 2 * IdempotencyStore.byteLength({ capacity: 4, leaseMs: 10, maxResponseBytes: 256 }) + 1024,
    });
    const a = new IdempotencyStore({ capacity: 4, leaseMs: 10, maxResponseBytes: 256, arena });
    const b = new IdempotencyStore({ capacity: 4, leaseMs: 10, maxResponseBytes: 256, arena });
    a.complete(tokenOf(a.begin('k', FP)), CHARGED);
    expect(b.begin('k', FP).status).toBe('new');
    expect(IdempotencyStore.from(a.handle).begin('k', FP).status).toBe('replay');
  });

  describe('fingerprint', () => {
    it('is the SHA-256 hex of the length-prefixed method and path, then the body', () => {
      const fp = IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: 'abc' });
      const framed = Buffer.concat([
        Buffer.from([0, 0, 0, 4]),
        Buffer.from('POST'),
        Buffer.from([0, 0, 0, 8]),
        Buffer.from('/charges'),
        Buffer.from('abc'),
      ]);
      expect(fp).toBe(createHash('sha256').update(framed).digest('hex'));
      expect(fp).toMatch(/^[0-9a-f]{64}$/);
    });

    it('no shift of bytes between method, path and body collides', () => {
      const fps = [
        { method: 'POST', path: '/a', body: 'b' },
        { method: 'POST', path: '/ab', body: '' },
        { method: 'POS', path: 'T/a', body: 'b' },
        { method: 'POST/', path: 'a', body: 'b' },
        { method: 'POST', path: '', body: '/ab' },
        { method: 'PUT', path: '/a', body: 'b' },
      ].map((r) => IdempotencyStore.fingerprint(r));
      expect(new Set(fps).size).toBe(fps.length);
    });

    it('a string body and the same bytes match; a missing body matches an empty one', () => {
      const f = (body?: string | Uint8Array) =>
        IdempotencyStore.fingerprint({ method: 'POST', path: '/p', ...(body !== undefined ? { body } : {}) });
      expect(f('héllo')).toBe(f(new TextEncoder().encode('héllo')));
      expect(f()).toBe(f(''));
      expect(f('a')).not.toBe(f('b'));
    });

    it.each([
      ['a numeric method', { method: 1, path: '/' }, /request.method must be a string, got 1/],
      ['no path', { method: 'GET' }, /request.path must be a string/],
      ['an object body', { method: 'GET', path: '/', body: {} }, /request.body must be a string or a Uint8Array/],
    ])('refuses %s', (_n, request, message) => {
      expectCode(() => IdempotencyStore.fingerprint(request as never), ErrorCode.INVALID_ARG, message);
    });
  });

  describe('misuse: a typed error, and no record is taken, changed or lost', () => {
    /** A store with one key in flight ('held') and one completed ('done'). */
    const setup = () => {
      const s = manual({ maxResponseBytes: 96 });
      const held = tokenOf(s.store.begin('held', FP));
      s.store.complete(tokenOf(s.store.begin('done', FP)), CHARGED);
      return { ...s, held };
    };
    const unchanged = (store: IdempotencyStore, held: IdempotencyToken) => {
      expect(store.begin('held', FP).status).toBe('in-flight');
      expect(store.begin('done', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
      store.complete(held, CHARGED); // the holder still holds it
      expect(store.begin('held', FP).status).toBe('replay');
    };

    it.each([
      ['an empty key', (s: IdempotencyStore) => s.begin('', FP), /non-empty string of at most 255 characters, got a string of 0/],
      ['a key of 256 characters', (s: IdempotencyStore) => s.begin('k'.repeat(256), FP), /got a string of 256/],
      ['a key that is not a string', (s: IdempotencyStore) => s.begin(42 as never, FP), /got 42/],
      ['a byte key', (s: IdempotencyStore) => s.begin(new Uint8Array(4) as never, FP), /non-empty string/],
      ['a fingerprint that is not a string', (s: IdempotencyStore) => s.begin('k', undefined as never), /fingerprint must be a string/],
      ['a fingerprint too long', (s: IdempotencyStore) => s.begin('k', 'f'.repeat(129)), /fingerprint is too long: 129 bytes/],
      [
        'a token that is not one',
        (s: IdempotencyStore) => s.complete({ key: 'held' } as never, CHARGED),
        /token must be the one begin\(\) returned/,
      ],
      ['a null token to abort', (s: IdempotencyStore) => s.abort(null as never), /token must be/],
      ['no response', (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, undefined as never), /response must be an object/],
      [
        'a status of 99',
        (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 99 }),
        /response.status must be an integer in \[100, 599\], got 99/,
      ],
      ['a status of 600', (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 600 }), /got 600/],
      ['a fractional status', (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 200.5 }), /got 200.5/],
      [
        'a header value that is not a string',
        (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 200, headers: { n: 1 as never } }),
        /headers values must be strings, got 1 for "n"/,
      ],
      [
        'a Headers object',
        (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 200, headers: new Headers({ a: 'b' }) as never }),
        /Object.fromEntries\(headers\)/,
      ],
      [
        'a numeric body',
        (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 200, body: 5 as never }),
        /response.body must be a string or a Uint8Array, got 5/,
      ],
      [
        'a body with a lone surrogate',
        (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 200, body: 'a\ud800b' }),
        /lone surrogate/,
      ],
      [
        'a body too large',
        (s: IdempotencyStore, t: IdempotencyToken) => s.complete(t, { status: 200, body: 'x'.repeat(100) }),
        /too large/,
      ],
    ])('%s is InvalidArgumentError', (_n, op, message) => {
      const { store, held } = setup();
      expectCode(() => op(store, held), ErrorCode.INVALID_ARG, message);
      unchanged(store, held);
    });

    it('a key longer than maxKeyBytes in UTF-8 is InvalidArgumentError', () => {
      const store = new IdempotencyStore({ capacity: 2, leaseMs: 10, maxKeyBytes: 36 });
      tokenOf(store.begin('8e03978e-40d5-43e8-bc93-6894a57f9324', FP));
      expectCode(() => store.begin('é'.repeat(19), FP), ErrorCode.INVALID_ARG, /key is too long: 38 bytes, and maxKeyBytes is 36/);
    });

    it.each([
      [
        'complete with a token of an earlier, aborted attempt',
        (s: IdempotencyStore, _t: IdempotencyToken) => {
          const old = tokenOf(s.begin('k', FP));
          s.abort(old);
          tokenOf(s.begin('k', FP));
          return () => s.complete(old, CHARGED);
        },
        /attempt \d+ holds the key now/,
      ],
      [
        'complete with a token forged for another attempt',
        (s: IdempotencyStore, t: IdempotencyToken) => () => s.complete({ key: 'held', attempt: t.attempt + 1 }, CHARGED),
        /attempt \d+ holds the key now/,
      ],
      [
        "complete with another key's attempt",
        (_s: IdempotencyStore, t: IdempotencyToken) => () => _s.complete({ key: 'done', attempt: t.attempt }, CHARGED),
        /attempt \d+ completed the key/,
      ],
      [
        'complete of a key nobody holds',
        (s: IdempotencyStore, t: IdempotencyToken) => () => s.complete({ key: 'nobody', attempt: t.attempt }, CHARGED),
        /no request holds the key/,
      ],
      [
        'complete twice',
        (s: IdempotencyStore) => {
          const t = tokenOf(s.begin('k', FP));
          s.complete(t, CHARGED);
          return () => s.complete(t, { status: 500 });
        },
        /already completed/,
      ],
      [
        'abort after complete',
        (s: IdempotencyStore) => {
          const t = tokenOf(s.begin('k', FP));
          s.complete(t, CHARGED);
          return () => s.abort(t);
        },
        /already completed/,
      ],
      [
        'abort twice',
        (s: IdempotencyStore) => {
          const t = tokenOf(s.begin('k', FP));
          s.abort(t);
          return () => s.abort(t);
        },
        /no request holds the key \(it was aborted/,
      ],
      [
        'complete after abort',
        (s: IdempotencyStore) => {
          const t = tokenOf(s.begin('k', FP));
          s.abort(t);
          return () => s.complete(t, CHARGED);
        },
        /no request holds the key/,
      ],
      [
        'a token of another store',
        (s: IdempotencyStore) => {
          const other = new IdempotencyStore({ capacity: 2, leaseMs: 100 });
          tokenOf(s.begin('k', FP));
          const foreign = tokenOf(other.begin('k', FP));
          return () => s.complete(foreign, CHARGED);
        },
        /holds the key now/,
      ],
    ])('%s is NotOwnerError', (_n, arrange, message) => {
      const { store, held } = setup();
      const op = arrange(store, held);
      const k = store.peek('k', FP);
      expectCode(op, ErrorCode.NOT_OWNER, message);
      expect(store.peek('k', FP)).toStrictEqual(k); // 'k' is as it was before the refused call
      unchanged(store, held);
    });

    it.each([
      ['capacity 0', { capacity: 0, leaseMs: 1 }, /capacity must be an integer in \[1, 16777216\], got 0/],
      ['no leaseMs', { capacity: 1 }, /new IdempotencyStore\(options\): leaseMs is required/],
      ['leaseMs 0', { capacity: 1, leaseMs: 0 }, /leaseMs .* got 0/],
      ['leaseMs Infinity', { capacity: 1, leaseMs: Infinity }, /leaseMs .* got Infinity/],
      ['a negative retentionMs', { capacity: 1, leaseMs: 1, retentionMs: -1 }, /retentionMs .* got -1/],
      ['maxKeyBytes above 765', { capacity: 1, leaseMs: 1, maxKeyBytes: 766 }, /maxKeyBytes must be an integer in \[1, 765\], got 766/],
      ['maxResponseBytes 0', { capacity: 1, leaseMs: 1, maxResponseBytes: 0 }, /maxResponseBytes/],
      [
        'a non-boolean reclaimOnOwnerDeath',
        { capacity: 1, leaseMs: 1, reclaimOnOwnerDeath: 'yes' },
        /reclaimOnOwnerDeath must be true or false, got "yes"/,
      ],
      ['a clock that cannot be shared', { capacity: 1, leaseMs: 1, clock: { now: () => 1 } }, /systemClock or a ManualClock/],
      [
        'a misspelled option',
        { capacity: 1, leaseMS: 1 },
        /new IdempotencyStore\(options\): unknown option "leaseMS"; did you mean "leaseMs"\?/,
      ],
      [
        'an option missing its unit',
        { capacity: 1, leaseMs: 1, retention: 60_000 },
        /unknown option "retention"; did you mean "retentionMs"\?/,
      ],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new IdempotencyStore(o as never), ErrorCode.INVALID_ARG, message);
    });

    it('byteLength reads the same options, as strictly', () => {
      const { store } = manual();
      expect(IdempotencyStore.byteLength({ capacity: 8, leaseMs: 100 })).toBe(store.handle.byteLength);
      expectCode(
        () => IdempotencyStore.byteLength({ capacity: 8, leaseMs: 100, maxResponseByte: 64 } as never),
        ErrorCode.INVALID_ARG,
        /IdempotencyStore\.byteLength\(options\): unknown option "maxResponseByte"; did you mean "maxResponseBytes"\?/,
      );
    });

    it.each(
      forgedHandles<IdempotencyStoreHandle>('sabre.OnceRegistry', [
        ['another capacity', (h) => ({ ...h, options: { ...h.options, capacity: 3 } })],
        ['another lease', (h) => ({ ...h, options: { ...h.options, leaseMs: 1 } })],
        ['reclaimOnOwnerDeath flipped', (h) => ({ ...h, options: { ...h.options, reclaimOnOwnerDeath: true } })],
        ['an unknown option', (h) => ({ ...h, options: { ...h.options, extra: 1 } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { store } = manual();
      expectCode(
        thrown(() => IdempotencyStore.from(forge(store.handle) as IdempotencyStoreHandle)),
        ErrorCode.HANDLE,
      );
    });
  });

  describe('on real threads', () => {
    it('a request begun in a worker is in flight for the others, completes there, and replays everywhere', async () => {
      const { store } = manual();
      const w = await worker();
      const b = await w.call<IdempotencyBegin>('begin', { store: store.handle, key: 'k', fingerprint: FP });
      const t = tokenOf(b);
      expect(store.begin('k', FP).status).toBe('in-flight');
      await w.call('complete', { store: store.handle, token: t, response: CHARGED });
      expect(store.begin('k', FP)).toStrictEqual({ status: 'replay', response: CHARGED });
      // NotOwnerError keeps its code across the thread boundary.
      expectCode(
        await rejected(w.call('complete', { store: store.handle, token: t, response: CHARGED })),
        ErrorCode.NOT_OWNER,
        /already completed/,
      );
    });

    it('two workers racing over the same keys: exactly one begin per key is new', async () => {
      const store = new IdempotencyStore({ capacity: 512, leaseMs: 60_000, maxResponseBytes: 128 });
      const [a, b] = await Promise.all([worker(), worker()]);
      const keys = Array.from({ length: 400 }, (_, i) => `order-${i}`);
      const start = new Int32Array(new SharedArrayBuffer(4));
      const arg = { store: store.handle, keys, fingerprint: FP, start, parties: 2 };
      const [na, nb] = await Promise.all([a.call<number>('race', arg), b.call<number>('race', arg)]);
      expect(na + nb).toBe(keys.length);
      for (const key of keys) expect(store.begin(key, FP).status).toBe('replay');
    });

    it('a worker terminated mid-request: its key is in flight until leaseMs, then the retry runs', async () => {
      const { clock, store } = manual({ leaseMs: 5_000 });
      const w = await worker();
      const signals = new SharedArrayBuffer(16);
      const dead = w
        .call('beginAndHang', { store: store.handle, key: 'pay-1', fingerprint: FP, signals })
        .catch((e: unknown) => (e as Error).message);
      const attempt = new BigInt64Array(signals, 0, 1);
      await until(() => Atomics.load(attempt, 0) !== 0n);
      expect(store.begin('pay-1', FP).status).toBe('in-flight');
      await w.stop();
      expect(await dead).toMatch(/exited/);
      // Dead, but its work may have happened: the key waits for the lease.
      expect(store.begin('pay-1', FP)).toEqual({ status: 'in-flight', retryAfterMs: 5_000 });
      clock.advance(4_999);
      expect(store.begin('pay-1', FP).status).toBe('in-flight');
      clock.advance(1);
      const retry = tokenOf(store.begin('pay-1', FP));
      expect(BigInt(retry.attempt)).toBeGreaterThan(Atomics.load(attempt, 0));
      expectCode(() => store.complete({ key: 'pay-1', attempt: Number(Atomics.load(attempt, 0)) }, CHARGED), ErrorCode.NOT_OWNER); // the dead one's late complete
      store.complete(retry, CHARGED);
      expect(store.begin('pay-1', FP).status).toBe('replay');
    });

    it("with reclaimOnOwnerDeath, a dead worker's key is retryable at once", async () => {
      const clock = new ManualClock();
      const store = new IdempotencyStore({ capacity: 4, leaseMs: 60_000, clock, reclaimOnOwnerDeath: true });
      const w = await worker();
      const signals = new SharedArrayBuffer(16);
      const dead = w.call('beginAndHang', { store: store.handle, key: 'k', fingerprint: FP, signals }).catch(() => 'exited');
      await until(() => Atomics.load(new BigInt64Array(signals, 0, 1), 0) !== 0n);
      expect(store.begin('k', FP).status).toBe('in-flight'); // alive: the lease holds
      await w.stop();
      await dead;
      await until(() => store.begin('k', FP).status === 'new'); // the clock never moved
    });

    it("a stalled worker's late complete is refused after a retry took over", async () => {
      const { clock, store } = manual({ leaseMs: 100 });
      const w = await worker();
      const t = tokenOf(await w.call<IdempotencyBegin>('begin', { store: store.handle, key: 'k', fingerprint: FP }));
      clock.advance(100);
      const retry = tokenOf(store.begin('k', FP));
      expectCode(
        await rejected(w.call('complete', { store: store.handle, token: t, response: CHARGED })),
        ErrorCode.NOT_OWNER,
        /retry took over/,
      );
      expectCode(await rejected(w.call('abort', { store: store.handle, token: t })), ErrorCode.NOT_OWNER);
      store.complete(retry, { status: 200 });
      expect(store.begin('k', FP)).toStrictEqual({ status: 'replay', response: { status: 200 } });
    });
  });
});

describe('idempotent (HTTP mapping)', () => {
  const request = (headers: IdempotentRequest['headers'], body = '{"amount":100}', path = '/charges'): IdempotentRequest => ({
    method: 'POST',
    path,
    headers,
    body,
  });
  const created = (n: number): IdempotencyResponse => ({
    status: 201,
    headers: { 'content-type': 'application/json' },
    body: `{"charge":${n}}`,
  });

  it('runs the handler once; a retry replays its status, headers and body with Idempotent-Replayed: true', async () => {
    const { store } = manual();
    let runs = 0;
    const handler = () => created(++runs);
    const first = await idempotent(store, request({ 'idempotency-key': 'k1' }), handler);
    expect(first).toStrictEqual({ ...created(1), outcome: 'executed' });
    const again = await idempotent(store, request({ 'Idempotency-Key': 'k1' }), handler);
    expect(again).toStrictEqual({
      status: 201,
      headers: { 'content-type': 'application/json', 'Idempotent-Replayed': 'true' },
      body: '{"charge":1}',
      outcome: 'replayed',
    });
    expect(runs).toBe(1);
  });

  it('a missing key is 400 with a problem body (or runs unrecorded when not required)', async () => {
    const { store } = manual();
    let runs = 0;
    const r = await idempotent(store, request({}), () => created(++runs), { documentation: 'https://example.com/docs/idempotency' });
    expect(r.status).toBe(400);
    expect(r.outcome).toBe('missing-key');
    expect(r.headers).toEqual({
      'content-type': 'application/problem+json',
      link: '<https://example.com/docs/idempotency>; rel="describedby"',
    });
    expect(JSON.parse(r.body as string)).toMatchObject({
      type: 'https://example.com/docs/idempotency',
      title: 'Idempotency-Key is missing',
      status: 400,
    });
    expect(runs).toBe(0);
    const optional = await idempotent(store, request({}), () => created(++runs), { required: false });
    expect(optional).toMatchObject({ status: 201, outcome: 'unkeyed' });
    expect(store.size).toBe(0);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a malformed quoted string', '"abc'],
    ['a quoted string with text after it', '"abc"x'],
    ['an empty quoted string', '""'],
  ])('a key that is %s is 400', async (_n, key) => {
    const { store } = manual();
    const r = await idempotent(store, request({ 'idempotency-key': key }), () => created(1));
    expect(r).toMatchObject({ status: 400, outcome: 'invalid-key' });
  });

  it('a key too long for maxKeyBytes is 400 too', async () => {
    const store = new IdempotencyStore({ capacity: 2, leaseMs: 100, maxKeyBytes: 8 });
    expect(await idempotent(store, request({ 'idempotency-key': 'x'.repeat(9) }), () => created(1))).toMatchObject({
      status: 400,
      outcome: 'invalid-key',
    });
  });

  it('a Structured Field string key is the same key as the bare one; Headers and array values are read too', async () => {
    const { store } = manual();
    await idempotent(store, request({ 'idempotency-key': '"a\\"b"' }), () => created(1));
    expect((await idempotent(store, request(new Headers({ 'Idempotency-Key': 'a"b' })), () => created(2))).outcome).toBe('replayed');
    await idempotent(store, request({ 'idempotency-key': ['x'] }), () => created(3));
    expect((await idempotent(store, request({ 'IDEMPOTENCY-KEY': 'x' }), () => created(4))).body).toBe('{"charge":3}');
  });

  it('a concurrent duplicate is 409 with Retry-After in whole seconds; the first still completes', async () => {
    const { store } = manual({ leaseMs: 2_500 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = idempotent(store, request({ 'idempotency-key': 'k' }), async () => {
      await gate;
      return created(1);
    });
    const dup = await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(2));
    expect(dup).toMatchObject({ status: 409, outcome: 'conflict' });
    expect(dup.headers['retry-after']).toBe('1'); // about one request's time (1 s before any has completed here), not the 2.5 s lease
    release();
    expect((await first).outcome).toBe('executed');
    expect((await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(3))).body).toBe('{"charge":1}');
  });

  it("a 409's Retry-After follows how long requests take, not the rest of a long lease", async () => {
    const { store } = manual({ leaseMs: 30_000 });
    for (let i = 0; i < 3; i++) await idempotent(store, request({ 'idempotency-key': `quick-${i}` }), () => created(i)); // fast runs
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = idempotent(store, request({ 'idempotency-key': 'slow' }), async () => (await gate, created(9)));
    const dup = await idempotent(store, request({ 'idempotency-key': 'slow' }), () => created(10));
    expect(dup.headers['retry-after']).toBe('1'); // the lease has 30 s left; requests take milliseconds
    release();
    await first;
  });

  it('the same key with another body is 422', async () => {
    const { store } = manual();
    await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(1));
    const r = await idempotent(store, request({ 'idempotency-key': 'k' }, '{"amount":5}'), () => created(2));
    expect(r).toMatchObject({ status: 422, outcome: 'mismatch' });
    expect((JSON.parse(r.body as string) as { title: string }).title).toBe('Idempotency-Key is already used');
    expect((await idempotent(store, request({ 'idempotency-key': 'k' }, '{"amount":100}', '/refunds'), () => created(3))).status).toBe(422);
  });

  it('a handler that throws gives the key up and rethrows: the retry runs', async () => {
    const { store } = manual();
    const failure = new Error('payment provider unreachable');
    expect(
      await rejected(
        idempotent(store, request({ 'idempotency-key': 'k' }), () => {
          throw failure;
        }),
      ),
    ).toBe(failure);
    expect(await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(2))).toMatchObject({
      outcome: 'executed',
      body: '{"charge":2}',
    });
  });

  it('an error status returned by the handler is recorded and replayed (as Stripe does)', async () => {
    const { store } = manual();
    await idempotent(store, request({ 'idempotency-key': 'k' }), () => ({ status: 402, body: 'card declined' }));
    expect(await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(2))).toMatchObject({
      status: 402,
      body: 'card declined',
      outcome: 'replayed',
    });
  });

  it('a response the store cannot hold gives the key up and throws InvalidArgumentError', async () => {
    const { store } = manual({ maxResponseBytes: 16 });
    expectCode(
      await rejected(idempotent(store, request({ 'idempotency-key': 'k' }), () => ({ status: 200, body: 'x'.repeat(17) }))),
      ErrorCode.INVALID_ARG,
      /too large/,
    );
    expect(store.begin('k', IdempotencyStore.fingerprint(request({}))).status).toBe('new');
  });

  it('a handler that outlives its lease and is taken over gets its own response back, unrecorded', async () => {
    const { clock, store } = manual({ leaseMs: 100 });
    const r = await idempotent(store, request({ 'idempotency-key': 'k' }), async () => {
      clock.advance(100);
      expect((await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(2))).outcome).toBe('executed');
      return created(1);
    });
    expect(r).toMatchObject({ outcome: 'lease-lost', body: '{"charge":1}' });
    expect((await idempotent(store, request({ 'idempotency-key': 'k' }), () => created(3))).body).toBe('{"charge":2}');
  });

  it('takes a custom header and fingerprint', async () => {
    const { store } = manual();
    const options = { header: 'X-Request-Id', fingerprint: (r: IdempotentRequest) => r.path };
    await idempotent(store, request({ 'x-request-id': 'k' }, 'a'), () => created(1), options);
    expect((await idempotent(store, request({ 'x-request-id': 'k' }, 'b'), () => created(2), options)).outcome).toBe('replayed');
  });

  it.each([
    [
      'a misspelled option',
      { header: 'X-Key', fingerprnt: () => 'fp' },
      /idempotent\(store, request, handler, options\): unknown option "fingerprnt"; did you mean "fingerprint"\?/,
    ],
    ['a plural for a singular', { headers: 'X-Key' }, /unknown option "headers"; did you mean "header"\?/],
    ['required that is not a boolean', { required: 'no' }, /required must be true or false, got "no"/],
    ['an empty header name', { header: '' }, /header must be a header name/],
    ['a fingerprint that is not a function', { fingerprint: 'sha256' }, /fingerprint must be a function/],
  ])('refuses %s before running the handler', async (_n, options, message) => {
    const { store } = manual();
    let ran = 0;
    expectCode(
      await rejected(idempotent(store, request({ 'idempotency-key': 'k' }), () => created(++ran), options as never)),
      ErrorCode.INVALID_ARG,
      message,
    );
    expect(ran).toBe(0);
    expect(store.peek('k', FP).status).toBe('absent');
  });

  it('refuses a request without method, path or headers, and a store that is not one', async () => {
    const { store } = manual();
    expectCode(await rejected(idempotent(store, { method: 'POST' } as never, () => created(1))), ErrorCode.INVALID_ARG, /request must be/);
    expectCode(
      await rejected(idempotent({} as never, request({}), () => created(1))),
      ErrorCode.INVALID_ARG,
      /store must be an IdempotencyStore/,
    );
  });
});
