import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { httpRateLimit, type HttpRequestLike } from '../../src/http/rate-limit.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { expectCode, thrown } from '../helpers/errors.js';

const bucket = () => new TokenBucket({ burst: 2, refillPerSecond: 1, capacity: 16, clock: new ManualClock({ startMs: 0 }) });

describe('httpRateLimit: the plain (request) => verdict form', () => {
  it('takes the request shapes of Express and Fastify (req.ip), node:http (socket) and fetch (Headers)', () => {
    const limit = httpRateLimit({ limiter: bucket() });
    const express: HttpRequestLike = { headers: {}, ip: '203.0.113.7', socket: { remoteAddress: '10.0.0.1' } }; // ip wins: trust proxy
    expect(limit(express)).toMatchObject({ allowed: true, status: 200, key: 'ip:203.0.113.7', body: undefined });
    const node: HttpRequestLike = { headers: { 'x-api-key': 'k1' }, socket: { remoteAddress: '10.0.0.1' } };
    expect(limit(node).key).toBe('key:k1');
    const fetchLike: HttpRequestLike = { headers: new Headers({ 'x-api-key': 'k2' }) };
    expect(limit(fetchLike).key).toBe('key:k2');
  });

  it('a verdict carries everything to answer with: status, fields, Retry-After, body', () => {
    const limit = httpRateLimit({ limiter: bucket(), headers: 'draft-7' });
    const req: HttpRequestLike = { headers: {}, ip: '203.0.113.7' };
    expect(limit(req).headers).toEqual({ 'RateLimit-Policy': '2;w=2', RateLimit: 'limit=2, remaining=1, reset=1' });
    limit(req);
    const refused = limit(req);
    expect(refused).toMatchObject({ allowed: false, status: 429, key: 'ip:203.0.113.7' });
    expect(refused.decision?.retryAfterMs).toBe(1000);
    expect(refused.headers).toEqual({
      'RateLimit-Policy': '2;w=2',
      RateLimit: 'limit=2, remaining=0, reset=1',
      'Retry-After': '1',
      'Content-Type': 'text/plain; charset=UTF-8',
    });
    expect(refused.body).toBe('Too Many Requests: the rate limit for this client is used up; retry after 1 s');
  });

  it('a hostile x-api-key: 400, not counted; a repeated one (joined by Node) too', () => {
    const limiter = bucket();
    const limit = httpRateLimit({ limiter });
    expect(limit({ headers: { 'x-api-key': '\u0000'.repeat(10) }, ip: '203.0.113.7' })).toMatchObject({ allowed: false, status: 400 });
    expect(limit({ headers: { 'x-api-key': ['a', 'b'] }, ip: '203.0.113.7' }).status).toBe(400);
    expect(limiter.size).toBe(0);
  });

  it('skip, keyGenerator and cost', () => {
    const limiter = bucket();
    const limit = httpRateLimit({
      limiter,
      skip: (r) => r.ip === '127.0.0.1',
      keyGenerator: (r) => `tenant:${String((r.headers as Record<string, string>)['x-tenant'])}`,
      cost: () => 2,
    });
    expect(limit({ headers: {}, ip: '127.0.0.1' })).toMatchObject({ allowed: true, key: undefined, decision: undefined });
    expect(limit({ headers: { 'x-tenant': 'a' } })).toMatchObject({ allowed: true, key: 'tenant:a' });
    expect(limit({ headers: { 'x-tenant': 'a' } }).status).toBe(429);
    expect(limiter.size).toBe(1);
  });

  it('no key to be found: a typed error naming the way out', () => {
    expectCode(
      thrown(() => httpRateLimit({ limiter: bucket() })({ headers: {} })),
      ErrorCode.INVALID_ARG,
      /pass keyGenerator/,
    );
  });

  it('bad options: a typed error when it is made', () => {
    expectCode(
      thrown(() => httpRateLimit({ limiter: bucket(), onFull: () => 1 } as never)),
      ErrorCode.INVALID_ARG,
      /unknown option "onFull"/,
    );
    expectCode(
      thrown(() => httpRateLimit({ limiter: bucket(), headers: 'draft-5' as never })),
      ErrorCode.INVALID_ARG,
      /headers must be one of/,
    );
  });

  it('wired into node:http in a few lines, as the README shows', async () => {
    const limit = httpRateLimit({ limiter: new TokenBucket({ burst: 1, refillPerSecond: 0.01, capacity: 8 }) });
    const server = createServer((req: IncomingMessage, res) => {
      const verdict = limit(req);
      for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
      if (!verdict.allowed) return void res.writeHead(verdict.status).end(verdict.body);
      res.end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const ok = await fetch(url);
      expect(await ok.text()).toBe('hello');
      expect(ok.headers.get('ratelimit')).toBe('"default";a=0;w=100;c=1');
      const refused = await fetch(url);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('100');
      expect(await refused.text()).toMatch(/^Too Many Requests/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
