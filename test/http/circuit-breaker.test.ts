import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { httpCircuitBreaker, type BreakerAdmitted } from '../../src/http/circuit-breaker.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { until } from '../helpers/wait.js';

/** A manual clock: a refusal's Retry-After is exactly the reset timeout, whatever the machine's speed. */
const breaker = () => new CircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 30_000, clock: new ManualClock({ startMs: 0 }) });

describe('httpCircuitBreaker: the plain gate', () => {
  it('admits while closed; 2xx-4xx outcomes are successes, 5xx and errors failures; open refuses with 503 and Retry-After', async () => {
    const b = breaker();
    const gate = httpCircuitBreaker({ breaker: b });
    const ok = (await gate()) as BreakerAdmitted;
    expect(ok.allowed).toBe(true);
    ok.done(404);
    await Promise.resolve();
    expect(b.stats()).toMatchObject({ successes: 1, failures: 0 });
    const a = (await gate()) as BreakerAdmitted;
    a.done(503); // an upstream's 503 passed on
    a.done(200); // a second report is ignored
    ((await gate()) as BreakerAdmitted).done(new Error('client went away'));
    await new Promise((r) => setImmediate(r));
    expect(b.stats()).toMatchObject({ state: 'OPEN', successes: 1, failures: 2 });
    const refused = await gate();
    expect(refused).toMatchObject({ allowed: false, status: 503, retryAfterMs: 30_000 });
    if (refused.allowed) throw new Error('unreachable');
    expect(refused.headers).toEqual({ 'Retry-After': '30', 'Content-Type': 'text/plain; charset=UTF-8' });
    expect(refused.body).toBe('Service Unavailable: the circuit breaker is open: calls are refused for now');
  });

  it('isFailure decides what a failure is; problemDetails changes the body', async () => {
    const b = breaker();
    const gate = httpCircuitBreaker({ breaker: b, isFailure: (s) => s === 429 || s >= 500, problemDetails: true });
    for (let i = 0; i < 2; i++) ((await gate()) as BreakerAdmitted).done(429);
    await new Promise((r) => setImmediate(r));
    const refused = await gate();
    if (refused.allowed) throw new Error('expected a refusal');
    expect(refused.headers['Content-Type']).toBe('application/problem+json');
    expect(JSON.parse(refused.body)).toMatchObject({ type: 'about:blank', status: 503, title: 'Service Unavailable' });
  });

  it("the breaker's timeout aborts the admitted call's signal and counts a failure", async () => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 30_000, timeoutMs: 20 });
    const call = (await httpCircuitBreaker({ breaker: b })()) as BreakerAdmitted;
    await new Promise((resolve) => call.signal?.addEventListener('abort', resolve));
    call.done(200); // too late: the timeout was counted
    expect(b.state).toBe('OPEN');
  });

  it('bad options: a typed error when it is made', () => {
    expectCode(
      thrown(() => httpCircuitBreaker({ breaker: {} as never })),
      ErrorCode.INVALID_ARG,
      /breaker must be a CircuitBreaker/,
    );
    expectCode(
      thrown(() => httpCircuitBreaker({ breaker: breaker(), isFailure: 5 as never })),
      ErrorCode.INVALID_ARG,
      /isFailure/,
    );
  });

  it("wired into node:http: an upstream's 503 opens it, then requests are refused without reaching the upstream", async () => {
    let upstreamCalls = 0;
    const b = breaker();
    const gate = httpCircuitBreaker({ breaker: b });
    const handle = async (res: ServerResponse): Promise<void> => {
      const call = await gate();
      if (!call.allowed) return void res.writeHead(call.status, call.headers).end(call.body);
      res.once('close', () => call.done(res.writableFinished ? res.statusCode : new Error('the client went away')));
      upstreamCalls++;
      res.writeHead(503).end('bank down');
    };
    const server = createServer((_req, res) => void handle(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      for (let i = 0; i < 2; i++) expect(await (await fetch(url)).text()).toBe('bank down');
      await until(() => b.state === 'OPEN'); // 'close' follows the response
      const refused = await fetch(url);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('30');
      expect(await refused.text()).toMatch(/circuit breaker is open/);
      expect(upstreamCalls).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
