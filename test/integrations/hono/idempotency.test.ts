import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.js';
import { IdempotencyStore } from '../../../src/store/idempotency-store.js';
import { ManualClock } from '../../../src/clock.js';
import { idempotency, type IdempotencyEnv, type IdempotencyMiddlewareOptions } from '../../../src/integrations/hono/index.js';
import { expectCode, thrown } from '../../helpers/errors.js';
import { until } from '../../helpers/wait.js';

/** A payments app: POST /payments charges (counted in `charges`) behind `idempotency(options)`. */
function payments(options: Partial<IdempotencyMiddlewareOptions> = {}) {
  const store = options.store ?? new IdempotencyStore({ capacity: 64, leaseMs: 30_000, retentionMs: 60_000 });
  const state = { charges: 0, gate: undefined as Promise<void> | undefined, fail: false, seen: [] as unknown[] };
  const app = new Hono<IdempotencyEnv>();
  app.use('/payments', idempotency({ ...options, store }));
  app.post('/payments', async (c) => {
    const { amount } = await c.req.json<{ amount: number }>(); // the body is still readable after the middleware
    state.seen.push(c.var.idempotency);
    if (state.gate !== undefined) await state.gate;
    if (state.fail) throw new Error('bank unreachable');
    state.charges++;
    c.header('x-charge', String(state.charges));
    return c.json({ id: `pay_${state.charges}`, amount }, 201);
  });
  app.get('/payments', (c) => c.json({ list: [] }));
  app.onError((e, c) => c.text(`failed: ${e.message}`, 502));
  const post = (key: string | undefined, amount = 100, headers: Record<string, string> = {}) =>
    app.request('/payments', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }), ...headers },
      body: JSON.stringify({ amount }),
    });
  return { app, store, state, post };
}

describe('idempotency (Hono)', () => {
  it('bodies are fingerprinted by their bytes: two binary bodies that decode alike as text are still two requests (422)', async () => {
    const store = new IdempotencyStore({ capacity: 8, leaseMs: 30_000 });
    const app = new Hono();
    app.use('/upload', idempotency({ store }));
    app.post('/upload', async (c) => c.json({ bytes: (await c.req.arrayBuffer()).byteLength }, 201));
    const send = (bytes: number[], type: string) =>
      app.request('/upload', { method: 'POST', headers: { 'idempotency-key': 'u1', 'content-type': type }, body: new Uint8Array(bytes) });
    expect((await send([0xff, 0x01], 'application/json')).status).toBe(201); // not UTF-8, though labelled JSON
    expect((await send([0xfe, 0x01], 'application/json')).status).toBe(422); // both decode to U+FFFD U+0001
    expect((await send([0xff, 0x01], 'application/octet-stream')).headers.get('idempotent-replayed')).toBe('true'); // the same bytes
  });

  it('c.var.idempotency.recovered: the retry that takes over a lapsed lease is told to look upstream first', async () => {
    const clock = new ManualClock({ startMs: 0 });
    const { state, post } = payments({ store: new IdempotencyStore({ capacity: 8, leaseMs: 1000, clock }) });
    let release!: () => void;
    state.gate = new Promise((r) => (release = r));
    const stuck = post('k');
    await until(() => state.seen.length === 1, { what: 'the first request runs' });
    clock.advance(1000); // its lease lapses while it is stuck upstream
    state.gate = undefined;
    expect((await post('k')).status).toBe(201);
    expect(state.seen).toEqual([
      { key: 'k', outcome: 'executed', recovered: false },
      { key: 'k', outcome: 'executed', recovered: true },
    ]);
    release();
    expect((await stuck).status).toBe(201); // its response stands, but the record is the retry's (lease-lost)
  });

  it('the first request runs; a retry gets the recorded status, headers and body with Idempotent-Replayed, and no second charge', async () => {
    const { state, post } = payments();
    const first = await post('k1');
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ id: 'pay_1', amount: 100 });
    const again = await post('k1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-charge')).toBe('1');
    expect(again.headers.get('content-type')).toMatch(/application\/json/);
    expect(await again.json()).toEqual({ id: 'pay_1', amount: 100 });
    expect(state.charges).toBe(1);
    expect(state.seen).toEqual([{ key: 'k1', outcome: 'executed', recovered: false }]);
  });

  it('400 without the header on a covered method; other methods pass untouched', async () => {
    const { app, state, post } = payments();
    const res = await post(undefined);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/^Idempotency-Key is missing: /);
    expect(state.charges).toBe(0);
    expect((await app.request('/payments')).status).toBe(200);
  });

  it('required: false runs a request without a key, unrecorded', async () => {
    const { state, post } = payments({ required: false });
    expect((await post(undefined)).status).toBe(201);
    expect((await post(undefined)).status).toBe(201);
    expect(state.charges).toBe(2);
    expect(state.seen).toEqual([
      { key: undefined, outcome: 'unkeyed', recovered: false },
      { key: undefined, outcome: 'unkeyed', recovered: false },
    ]);
  });

  it('409 while the first is in flight, with a Retry-After of about one request, not the 30 s lease', async () => {
    const { state, post } = payments();
    await post('warm'); // one quick run: this thread now knows requests take milliseconds
    let release!: () => void;
    state.gate = new Promise<void>((resolve) => (release = resolve));
    const first = post('k2');
    await until(() => state.seen.length === 2, { what: 'the first request holds its key' });
    const dup = await post('k2');
    expect(dup.status).toBe(409);
    expect(dup.headers.get('retry-after')).toBe('1');
    release();
    expect((await first).status).toBe(201);
    expect(state.charges).toBe(2);
  });

  it('422 when the key is reused with another body', async () => {
    const { state, post } = payments();
    await post('k3', 100);
    const res = await post('k3', 999);
    expect(res.status).toBe(422);
    expect(state.charges).toBe(1);
  });

  it('a handler that throws records nothing: the app error handler answers, and the retry runs', async () => {
    const { state, post } = payments();
    state.fail = true;
    const failed = await post('k4');
    expect(failed.status).toBe(502);
    expect(await failed.text()).toBe('failed: bank unreachable');
    state.fail = false;
    const retried = await post('k4');
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(state.charges).toBe(1);
  });

  it('problemDetails: refusals are RFC 9457 problem details', async () => {
    const { post } = payments({ problemDetails: true });
    const res = await post(undefined);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ type: 'about:blank', status: 400, title: 'Idempotency-Key is missing' });
  });

  it('maxKeyLength: a longer key is 400; a quoted (Structured Field) key is accepted', async () => {
    const { state, post } = payments({ maxKeyLength: 8 });
    expect((await post('123456789')).status).toBe(400);
    expect((await post('"abc"')).status).toBe(201);
    expect((await post('abc')).headers.get('idempotent-replayed')).toBe('true'); // the same key, bare
    expect(state.charges).toBe(1);
  });

  it('methods: only the methods given are covered', async () => {
    const store = new IdempotencyStore({ capacity: 8, leaseMs: 1_000, retentionMs: 60_000 });
    const app = new Hono();
    app.use('*', idempotency({ store, methods: ['put'] }));
    let puts = 0;
    app.put('/x', (c) => (puts++, c.text('put')));
    app.post('/x', (c) => c.text('post'));
    expect((await app.request('/x', { method: 'PUT' })).status).toBe(400);
    expect((await app.request('/x', { method: 'POST' })).status).toBe(200);
    await app.request('/x', { method: 'PUT', headers: { 'idempotency-key': 'p' } });
    await app.request('/x', { method: 'PUT', headers: { 'idempotency-key': 'p' } });
    expect(puts).toBe(1);
  });

  it('bad options are typed errors when the middleware is made', () => {
    const store = new IdempotencyStore({ capacity: 8, leaseMs: 1_000, retentionMs: 1_000 });
    for (const bad of [
      {},
      { store: {} },
      { store, methods: [] },
      { store, methods: ['PO ST'] },
      { store, maxKeyLength: 0 },
      { store, maxKeyLength: 256 },
      { store, required: 'yes' },
      { store, fingerprint: 'body' },
      { store, problemDetail: true },
    ]) {
      expectCode(
        thrown(() => idempotency(bad as unknown as IdempotencyMiddlewareOptions)),
        ErrorCode.INVALID_ARG,
      );
    }
  });
});
