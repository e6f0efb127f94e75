import { Hono, type Context } from 'hono';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { ErrorCode } from '../../../src/errors.js';
import { TokenBucket } from '../../../src/limit/token-bucket.js';
import { SlidingWindow } from '../../../src/limit/sliding-window.js';
import { rateLimit, type RateLimitEnv, type RateLimitMiddlewareOptions } from '../../../src/integrations/hono/index.js';
import { expectCode, thrown } from '../../helpers/errors.js';

/** What @hono/node-server passes as c.env: the request, whose socket has the client's address. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

function appWith(options: Partial<Omit<RateLimitMiddlewareOptions, 'limiter'>> & { limiter?: TokenBucket | SlidingWindow } = {}) {
  const clock = new ManualClock({ startMs: 0 });
  const limiter = options.limiter ?? new TokenBucket({ burst: 2, refillPerSecond: 1, capacity: 64, clock });
  const state = { calls: 0, answer: (c: Context<RateLimitEnv>): Response | Promise<Response> => c.text('ok') };
  const app = new Hono<RateLimitEnv>();
  app.use('/api/*', rateLimit({ ...options, limiter }));
  app.get('/api/x', (c) => {
    state.calls++;
    return state.answer(c);
  });
  app.onError((e, c) => c.text(`error: ${e.message}`, 500));
  return { app, limiter, clock, state };
}

describe('rateLimit (Hono)', () => {
  it('counts each client under its own key, answers 429 with Retry-After when spent, and does not call the handler', async () => {
    const { app, state, clock } = appWith();
    for (let i = 0; i < 2; i++) expect((await app.request('/api/x', {}, from('203.0.113.7'))).status).toBe(200);
    const refused = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('content-type')).toBe('text/plain; charset=UTF-8');
    expect(await refused.text()).toMatch(/^Too Many Requests: the rate limit for this client is used up; retry after 1 s$/);
    expect(state.calls).toBe(2);
    expect((await app.request('/api/x', {}, from('198.51.100.1'))).status).toBe(200); // another client
    clock.advance(1000);
    expect((await app.request('/api/x', {}, from('203.0.113.7'))).status).toBe(200); // refilled
  });

  it('sends the draft-12 fields by default, on allowed and refused responses alike', async () => {
    const { app } = appWith();
    const ok = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(ok.headers.get('ratelimit-policy')).toBe('"default";q=2;w=2');
    expect(ok.headers.get('ratelimit')).toBe('"default";a=1;w=1;c=1');
    await app.request('/api/x', {}, from('203.0.113.7'));
    const refused = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(refused.headers.get('ratelimit')).toBe('"default";a=0;w=1;c=1');
    expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=2;w=2');
  });

  it.each([
    [
      'draft-6',
      { 'ratelimit-policy': '2;w=2', 'ratelimit-limit': '2', 'ratelimit-remaining': '1', 'ratelimit-reset': '1', ratelimit: null },
    ],
    ['draft-7', { 'ratelimit-policy': '2;w=2', ratelimit: 'limit=2, remaining=1, reset=1' }],
    ['draft-8', { 'ratelimit-policy': '"default";q=2;w=2', ratelimit: '"default";r=1;t=1' }],
    ['draft-10', { 'ratelimit-policy': '"default";q=2;w=2', ratelimit: '"default";r=1;t=1' }],
    ['draft-12', { 'ratelimit-policy': '"default";q=2;w=2', ratelimit: '"default";a=1;w=1;c=1' }],
    [false, { 'ratelimit-policy': null, ratelimit: null, 'ratelimit-limit': null }],
  ] as const)('headers: %s', async (headers, expected) => {
    const { app } = appWith({ headers });
    const res = await app.request('/api/x', {}, from('203.0.113.7'));
    for (const [name, value] of Object.entries(expected)) expect(res.headers.get(name), name).toBe(value);
  });

  it('headers: false still sends Retry-After with a 429', async () => {
    const { app } = appWith({ headers: false });
    for (let i = 0; i < 2; i++) await app.request('/api/x', {}, from('203.0.113.7'));
    const refused = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('ratelimit')).toBeNull();
  });

  it('the fields reach a handler that returns a Response of its own (immutable headers too)', async () => {
    const { app, state } = appWith();
    state.answer = () => new Response('raw', { status: 201 });
    const res = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(res.status).toBe(201);
    expect(res.headers.get('ratelimit')).toBe('"default";a=1;w=1;c=1');
    const upstream = await fetch('data:text/plain,from-upstream'); // a fetch's headers are immutable
    state.answer = () => upstream.clone();
    const passed = await app.request('/api/x', {}, from('203.0.113.8'));
    expect(await passed.text()).toBe('from-upstream');
    expect(passed.headers.get('ratelimit')).toBe('"default";a=1;w=1;c=1');
  });

  it('an x-api-key is the key when present; the address otherwise', async () => {
    const { app } = appWith();
    const withKey = { headers: { 'x-api-key': 'k_live_1' } };
    for (let i = 0; i < 2; i++) expect((await app.request('/api/x', withKey, from('203.0.113.7'))).status).toBe(200);
    expect((await app.request('/api/x', withKey, from('198.51.100.9'))).status).toBe(429); // the key, from anywhere
    expect((await app.request('/api/x', {}, from('203.0.113.7'))).status).toBe(200); // the address, keyless
  });

  it('IPv6 clients of one /56 share a quota; ipv6Subnet changes the grouping', async () => {
    const { app } = appWith();
    expect((await app.request('/api/x', {}, from('2001:db8:aa:bb01::1'))).status).toBe(200);
    expect((await app.request('/api/x', {}, from('2001:db8:aa:bbff::2'))).status).toBe(200);
    expect((await app.request('/api/x', {}, from('2001:db8:aa:bb42::3'))).status).toBe(429);
    expect((await app.request('/api/x', {}, from('2001:db8:aa:bc00::1'))).status).toBe(200);
    const per128 = appWith({ ipv6Subnet: 128 });
    for (const a of ['2001:db8::1', '2001:db8::2', '2001:db8::3'])
      expect((await per128.app.request('/api/x', {}, from(a))).status).toBe(200);
  });

  it('hostile x-api-key values: a clear 400, nothing counted, the handler not called', async () => {
    const { app, state, limiter } = appWith();
    for (const key of ['x'.repeat(201), 'a b', 'caf\u00e9', '\u007f']) {
      const res = await app.request('/api/x', { headers: { 'x-api-key': key } }, from('203.0.113.7'));
      expect(res.status, JSON.stringify(key)).toBe(400);
      expect(await res.text()).toMatch(/^Bad Request: the x-api-key header/);
    }
    expect(state.calls).toBe(0);
    expect(limiter.size).toBe(0);
  });

  it('keys crafted to collide cannot push out other clients: a full key table refuses the new keys (whenFull), not the known ones', async () => {
    const clock = new ManualClock({ startMs: 0 });
    const limiter = new TokenBucket({ burst: 5, refillPerSecond: 0.001, capacity: 8, clock, whenFull: 'fail-closed' });
    const { app } = appWith({ limiter });
    expect((await app.request('/api/x', { headers: { 'x-api-key': 'known' } }, from('203.0.113.7'))).status).toBe(200);
    let refused = 0;
    for (let i = 0; i < 100; i++) {
      const res = await app.request('/api/x', { headers: { 'x-api-key': `forged-${i}` } }, from('203.0.113.66'));
      if (res.status === 429) refused++;
    }
    expect(refused).toBeGreaterThan(80);
    expect((await app.request('/api/x', { headers: { 'x-api-key': 'known' } }, from('203.0.113.7'))).status).toBe(200);
  });

  it('keyGenerator, skip and cost (numbers or per request, sync or async)', async () => {
    const { app, state, limiter } = appWith({
      keyGenerator: async (c) => `user:${c.req.query('user') ?? 'anon'}`,
      skip: (c) => c.req.query('health') === '1',
      cost: async (c) => Number(c.req.query('cost') ?? 1),
    });
    expect((await app.request('/api/x?user=a&cost=2')).status).toBe(200);
    expect((await app.request('/api/x?user=a')).status).toBe(429);
    expect((await app.request('/api/x?user=b')).status).toBe(200);
    expect((await app.request('/api/x?user=a&health=1')).status).toBe(200); // skipped: not counted
    expect(state.calls).toBe(3);
    expect(limiter.size).toBe(2);
    const res = await app.request('/api/x?user=c&cost=2');
    expect(res.headers.get('ratelimit')).toBe('"default";a=0;w=2;c=2');
  });

  it('c.var.rateLimit has the key and the decision', async () => {
    const { app, state } = appWith();
    state.answer = (c) => c.json({ key: c.var.rateLimit.key, remaining: c.var.rateLimit.decision?.remaining });
    expect(await (await app.request('/api/x', {}, from('203.0.113.7'))).json()).toEqual({ key: 'ip:203.0.113.7', remaining: 1 });
  });

  it('onFull answers a refusal its own way; the fields and Retry-After are added', async () => {
    const { app } = appWith({ onFull: (c, d) => c.json({ error: 'slow down', retryInMs: d.retryAfterMs }, 429) });
    for (let i = 0; i < 2; i++) await app.request('/api/x', {}, from('203.0.113.7'));
    const res = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: 'slow down', retryInMs: 1000 });
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('ratelimit')).toBe('"default";a=0;w=1;c=1');
  });

  it("problemDetails: the draft's quota-exceeded problem type, naming the policy", async () => {
    const { app } = appWith({ problemDetails: true, policy: { name: 'per-client', quota: 2, windowMs: 2000 } });
    for (let i = 0; i < 2; i++) await app.request('/api/x', {}, from('203.0.113.7'));
    const res = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Too Many Requests',
      status: 429,
      detail: 'the rate limit for this client is used up; retry after 1 s',
      'violated-policies': ['per-client'],
    });
    expect(res.headers.get('ratelimit')).toBe('"per-client";a=0;w=1;c=1');
  });

  it('a SlidingWindow works the same way', async () => {
    const clock = new ManualClock({ startMs: 0 });
    const { app } = appWith({ limiter: new SlidingWindow({ limit: 1, windowMs: 10_000, capacity: 8, clock }), headers: 'draft-10' });
    expect((await app.request('/api/x', {}, from('203.0.113.7'))).headers.get('ratelimit')).toBe('"default";r=0;t=10');
    const refused = await app.request('/api/x', {}, from('203.0.113.7'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('10');
  });

  it('no key to be found (no socket, no x-api-key, no keyGenerator): a typed error to the app, the handler not called', async () => {
    const { app, state } = appWith();
    const res = await app.request('/api/x');
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/pass keyGenerator/);
    expect(state.calls).toBe(0);
  });

  it('a cost or key of the wrong kind per request: a typed error, nothing counted', async () => {
    const bad = appWith({ cost: () => 0, keyGenerator: () => 'k' });
    expect(await (await bad.app.request('/api/x')).text()).toMatch(/cost must be an integer >= 1, got 0/);
    const badKey = appWith({ keyGenerator: () => 42 as unknown as string });
    expect(await (await badKey.app.request('/api/x')).text()).toMatch(/keyGenerator must return a non-empty string, got 42/);
    expect(bad.limiter.size + badKey.limiter.size).toBe(0);
  });

  it.each([
    [{}, /limiter/],
    [{ limiter: {} }, /limiter must be a TokenBucket or a SlidingWindow/],
    [{ limiter: new TokenBucket({ burst: 1, refillPerSecond: 1 }), headers: 'draft-9' }, /headers must be one of/],
    [{ limiter: new TokenBucket({ burst: 1, refillPerSecond: 1 }), cost: 0 }, /cost must be an integer >= 1/],
    [{ limiter: new TokenBucket({ burst: 1, refillPerSecond: 1 }), ipv6Subnet: 0 }, /ipv6Subnet must be an integer prefix length/],
    [{ limiter: new TokenBucket({ burst: 1, refillPerSecond: 1 }), policy: { window: 1 } }, /did you mean "windowMs"/],
    [{ limiter: new TokenBucket({ burst: 1, refillPerSecond: 1 }), standardHeaders: 'draft-7' }, /unknown option "standardHeaders"/],
  ])('bad options %#: a typed error when the middleware is made', (options, message) => {
    expectCode(
      thrown(() => rateLimit(options as never)),
      ErrorCode.INVALID_ARG,
      message,
    );
  });

  it("on Node's HTTP server: the socket's address is the key", async () => {
    const limiter = new TokenBucket({ burst: 1, refillPerSecond: 0.001, capacity: 8 });
    const app = new Hono<RateLimitEnv>();
    app.use('*', rateLimit({ limiter }));
    app.get('/', (c) => c.text(c.var.rateLimit.key ?? ''));
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const first = await fetch(url);
      expect(await first.text()).toBe('ip:127.0.0.1');
      expect(first.headers.get('ratelimit')).toBe('"default";a=0;w=1000;c=1');
      const second = await fetch(url);
      expect(second.status).toBe(429);
      expect(second.headers.get('retry-after')).toBe('1000');
      await second.text();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
