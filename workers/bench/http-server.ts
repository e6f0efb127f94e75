/**
 * The HTTP benchmark's server thread (`bench/http.ts`): one Hono app on
 * 127.0.0.1, in the variant it is told, answering `POST /payments` (it
 * reads the JSON body) with a small JSON body, at once or after the
 * payments API's CPU work. Posts `{ port }` once it listens; closes on `'close'`.
 *   - 'bare': the app alone;
 *   - 'sabre': rateLimit + circuitBreaker + idempotency (a fresh key per request: begin, record, complete);
 *   - 'rate-limit', 'circuit-breaker', 'idempotency': one of sabre's middlewares alone;
 *   - 'hono-rate-limiter': hono-rate-limiter with its memory store, the same limit and key.
 */
import { pbkdf2Sync } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { rateLimiter } from 'hono-rate-limiter';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { circuitBreaker, idempotency, rateLimit } from '../../src/integrations/hono/index.js';

export type HttpVariant = 'bare' | 'sabre' | 'rate-limit' | 'circuit-breaker' | 'idempotency' | 'hono-rate-limiter';

/** What the route does: answer at once ('hello'), or first the CPU work of the payments API's fraud check ('work', about 0.3 ms). */
export type HttpHandler = 'hello' | 'work';

const { variant, handler, keys } = workerData as { variant: HttpVariant; handler: HttpHandler; keys: number };
/** A limit no client of the run reaches: the middleware decides, and allows. */
const LIMIT = 1e9;
const WINDOW_MS = 60_000;
const apiKey = (c: { req: { header(name: string): string | undefined } }): string => c.req.header('x-api-key') ?? 'anonymous';

const app = new Hono();
if (variant === 'sabre' || variant === 'rate-limit') {
  const limiter = new TokenBucket({ burst: LIMIT, refillPerSecond: LIMIT / (WINDOW_MS / 1000), capacity: 1_000 });
  app.use('*', rateLimit({ limiter, headers: 'draft-7' }));
}
if (variant === 'hono-rate-limiter') {
  app.use('*', rateLimiter({ windowMs: WINDOW_MS, limit: LIMIT, standardHeaders: 'draft-7', keyGenerator: apiKey }));
}
if (variant === 'sabre' || variant === 'circuit-breaker') {
  app.use('/payments', circuitBreaker({ breaker: new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 1_000 }) }));
}
if (variant === 'sabre' || variant === 'idempotency') {
  app.use('/payments', idempotency({ store: new IdempotencyStore({ capacity: keys, leaseMs: 30_000, maxBytes: 2 ** 27 }) }));
}
// The handler reads the body, as a payments handler does (and as the idempotency middleware must, to fingerprint it).
app.post('/payments', async (c) => {
  const { amount } = await c.req.json<{ amount: number }>();
  const score = handler === 'work' ? pbkdf2Sync('4242424242424242', `amount:${amount}`, 1_000, 8, 'sha256').readUInt32BE(0) : 0;
  return c.json({ id: 'pay_1', amount, score }, 201);
});

const server = createAdaptorServer({ fetch: app.fetch }) as Server;
server.listen(0, '127.0.0.1', () => parentPort!.postMessage({ port: (server.address() as AddressInfo).port }));
parentPort!.on('message', (m: unknown) => {
  if (m === 'close') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
