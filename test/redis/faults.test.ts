/**
 * What the Redis backends do when Redis stops answering: each call gives up
 * at its deadline with UnavailableError (counted, published), a limiter then
 * decides as `whenUnavailable` says, the idempotency store never fails open,
 * and what Redis acknowledged survives a restart of a persistent server.
 * Each case runs its own redis-server (paused with SIGSTOP, restarted).
 */
import diagnostics from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { RedisIdempotencyStore, RedisTokenBucket } from '../../src/redis/index.js';
import { idempotent } from '../../src/store/idempotency-http.js';
import { startRedisServer, type RedisServer } from '../../src/testing/redis-server.js';
import { CLIENT_KINDS, connect, freshPrefix, type TestClient } from '../helpers/redis.js';

const fp = RedisIdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{}' });

describe.each(CLIENT_KINDS.filter((k) => k.endsWith('RESP3') || k === 'node-redis RESP2'))('faults, %s', (kind) => {
  let server: RedisServer;
  let c: TestClient;
  beforeAll(async () => {
    server = await startRedisServer({ persistent: true });
    c = await connect(kind, server.url);
  });
  afterAll(async () => {
    server.resume();
    await c.close();
    await server.stop();
  });

  it('a paused server: each call gives up at its deadline; the limiter policies decide; all counted and published', async () => {
    const events: unknown[] = [];
    const listen = (m: unknown) => events.push(m);
    diagnostics.subscribe('sabre:redis:unavailable', listen);
    const base = { client: c.client, prefix: freshPrefix(), burst: 10, refillPerSecond: 1, commandTimeoutMs: 100 };
    const throwing = new RedisTokenBucket(base);
    const open = new RedisTokenBucket({ ...base, whenUnavailable: 'fail-open' });
    const closed = new RedisTokenBucket({ ...base, whenUnavailable: 'fail-closed' });
    const local = new TokenBucket({ burst: 1, refillPerSecond: 0.001, capacity: 8 });
    const fallback = new RedisTokenBucket({ ...base, whenUnavailable: local });
    expect(await throwing.tryAcquire('k')).toBe(true);
    server.pause();
    try {
      const started = performance.now();
      await expect(throwing.check('k')).rejects.toThrow(UnavailableError);
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(95);
      expect(took).toBeLessThan(1_000);
      const d = await open.check('k');
      expect(d, JSON.stringify(d)).toMatchObject({ allowed: true });
      expect(await closed.check('k')).toMatchObject({ allowed: false, retryAfterMs: 100 });
      expect([await fallback.tryAcquire('k'), await fallback.tryAcquire('k')]).toEqual([true, false]); // the local bucket's burst of 1
      expect(throwing.stats()).toEqual({ allowed: 1, denied: 0, unavailable: 1 });
      expect(fallback.stats()).toEqual({ allowed: 1, denied: 1, unavailable: 2 });
      expect(events.map((e) => (e as { decidedBy: string }).decidedBy)).toEqual(['throw', 'fail-open', 'fail-closed', 'local', 'local']);
    } finally {
      server.resume();
      diagnostics.unsubscribe('sabre:redis:unavailable', listen);
    }
    // Answers again; the five calls that timed out ran when the server woke (a late call spends tokens nobody used).
    expect(await throwing.peek('k')).toMatchObject({ allowed: true, remaining: 3 }); // 10 - 6, less the peek's own 1
  });

  it('idempotency never fails open: a paused store answers 503 and the handler does not run', async () => {
    const store = new RedisIdempotencyStore({ client: c.client, prefix: freshPrefix(), leaseMs: 5_000, commandTimeoutMs: 100 });
    let charges = 0;
    server.pause();
    try {
      const reply = await idempotent(
        store,
        { method: 'POST', path: '/charges', headers: { 'idempotency-key': 'pay-1' }, body: '{}' },
        () => {
          charges++;
          return { status: 201 };
        },
      );
      expect([reply.status, reply.outcome, charges]).toEqual([503, 'unavailable', 0]);
      expect(store.stats().unavailable).toBe(1);
    } finally {
      server.resume();
    }
  });

  it('a restart keeps every acknowledged record (persistent server), and the scripts load again (NOSCRIPT)', async () => {
    const prefix = freshPrefix();
    const store = new RedisIdempotencyStore({ client: c.client, prefix, leaseMs: 5_000, commandTimeoutMs: 2_000 });
    const done = await store.begin('paid', fp);
    const held = await store.begin('held', fp);
    if (done.status !== 'new' || held.status !== 'new') throw new Error('not new');
    await store.complete(done.token, { status: 201, body: 'ch_1' });
    await server.restart();
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        expect(await store.begin('paid', fp)).toEqual({ status: 'replay', response: { status: 201, body: 'ch_1' } });
        break;
      } catch (e) {
        if (!(e instanceof UnavailableError) || Date.now() > deadline) throw e; // the client is reconnecting
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect((await store.begin('held', fp)).status).toBe('in-flight');
    await store.complete(held.token, { status: 201 }); // the token still holds its key after the restart
  });
});
