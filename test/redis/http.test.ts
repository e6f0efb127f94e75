/**
 * The HTTP gates and the Hono middleware take the Redis backends unchanged:
 * a limiter, a store and a breaker whose calls answer by promises.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { circuitBreaker, idempotency, rateLimit, type IdempotencyEnv } from '../../src/integrations/hono/index.js';
import { UnavailableError } from '../../src/errors.js';
import { httpRateLimit } from '../../src/http/rate-limit.js';
import { idempotent } from '../../src/store/idempotency-http.js';
import { RedisCircuitBreaker, RedisIdempotencyStore, RedisSlidingWindow, RedisTokenBucket } from '../../src/redis/index.js';
import { connect, freshPrefix, type TestClient } from '../helpers/redis.js';

const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

describe('the HTTP gates over Redis', () => {
  let c: TestClient;
  beforeAll(async () => {
    c = await connect('ioredis RESP3');
  });
  afterAll(async () => c.close());

  it('rateLimit (Hono) with a RedisTokenBucket: 429 with the draft-12 fields and Retry-After once spent', async () => {
    const limiter = new RedisTokenBucket({ client: c.client, prefix: freshPrefix(), burst: 2, refillPerSecond: 1 });
    const app = new Hono();
    app.use('*', rateLimit({ limiter }));
    app.get('/', (ctx) => ctx.text('ok'));
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await app.request('/', {}, from('203.0.113.9'))).status);
    expect(statuses).toEqual([200, 200, 429]);
    const refused = await app.request('/', {}, from('203.0.113.9'));
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('ratelimit')).toMatch(/^"default";a=0;w=1;c=1$/);
    expect((await app.request('/', {}, from('198.51.100.1'))).status).toBe(200);
  });

  it('httpRateLimit with a RedisSlidingWindow returns a promise of the verdict', async () => {
    const limit = httpRateLimit({
      limiter: new RedisSlidingWindow({ client: c.client, prefix: freshPrefix(), limit: 1, windowMs: 60_000 }),
    });
    const req = { headers: { 'x-api-key': 'abc' } };
    const first = await limit(req);
    const second = await limit(req);
    expect([first.status, second.status]).toEqual([200, 429]);
    expect(second.headers['Retry-After']).toBe('60');
  });

  it('idempotency (Hono) with a RedisIdempotencyStore: runs once, replays, 409 while in flight, 422 for another body', async () => {
    const store = new RedisIdempotencyStore({ client: c.client, prefix: freshPrefix(), leaseMs: 5_000 });
    const app = new Hono<IdempotencyEnv>();
    let charges = 0;
    let gate: Promise<void> = Promise.resolve();
    app.use('/charges', idempotency({ store }));
    app.post('/charges', async (ctx) => {
      await gate;
      charges++;
      return ctx.json({ id: `ch_${charges}` }, 201);
    });
    const post = (key: string, body: string) =>
      app.request('/charges', { method: 'POST', headers: { 'idempotency-key': key, 'content-type': 'application/json' }, body });
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const first = post('k1', '{"amount":5}');
    await new Promise((r) => setTimeout(r, 30));
    expect((await post('k1', '{"amount":5}')).status).toBe(409);
    open();
    const a = await first;
    expect(a.status).toBe(201);
    const b = await post('k1', '{"amount":5}');
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(await b.json()).toEqual(await a.json());
    expect((await post('k1', '{"amount":6}')).status).toBe(422);
    expect(charges).toBe(1);
  });

  it('circuitBreaker (Hono) with a RedisCircuitBreaker: an upstream 503 opens it for every process', async () => {
    const prefix = freshPrefix();
    const breaker = new RedisCircuitBreaker({ client: c.client, prefix, name: 'bank', failureThreshold: 2, resetTimeoutMs: 60_000 });
    const app = new Hono();
    app.use('*', circuitBreaker({ breaker }));
    app.get('/', (ctx) => ctx.text('bank down', 503));
    expect((await app.request('/')).status).toBe(503);
    expect((await app.request('/')).status).toBe(503);
    const other = new RedisCircuitBreaker({ client: c.client, prefix, name: 'bank', failureThreshold: 2, resetTimeoutMs: 60_000 });
    expect((await other.read()).state).toBe('OPEN'); // another process sees it open
    const refused = await app.request('/');
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50);
  });

  it('idempotent() answers 503 when the store cannot be reached, and does not run the handler', async () => {
    const dead = { begin: () => Promise.reject(new UnavailableError('down')), complete: () => {}, abort: () => {} };
    let ran = false;
    const reply = await idempotent(dead, { method: 'POST', path: '/', headers: { 'idempotency-key': 'k' } }, () => {
      ran = true;
      return { status: 201 };
    });
    expect([reply.status, reply.outcome, reply.headers['retry-after'], ran]).toEqual([503, 'unavailable', '1', false]);
  });

  it('the idempotency middleware answers 503 with Retry-After when its store cannot be reached, and the handler does not run', async () => {
    const dead = { begin: () => Promise.reject(new UnavailableError('down')), complete: () => {}, abort: () => {} };
    const app = new Hono<IdempotencyEnv>();
    let ran = false;
    app.use('/charges', idempotency({ store: dead, problemDetails: true }));
    app.post('/charges', (ctx) => {
      ran = true;
      return ctx.json({}, 201);
    });
    const r = await app.request('/charges', { method: 'POST', headers: { 'idempotency-key': 'k' }, body: '{}' });
    expect([r.status, r.headers.get('retry-after'), r.headers.get('content-type'), ran]).toEqual([
      503,
      '1',
      'application/problem+json',
      false,
    ]);
  });
});
