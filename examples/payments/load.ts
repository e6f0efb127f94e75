/**
 * The payments API under load (autocannon, against 127.0.0.1 only, bounded
 * in time): duplicate-heavy payment traffic (each Idempotency-Key sent by
 * several connections at once, late retries of old keys, some keys reused
 * with another body), while the bank fails before and after charging,
 * stalls past the API's timeout, goes down (the breaker opens) and
 * recovers, and a server thread is killed in the middle of its requests.
 *
 * Then the bank's ledger, kept with its deduplication off, is checked: no
 * key was charged twice, and every 201 the clients got names a charge the
 * ledger has under that key (all the 201s of one key name the same one).
 */
import autocannon from 'autocannon';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../src/testing/random.js';
import { startPaymentsApi } from '../payments-api.js';
import { startPaymentsCluster } from './cluster.js';

export interface LoadOptions {
  readonly durationSeconds: number;
  readonly connections: number;
  /** Server threads (Node ≥ 22.12; 1 on Node 20). */
  readonly threads: number;
  /**
   * Server processes: more than 1 serves the API from that many processes
   * (node:cluster) with its state in one Redis (examples/payments/cluster.ts);
   * `threads` is then ignored (one server thread each). Default 1.
   */
  readonly processes?: number;
  /** Kill a server thread (a server process, with processes) half-way (when there is more than one). */
  readonly kill: boolean;
  readonly log?: (line: string) => void;
  /** The API's retry of bank calls (`'any-failure'`: the unsafe twin the ledger check must catch). */
  readonly retryOn?: 'never-started' | 'any-failure';
  /** With processes: each keeps its own state in shared memory, not one in Redis (the other unsafe twin). */
  readonly perProcessState?: boolean;
}

export interface LoadReport {
  /** Server threads, or processes when there were several. */
  readonly threads: number;
  readonly processes: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts seen by the clients. */
  readonly errors: number;
  /** Keys the bank charged more than once (must be none). */
  readonly chargedTwice: readonly string[];
  /** 201s whose charge the ledger does not have under their key, or two 201s of one key naming different charges (must be none). */
  readonly lost: readonly string[];
  readonly charges: number;
  readonly killed: boolean;
}

/** Copies of a payment sent at once (a double click, a proxy's retry, a client's timeout). */
const COPIES = 3;
/** The share of requests that retry an older key late. */
const LATE_RETRY = 0.1;
/** The share of keys also sent with another amount (a client bug: 422). */
const ALTERED = 0.02;
const CLIENTS = 20;
/** The share of requests sent by one heavy client. */
const HEAVY = 0.25;

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const log = o.log ?? (() => {});
  const sizes = {
    burst: 100,
    refillPerSecond: 50,
    leaseMs: 2_000,
    iterations: 300,
    seed: 7,
    retryOn: o.retryOn ?? 'never-started',
  } as const;
  const processes = o.processes ?? 1;
  const api =
    processes > 1
      ? await startPaymentsCluster({ ...sizes, processes, perProcessState: o.perProcessState ?? false })
      : await startPaymentsApi({ ...sizes, threads: o.threads });
  const bank = api.bank!; // both start their own bank
  let n = 0;
  const next = seededRandom(12345); // the same traffic on every run
  /** Charge ids of the 201s each key got. */
  const created = new Map<string, Set<string>>();
  const statuses: Record<string, number> = {};

  const requests: autocannon.Request[] = [
    {
      method: 'POST',
      path: '/payments',
      setupRequest(req) {
        const i = n++;
        const k = next() < LATE_RETRY && i > 100 ? Math.floor(next() * (i / COPIES)) : Math.floor(i / COPIES);
        const altered = next() < ALTERED;
        return {
          ...req,
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `order-${k}`,
            // One client in four requests is the same heavy client: it runs into the rate limit (429).
            'x-api-key': next() < HEAVY ? 'client-heavy' : `client-${k % CLIENTS}`,
          },
          body: JSON.stringify({
            amount: altered ? 1 + (k % 97) : 100 + (k % 900),
            currency: 'EUR',
            card: `4000000000${String(k % 1_000_000).padStart(6, '0')}`,
          }),
        };
      },
      onResponse(status, body) {
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status !== 201) return;
        const { charge, reference: ref } = JSON.parse(body) as { charge: string; reference: string };
        let set = created.get(ref);
        if (set === undefined) created.set(ref, (set = new Set()));
        set.add(charge);
      },
    },
  ];

  const f = bank.faults;
  const phase = (share: number) => sleep(Math.round(o.durationSeconds * 1000 * share));
  let killed = false;
  const chaos = (async () => {
    await phase(0.15);
    log('bank: 20% of charges refused before charging, 10% charged and then answered 503');
    Object.assign(f, { failBefore: 0.2, failAfter: 0.1 });
    await phase(0.15);
    log("bank: stalls 1.5 s after each charge (past the API's 1 s timeout)");
    Object.assign(f, { failBefore: 0, failAfter: 0, stallMs: 1_500 });
    await phase(0.15);
    if (o.kill && api.threads > 1) {
      killed = await api.kill(0);
      log(`a server ${processes > 1 ? 'process is killed' : 'thread is terminated'} in the middle of its requests`);
    }
    log('bank: down (the breaker opens)');
    Object.assign(f, { stallMs: 0, down: true });
    await phase(0.15);
    log('bank: recovered');
    Object.assign(f, { down: false });
  })();

  const result = await autocannon({
    url: api.url,
    connections: o.connections,
    duration: o.durationSeconds,
    timeout: 10,
    requests,
  });
  await chaos;
  await api.stop();

  const lost: string[] = [];
  for (const [ref, charges] of created) {
    const inLedger = new Set(bank.chargesOf(ref).map((c) => c.id));
    if (charges.size > 1) lost.push(`${ref}: 201s name ${[...charges].join(', ')}`);
    for (const id of charges) if (!inLedger.has(id)) lost.push(`${ref}: the 201's charge ${id} is not in the ledger`);
  }
  return {
    threads: api.threads,
    processes,
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    statuses,
    errors: result.errors + result.timeouts,
    chargedTwice: bank.chargedTwice(),
    lost,
    charges: bank.ledger.length,
    killed,
  };
}
