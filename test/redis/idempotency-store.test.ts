import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisIdempotencyStore } from '../../src/redis/idempotency-store.js';
import { NotOwnerError } from '../../src/errors.js';
import { CLIENT_KINDS, connect, freshPrefix, type TestClient } from '../helpers/redis.js';

const fp = RedisIdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{"amount":5}' });
const other = RedisIdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{"amount":6}' });

describe.each(CLIENT_KINDS)('RedisIdempotencyStore over %s', (kind) => {
  let c: TestClient;
  beforeAll(async () => {
    c = await connect(kind);
  });
  afterAll(async () => c.close());
  const store = (leaseMs = 5_000) => new RedisIdempotencyStore({ client: c.client, prefix: freshPrefix(), leaseMs });

  it('runs once, tells a duplicate in flight, replays the response exactly, refuses another body', async () => {
    const s = store();
    const b = await s.begin('k1', fp);
    expect(b.status).toBe('new');
    if (b.status !== 'new') return;
    expect(b.recovered).toBe(false);
    expect((await s.begin('k1', fp)).status).toBe('in-flight');
    const bytes = new Uint8Array([0, 255, 1, 128, 10, 13]);
    await s.complete(b.token, { status: 201, headers: { 'content-type': 'application/octet-stream', 'x-é': 'ü' }, body: bytes });
    const again = await s.begin('k1', fp);
    expect(again).toEqual({
      status: 'replay',
      response: { status: 201, headers: { 'content-type': 'application/octet-stream', 'x-é': 'ü' }, body: bytes },
    });
    expect(await s.begin('k1', other)).toEqual({ status: 'mismatch' });
    await expect(s.complete(b.token, { status: 200 })).rejects.toThrow(NotOwnerError);
    expect(s.stats()).toMatchObject({ begun: 1, inFlight: 1, replayed: 1, mismatched: 1, completed: 1 });
  });

  it('replays string bodies and bodiless responses as they were given', async () => {
    const s = store();
    for (const [key, response] of [
      ['s', { status: 200, body: 'héllo\n' }],
      ['e', { status: 204 }],
      ['z', { status: 200, body: '' }],
    ] as const) {
      const b = await s.begin(key, fp);
      if (b.status !== 'new') throw new Error(b.status);
      await s.complete(b.token, response);
      expect(await s.begin(key, fp)).toEqual({ status: 'replay', response });
    }
  });

  it('an abort lets a retry run with a larger attempt; the aborted token is refused', async () => {
    const s = store();
    const b = await s.begin('k', fp);
    if (b.status !== 'new') throw new Error(b.status);
    await s.abort(b.token);
    await expect(s.abort(b.token)).rejects.toThrow(NotOwnerError);
    const r = await s.begin('k', fp);
    if (r.status !== 'new') throw new Error(r.status);
    expect(r.token.attempt).toBeGreaterThan(b.token.attempt);
    expect(r.recovered).toBe(false);
  });

  it('a lapsed lease is taken over (recovered), and the old attempt can no longer complete', async () => {
    const s = store(50);
    const b = await s.begin('k', fp);
    if (b.status !== 'new') throw new Error(b.status);
    await new Promise((r) => setTimeout(r, 80));
    expect(await s.peek('k', fp)).toEqual({ status: 'absent' });
    const r = await s.begin('k', fp);
    if (r.status !== 'new') throw new Error(r.status);
    expect(r.recovered).toBe(true);
    await expect(s.complete(b.token, { status: 201 })).rejects.toThrow(/attempt \d+ holds the key now/);
    await s.complete(r.token, { status: 201 });
  });
});
