import { Hono, type Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../src/resilience/circuit-breaker.js';
import { ErrorCode } from '../../../src/errors.js';
import { circuitBreaker, type CircuitBreakerMiddlewareOptions } from '../../../src/integrations/hono/index.js';
import { expectCode, thrown } from '../../helpers/errors.js';

/** An app whose GET /call answers what `answer` says, behind `circuitBreaker(options)`; counts the handler's calls. */
function appWith(options: Omit<CircuitBreakerMiddlewareOptions, 'breaker'> & { breaker?: CircuitBreaker } = {}) {
  const breaker = options.breaker ?? new CircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 60_000 });
  const state = { calls: 0, answer: (c: Context): Response | Promise<Response> => c.text('ok') };
  const app = new Hono();
  app.use('/call', circuitBreaker({ ...options, breaker }));
  app.get('/call', (c) => {
    state.calls++;
    return state.answer(c);
  });
  app.onError((e, c) => c.text(`handler failed: ${e.message}`, 500));
  return { app, breaker, state };
}

describe('circuitBreaker (Hono)', () => {
  it('passes requests through while closed and counts their success', async () => {
    const { app, breaker, state } = appWith();
    const res = await app.request('/call');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(state.calls).toBe(1);
    expect(breaker.stats()).toMatchObject({ state: 'CLOSED', successes: 1, failures: 0 });
  });

  it('a 5xx response counts as a failure (an upstream 503 passed on, not thrown), and opens the breaker', async () => {
    const { app, breaker, state } = appWith();
    state.answer = () => new Response('bank down', { status: 503 }); // what a handler returning fetch()'s response does
    for (let i = 0; i < 2; i++) {
      const res = await app.request('/call');
      expect(res.status).toBe(503);
      expect(await res.text()).toBe('bank down'); // the handler's own response stands
    }
    expect(breaker.state).toBe('OPEN');
    const refused = await app.request('/call');
    expect(refused.status).toBe(503);
    expect(state.calls).toBe(2); // not called while open
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(await refused.text()).toMatch(/circuit breaker is open/);
  });

  it('a handler that throws counts as a failure, and the app error handler answers', async () => {
    const { app, breaker, state } = appWith();
    state.answer = () => {
      throw new Error('boom');
    };
    const res = await app.request('/call');
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('handler failed: boom');
    expect(breaker.stats().failures).toBe(1);
  });

  it('4xx answers are successes by default; isFailure decides otherwise', async () => {
    const plain = appWith();
    plain.state.answer = (c) => c.text('no such payment', 404);
    await plain.app.request('/call');
    expect(plain.breaker.stats()).toMatchObject({ successes: 1, failures: 0 });
    const strict = appWith({ isFailure: (c) => c.res.status === 404 });
    strict.state.answer = (c) => c.text('no such payment', 404);
    await strict.app.request('/call');
    expect(strict.breaker.stats()).toMatchObject({ successes: 0, failures: 1 });
  });

  it('Retry-After is whole seconds rounded up, at least 1, never NaN', async () => {
    const { app, state } = appWith({ breaker: new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_500 }) });
    state.answer = (c) => c.text('x', 500);
    await app.request('/call');
    expect((await app.request('/call')).headers.get('retry-after')).toBe('2');
    const quick = appWith({ breaker: new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 10 }) });
    quick.state.answer = (c) => c.text('x', 500);
    await quick.app.request('/call');
    const res = await quick.app.request('/call');
    if (res.status === 503 && res.headers.has('retry-after')) expect(res.headers.get('retry-after')).toBe('1');
  });

  it('problemDetails: refusals are RFC 9457 problem details', async () => {
    const { app, state } = appWith({ problemDetails: true, breaker: new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 }) });
    state.answer = (c) => c.text('x', 502);
    await app.request('/call');
    const res = await app.request('/call');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'the circuit breaker is open: calls are refused for now',
    });
  });

  it("a call longer than the breaker's timeoutMs answers 504 and counts as a failure", async () => {
    const { app, breaker, state } = appWith({
      breaker: new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 60_000, timeoutMs: 20 }),
    });
    state.answer = async (c) => {
      await new Promise((r) => setTimeout(r, 200));
      return c.text('late');
    };
    const res = await app.request('/call');
    expect(res.status).toBe(504);
    expect(breaker.stats().failures).toBe(1);
  });

  it('one breaker opened by one route refuses on another that shares it', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 });
    const app = new Hono();
    app.use('*', circuitBreaker({ breaker }));
    app.get('/a', (c) => c.text('a down', 500));
    let bCalls = 0;
    app.get('/b', (c) => (bCalls++, c.text('b')));
    await app.request('/a');
    expect((await app.request('/b')).status).toBe(503);
    expect(bCalls).toBe(0);
  });

  it('bad options are typed errors when the middleware is made', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_000 });
    for (const bad of [
      {},
      { breaker: {} },
      { breaker: null },
      { breaker, isFailure: 'yes' },
      { breaker, problemDetails: 'true' },
      { breaker, isFaliure: () => true },
    ]) {
      expectCode(
        thrown(() => circuitBreaker(bad as unknown as CircuitBreakerMiddlewareOptions)),
        ErrorCode.INVALID_ARG,
      );
    }
    expect(String(thrown(() => circuitBreaker({ breaker, isFaliure: () => true } as unknown as CircuitBreakerMiddlewareOptions)))).toMatch(
      /isFailure/,
    );
  });
});
