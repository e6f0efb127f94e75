import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPaymentsApi, type PaymentsApi } from '../../examples/payments-api.js';
import { runLoad } from '../../examples/payments/load.js';

describe('the payments API under load (the short version of npm run loadtest)', () => {
  it("the bank's ledger, deduplication off: no payment charged twice, every 201 charged", async () => {
    const r = await runLoad({ durationSeconds: 4, connections: 10, threads: 2, kill: true });
    expect(r.requests).toBeGreaterThan(100);
    expect(r.statuses['201']).toBeGreaterThan(0);
    expect(r.chargedTwice).toEqual([]);
    expect(r.lost).toEqual([]);
  }, 60_000);

  it('across 2 processes (node:cluster) with the state in one Redis, one process killed: the ledger check passes', async () => {
    const r = await runLoad({ durationSeconds: 4, connections: 10, threads: 1, processes: 2, kill: true });
    expect(r.processes).toBe(2);
    expect(r.killed).toBe(true);
    expect(r.statuses['201']).toBeGreaterThan(0);
    expect(r.chargedTwice).toEqual([]);
    expect(r.lost).toEqual([]);
  });

  it("meta: across 2 processes with each process's own shared-memory state, duplicates charge twice, and the check says so", async () => {
    const r = await runLoad({ durationSeconds: 3, connections: 10, threads: 1, processes: 2, kill: false, perProcessState: true });
    expect(r.chargedTwice.length).toBeGreaterThan(0);
  });

  it('meta: the same load with an API that retries any failed bank call charges twice, and the check says so', async () => {
    const r = await runLoad({ durationSeconds: 3, connections: 10, threads: 1, kill: false, retryOn: 'any-failure' });
    expect(r.chargedTwice.length).toBeGreaterThan(0);
  }, 60_000);
});

describe('the payments API: bad input gets a clear 4xx, and nothing is lost', () => {
  let api: PaymentsApi;
  const pay = { amount: 500, currency: 'EUR', card: '4242424242424242' };
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const problemOf = async (res: Response) => ({
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as { detail: string },
  });

  beforeAll(async () => {
    api = await startPaymentsApi({ threads: 2, headersTimeoutMs: 400, capacity: 1_000 });
  });
  afterAll(async () => {
    await api.stop();
  });

  it('malformed JSON: 400, and the key stays retryable (nothing recorded for it)', async () => {
    const bad = await problemOf(await post('/payments', '{"amount": 5', { 'idempotency-key': 'mal-1' }));
    expect(bad).toMatchObject({ status: 400, type: 'application/problem+json', body: { detail: 'the body must be a JSON object' } });
    expect((await post('/payments', '[1,2]', { 'idempotency-key': 'mal-1' })).status).toBe(400);
    expect((await post('/payments', JSON.stringify({ ...pay, amount: -1 }), { 'idempotency-key': 'mal-1' })).status).toBe(422);
    expect((await post('/payments', JSON.stringify(pay), { 'idempotency-key': 'mal-1' })).status).toBe(201);
    expect(api.bank!.chargesOf('mal-1')).toHaveLength(1);
  });

  it('an oversized body: 413 before anything runs', async () => {
    const big = JSON.stringify({ ...pay, padding: 'x'.repeat(20_000) });
    const res = await problemOf(await post('/payments', big, { 'idempotency-key': 'big-1' }));
    expect(res).toMatchObject({ status: 413, body: { detail: 'the body must be at most 16384 bytes' } });
    expect(api.bank!.chargesOf('big-1')).toHaveLength(0);
  });

  it('a missing, empty or overlong Idempotency-Key: 400', async () => {
    expect((await post('/payments', JSON.stringify(pay))).status).toBe(400);
    expect((await post('/payments', JSON.stringify(pay), { 'idempotency-key': '' })).status).toBe(400);
    expect((await post('/payments', JSON.stringify(pay), { 'idempotency-key': 'k'.repeat(256) })).status).toBe(400);
  });

  it('hostile x-api-key values (huge, binary, many made up to exhaust the key table): 400 or 429, other clients unaffected', async () => {
    expect((await post('/payments', JSON.stringify(pay), { 'idempotency-key': 'h-1', 'x-api-key': 'k'.repeat(8_000) })).status).toBe(400);
    const binary = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(api.url).port), '127.0.0.1', () => {
        socket.end(
          Buffer.concat([
            Buffer.from('GET /payments/none HTTP/1.1\r\nhost: x\r\nx-api-key: '),
            Buffer.from([0x80, 0xff, 0xfe]),
            Buffer.from('\r\nconnection: close\r\n\r\n'),
          ]),
        );
      });
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    expect(binary).toMatch(/^HTTP\/1\.1 400/);
    const made = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        fetch(`${api.url}/payments/none`, { headers: { 'x-api-key': `forged-${i}` } }).then((r) => r.status),
      ),
    );
    expect(made.every((s) => s === 404 || s === 429)).toBe(true);
    expect((await post('/payments', JSON.stringify(pay), { 'idempotency-key': 'h-2', 'x-api-key': 'client-ok' })).status).toBe(201);
  });

  it('an unknown route: 404 problem details', async () => {
    expect(await problemOf(await fetch(`${api.url}/nowhere`))).toMatchObject({
      status: 404,
      body: { detail: 'no route for GET /nowhere' },
    });
  });

  it('a slow client (headers never finished): 408 and the connection closed, the server still serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(api.url).port), '127.0.0.1', () => socket.write('POST /payments HTTP/1.1\r\nhost: x\r\n'));
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
    expect((await post('/payments', JSON.stringify(pay), { 'idempotency-key': 'slow-after' })).status).toBe(201);
  });

  it('after all of it: nothing charged twice, and every thread still answers', async () => {
    expect(api.bank!.chargedTwice()).toEqual([]);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${api.url}/payments/none`).then((r) => r.status)));
    expect(statuses.every((s) => s === 404)).toBe(true);
  });
});
