/**
 * The payments API's metrics for Prometheus (prom-client): read from the
 * primitives' `stats()` at each scrape, so whichever server thread answers
 * `GET /metrics` reports every thread's counts (they are sums in shared
 * memory; with the Redis-backed state, the counts are the answering
 * thread's, and Prometheus sums the processes). The `sabre:breaker:state` events of this thread are logged: a
 * diagnostics channel is per thread, so events are for logs, counts are
 * for `stats()`.
 */
import diagnostics from 'node:diagnostics_channel';
import { Counter, Gauge, Registry } from 'prom-client';
import type { BreakerStateMessage } from '../../src/index.js';
import type { PaymentsShared } from './shared.js';

/** A counter read from `stats()` at scrape time: `values()` gives each label set's total. */
function total(registry: Registry, name: string, help: string, label: string, values: () => Record<string, number>): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, n] of Object.entries(values())) this.inc({ [label]: value }, n);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, value: () => number | Promise<number>): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      this.set(await value());
    },
  });
}

const STATES = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 } as const;

export function paymentsMetrics(shared: PaymentsShared, options: { readonly log?: (line: string) => void } = {}): Registry {
  const registry = new Registry();
  total(registry, 'sabre_rate_limit_decisions_total', 'Rate limit decisions, every thread', 'decision', () => {
    const { allowed, denied } = shared.perClient.stats();
    return { allowed, denied };
  });
  total(registry, 'sabre_idempotency_requests_total', 'What the Idempotency-Key store answered, every thread', 'outcome', () => {
    const s = shared.keys.stats();
    return {
      new: s.begun,
      replayed: s.replayed,
      in_flight: s.inFlight,
      mismatched: s.mismatched,
      completed: s.completed,
      aborted: s.aborted,
    };
  });
  const keys = shared.keys;
  // Records held: the shared-memory store counts them; Redis expires them by itself (count them there with DBSIZE).
  if ('handle' in keys) gauge(registry, 'sabre_idempotency_records', 'Idempotency records held', () => keys.stats().keys);
  total(registry, 'sabre_breaker_calls_total', "Calls through the bank's circuit breaker, every thread", 'result', () => {
    const { successes, failures, timeouts, rejections } = shared.bank.stats();
    return { success: successes, failure: failures, timeout: timeouts, rejected: rejections };
  });
  const bank = shared.bank;
  gauge(registry, 'sabre_breaker_state', "The bank's breaker: 0 closed, 1 half-open, 2 open", async () =>
    'handle' in bank ? STATES[bank.state] : STATES[(await bank.read()).state],
  );
  total(registry, 'sabre_cache_reads_total', 'Report cache reads, every thread', 'result', () => {
    const { hits, misses } = shared.reports.stats();
    return { hit: hits, miss: misses };
  });
  gauge(registry, 'sabre_payments_recorded', 'Payments recorded', () => shared.payments.size);
  const log = options.log;
  if (log !== undefined) {
    diagnostics.subscribe('sabre:breaker:state', (message) => {
      const { from, to } = message as BreakerStateMessage;
      log(`bank breaker ${from} -> ${to}`);
    });
  }
  return registry;
}
