/**
 * The payments API: a Hono app served by several worker threads on one port,
 * all of them sharing one rate limiter, one Idempotency-Key store, one
 * circuit breaker for the bank, one report cache, one poll registry and
 * one booking table (examples/payments/: the app, the shared state, the
 * flaky bank on 127.0.0.1 with its own ledger, the metrics).
 *
 * On Node ≥ 22.12 the main thread and `threads - 1` worker threads listen
 * on the same port with `reusePort`, and the kernel spreads connections
 * over them; on Node 20, which has no `reusePort`, the main thread serves
 * alone (with its pool of CPU threads) and the example says so.
 *
 *   npx tsx examples/payments-api.ts            serve until Ctrl-C
 *   npx tsx examples/payments-api.ts --quick    a few requests of each route, checked, then exit
 *
 * `npm run loadtest` puts it under load (examples/payments-loadtest.ts).
 */
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/index.js';
import { Bank } from './payments/bank.js';
import { hasReusePort, serve, type Serving } from './payments/serve.js';
import type { ServerThreadData } from './payments/server-thread.js';
import { createShared, handlesOf, type PaymentsShared, type PaymentsSizes } from './payments/shared.js';

export interface PaymentsApiOptions extends PaymentsSizes {
  /** Server threads in all (the main thread is one); 1 on Node 20. Default 2. */
  readonly threads?: number;
  /** CPU pool threads per server thread (default 1). */
  readonly poolThreads?: number;
  /** Key-stretch iterations of a fraud score (default 1,000: about half a millisecond). */
  readonly iterations?: number;
  readonly port?: number;
  readonly headersTimeoutMs?: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Which failed bank calls are sent again (see `createPaymentsApp`; default `'never-started'`). */
  readonly retryOn?: 'never-started' | 'any-failure';
  /**
   * Keep the rate limit, the idempotency records and the bank's breaker in
   * Redis (at `url`, under `prefix`), so that several processes serve one API
   * (examples/payments/cluster.ts). Default: shared memory.
   */
  readonly redis?: { readonly url: string; readonly prefix: string };
  /** Use the bank at this URL instead of starting one (the processes of one API share one bank). */
  readonly bankUrl?: string;
  /** Serve one port from several threads (default: where Node has it); false in a cluster worker, whose primary shares the port. */
  readonly reusePort?: boolean;
}

export interface PaymentsApi {
  readonly url: string;
  /** The bank this API started (none when it was given `bankUrl`). */
  readonly bank: Bank | undefined;
  /** This process's state (none when the API is served by other processes). */
  readonly shared: PaymentsShared | undefined;
  /** Server threads listening (the main thread included). */
  readonly threads: number;
  /** Terminates worker server thread `i` (a crash in the middle of its requests); false if there is none. */
  kill(i: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startPaymentsApi(o: PaymentsApiOptions = {}): Promise<PaymentsApi> {
  const bank = o.bankUrl === undefined ? new Bank(o.seed ?? 1) : undefined;
  const bankUrl = o.bankUrl ?? (await bank!.start());
  const shared = createShared(o, o.redis);
  const reusePort = o.reusePort ?? hasReusePort();
  const threads = reusePort ? Math.max(1, o.threads ?? 2) : 1;
  const common = {
    bankUrl,
    poolThreads: o.poolThreads ?? 1,
    iterations: o.iterations ?? 1_000,
    headersTimeoutMs: o.headersTimeoutMs ?? 2_000,
    retryOn: o.retryOn ?? 'never-started',
  };
  const main: Serving = await serve({ ...common, shared, port: o.port ?? 0, reusePort, ...(o.log ? { log: o.log } : {}) });
  const workers: Worker[] = [];
  for (let i = 1; i < threads; i++) {
    const data: ServerThreadData = { ...common, handles: handlesOf(shared), port: main.port };
    const worker = spawnWorker(new URL('./payments/server-thread.ts', import.meta.url), { workerData: data });
    await once(worker, 'message');
    workers.push(worker);
  }
  const alive = new Set(workers);
  return {
    url: `http://127.0.0.1:${main.port}`,
    bank,
    shared,
    threads,
    async kill(i) {
      const w = workers[i];
      if (w === undefined || !alive.has(w)) return false;
      alive.delete(w);
      await w.terminate();
      return true;
    },
    async stop() {
      await Promise.all(
        [...alive].map(async (w) => {
          w.postMessage({ close: true });
          await once(w, 'exit');
        }),
      );
      await main.close();
      await bank?.stop();
    },
  };
}

async function quickCheck(api: PaymentsApi): Promise<string[]> {
  const failures: string[] = [];
  const check = (ok: boolean, what: string): void => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const pay = { amount: 1250, currency: 'EUR', card: '4242424242424242' };
  const first = await post('/payments', pay, { 'idempotency-key': 'order-1' });
  const payment = (await first.json()) as { id: string; charge: string };
  check(first.status === 201, `POST /payments charges: 201 ${payment.id}, ${first.headers.get('ratelimit')}`);
  const again = await post('/payments', pay, { 'idempotency-key': 'order-1' });
  check(again.status === 201 && again.headers.get('idempotent-replayed') === 'true', 'the retry is replayed, not charged');
  check(api.bank!.chargesOf('order-1').length === 1, "the bank's ledger has one charge");
  check(
    (await post('/payments', { ...pay, amount: 99 }, { 'idempotency-key': 'order-1' })).status === 422,
    'the key with another body: 422',
  );
  check((await post('/payments', pay)).status === 400, 'no Idempotency-Key: 400');
  check((await fetch(`${api.url}/payments/${payment.id}`)).status === 200, 'GET /payments/:id');
  const note = await fetch(`${api.url}/payments/${payment.id}/note`, { method: 'PUT', body: JSON.stringify({ note: 'gift' }) });
  check(note.status === 200 && ((await note.json()) as { note: string }).note === 'gift', 'PUT /payments/:id/note');
  check((await fetch(`${api.url}/payments/${payment.id}/note`, { method: 'DELETE' })).status === 204, 'DELETE /payments/:id/note');
  check((await (await fetch(`${api.url}/reports/daily`)).text()).startsWith('report daily'), 'GET /reports/:id through the cache');
  const vote = await post('/polls/p1/votes', { user: 'ana', choice: 'yes' });
  const revote = await post('/polls/p1/votes', { user: 'ana', choice: 'yes' });
  check(vote.status === 201 && revote.status === 409, 'POST /polls/:id/votes: one ballot per user');
  const booking = { resource: 'room-1', holder: 'ana', start: 0, end: 60_000 };
  const booked = await post('/bookings', booking);
  const doubled = await post('/bookings', { ...booking, holder: 'bob' });
  check(booked.status === 201 && doubled.status === 409, 'POST /bookings: no double booking');
  const metrics = await (await fetch(`${api.url}/metrics`)).text();
  check(/sabre_idempotency_requests_total\{outcome="replayed"\} [1-9]/.test(metrics), "GET /metrics reports every thread's counts");
  return failures;
}

if (import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  const api = await startPaymentsApi({ log: (line) => console.log(line) });
  console.log(
    api.threads > 1
      ? `payments API on ${api.url}: ${api.threads} threads serve one port (reusePort), sharing one limiter, store, breaker and cache`
      : `payments API on ${api.url}: Node ${process.versions.node} has no reusePort, so one thread serves, with a pool of CPU threads`,
  );
  console.log(`the bank (${api.bank!.url}) keeps its own ledger and does not deduplicate`);
  if (quick) {
    const failures = await quickCheck(api);
    await api.stop();
    process.exit(failures.length > 0 ? 1 : 0);
  }
  process.once('SIGINT', () => void api.stop().then(() => process.exit(0)));
}
