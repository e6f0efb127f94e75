/**
 * Benchmarks 25 and 26: sabre's Hono middleware under HTTP load (autocannon
 * against 127.0.0.1), each app served by its own worker thread, the load
 * generated in the main thread, the variants interleaved round by round.
 * - 25: the three middlewares together (rateLimit, circuitBreaker and
 *   idempotency with a fresh key per request: a begin, a recorded response
 *   and a complete each) against the same app without them, on a route
 *   that does the payments API's CPU work (its fraud check) and on one
 *   that answers at once (the worst case for any middleware).
 * - 26: rateLimit alone against hono-rate-limiter with its memory store
 *   (the same limit, keyed by x-api-key, draft-7 fields from both).
 */
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { spawnWorker } from '../src/threads/spawn.js';
import type { HttpHandler, HttpVariant } from '../workers/bench/http-server.js';
import { fmtNs, fmtPct, fmtRate, fmtRatio, interleave, median, pairedRatio, type Section } from './lib/stats.js';

export interface HttpConfig {
  readonly rounds: number;
  /** Seconds of load per variant per round. */
  readonly seconds: number;
  readonly connections: number;
}

const CLIENTS = 50;
const CASES: readonly { readonly variant: HttpVariant; readonly handler: HttpHandler }[] = [
  { variant: 'bare', handler: 'work' },
  { variant: 'sabre', handler: 'work' },
  { variant: 'bare', handler: 'hello' },
  { variant: 'sabre', handler: 'hello' },
  { variant: 'rate-limit', handler: 'hello' },
  { variant: 'hono-rate-limiter', handler: 'hello' },
];

async function start(variant: HttpVariant, handler: HttpHandler, keys: number): Promise<{ url: string; worker: Worker }> {
  const worker = spawnWorker(new URL('../workers/bench/http-server.ts', import.meta.url), { workerData: { variant, handler, keys } });
  const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
  return { url: `http://127.0.0.1:${port}`, worker };
}

/** Requests per second of one run against `url`, each request with a fresh Idempotency-Key. */
async function load(url: string, seconds: number, cfg: HttpConfig, counter: { n: number }): Promise<number> {
  const result = await autocannon({
    url,
    connections: cfg.connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/payments',
        setupRequest: (req) => {
          const n = counter.n++;
          return {
            ...req,
            headers: { 'content-type': 'application/json', 'idempotency-key': `k-${n}`, 'x-api-key': `client-${n % CLIENTS}` },
            body: `{"amount":${100 + (n % 900)}}`,
          };
        },
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result['2xx'] / (result.duration || seconds);
}

export async function httpMiddleware(cfg: HttpConfig): Promise<Section[]> {
  // Room for every request of the run (each a new idempotency key), with a margin.
  const keys = Math.max(100_000, Math.ceil((cfg.rounds + 1) * cfg.seconds * 60_000));
  const servers = await Promise.all(CASES.map((c) => start(c.variant, c.handler, keys)));
  const counter = { n: 0 };
  try {
    for (const s of servers) await load(s.url, 1, cfg, counter); // warm-up: JIT, first allocations
    const [bareWork, sabreWork, bareHello, sabreHello, rl, hrl] = (await interleave(
      cfg.rounds,
      servers.map((s) => () => load(s.url, cfg.seconds, cfg, counter)),
    )) as [number[], number[], number[], number[], number[], number[]];
    const overhead = 1 - pairedRatio(sabreWork, bareWork);
    const helloOverhead = 1 - pairedRatio(sabreHello, bareHello);
    const perRequest = 1e9 / median(sabreHello) - 1e9 / median(bareHello);
    const vsPeer = pairedRatio(rl, hrl);
    const note = `${cfg.connections} connections, ${cfg.seconds} s per variant per round, ${cfg.rounds} rounds; one server thread per app, autocannon in the main thread (2 cores: the load generator takes one). Every request sends a fresh Idempotency-Key and one of ${CLIENTS} x-api-keys.`;
    return [
      {
        title: '25. HTTP: the three middlewares together vs the same Hono app without them',
        intro:
          'POST /payments reads its JSON body and answers a small JSON body: after the CPU work of the payments API’s fraud check (a 1,000-round key stretch, the default of examples/payments-api.ts) or at once. With sabre, every request also passes rateLimit, circuitBreaker and idempotency (a fresh key each: begin, the response recorded, complete).',
        header: ['route', 'bare Hono', '+ the three middlewares', 'with ÷ without (paired)'],
        rows: [
          ['with the fraud check', fmtRate(median(bareWork)), fmtRate(median(sabreWork)), fmtRatio(pairedRatio(sabreWork, bareWork))],
          ['answering at once', fmtRate(median(bareHello)), fmtRate(median(sabreHello)), fmtRatio(pairedRatio(sabreHello, bareHello))],
        ],
        goals: [
          {
            text: 'the three middlewares together cost at most 10% of the throughput of the same app (the payments route, with its CPU work)',
            met: overhead <= 0.1,
            detail: `they cost ${fmtPct(overhead)}; on a route that answers at once, ${fmtPct(helloOverhead)} (about ${fmtNs(perRequest)} per request)`,
          },
        ],
        notes: [
          note,
          'On a route that does no work the middlewares’ fixed cost per request (two writes to the shared idempotency table, a SHA-256 of the request, the response read back to be recorded, a rate-limit decision and a breaker admission) is a large share of the little the route costs; on a route that does work, it is a small one.',
        ],
        data: [
          { variant: 'bare, fraud check', requestsPerSecond: median(bareWork) },
          { variant: 'three middlewares, fraud check', requestsPerSecond: median(sabreWork) },
          { variant: 'bare, at once', requestsPerSecond: median(bareHello) },
          { variant: 'three middlewares, at once', requestsPerSecond: median(sabreHello) },
        ],
      },
      {
        title: '26. HTTP: rateLimit vs hono-rate-limiter (memory store)',
        intro:
          'The route that answers at once, one limiter in front, keyed by x-api-key, a limit no client reaches, draft-7 fields from both.',
        header: ['limiter', 'requests/s', 'vs hono-rate-limiter (paired)'],
        rows: [
          ['sabre rateLimit (TokenBucket, shared by every thread)', fmtRate(median(rl)), fmtRatio(vsPeer)],
          ['hono-rate-limiter (MemoryStore, this thread only)', fmtRate(median(hrl)), '1.00×'],
        ],
        goals: [{ text: 'rateLimit is faster than hono-rate-limiter', met: vsPeer > 1, detail: `${fmtRatio(vsPeer)} its throughput` }],
        notes: [note],
        data: [
          { variant: 'sabre rateLimit', requestsPerSecond: median(rl) },
          { variant: 'hono-rate-limiter', requestsPerSecond: median(hrl) },
        ],
      },
    ];
  } finally {
    await Promise.all(
      servers.map(async ({ worker }) => {
        worker.postMessage('close');
        await once(worker, 'exit');
      }),
    );
  }
}
