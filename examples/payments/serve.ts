/**
 * One server thread of the payments API: a Piscina pool for its CPU work,
 * the Hono app over the shared state, and a Node HTTP server on 127.0.0.1
 * (with `reusePort` where Node has it, so several threads serve one port).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdaptorServer } from '@hono/node-server';
import { Piscina } from 'piscina';
import type { FraudTask } from '../../workers/tasks/fraud-score.js';
import { BOOTSTRAP, tsTask } from '../../workers/ts-task.js';
import { createPaymentsApp } from './app.js';
import { paymentsMetrics } from './metrics.js';
import type { PaymentsShared } from './shared.js';

const fraud = tsTask<FraudTask>(new URL('../../workers/tasks/fraud-score.ts', import.meta.url));

export interface ServeOptions {
  readonly shared: PaymentsShared;
  readonly bankUrl: string;
  /** 0: any free port. */
  readonly port: number;
  readonly reusePort: boolean;
  /** Threads of this server's CPU pool. */
  readonly poolThreads: number;
  /** Key-stretch iterations of a fraud score (about half a millisecond per 1,000 here). */
  readonly iterations: number;
  /** A client that has not sent its headers (or its whole request) by then gets 408 (defaults 2 s and 10 s). */
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly log?: (line: string) => void;
  readonly retryOn?: 'never-started' | 'any-failure';
}

export interface Serving {
  readonly port: number;
  close(): Promise<void>;
}

/** Node ≥ 22.12 (and 23.1) honours `reusePort`; Node 20 ignores it (PLATFORM.md #10). */
export function hasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

export async function serve(o: ServeOptions): Promise<Serving> {
  const pool = new Piscina({ filename: BOOTSTRAP, minThreads: o.poolThreads, maxThreads: o.poolThreads });
  const { iterations } = o;
  const app = createPaymentsApp({
    shared: o.shared,
    bankUrl: o.bankUrl,
    work: {
      score: (card, amount) => pool.run(fraud({ kind: 'score', card, amount, iterations })) as Promise<number>,
      report: (id, payments) => pool.run(fraud({ kind: 'report', id, payments, iterations })) as Promise<string>,
    },
    metrics: paymentsMetrics(o.shared, o.log === undefined ? {} : { log: o.log }),
    retryOn: o.retryOn ?? 'never-started',
  });
  // Requests still being handled: closing waits for them before it stops the pool they use.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const fetch = async (request: Request, env: unknown): Promise<Response> => {
    inFlight++;
    try {
      return await app.fetch(request, env);
    } finally {
      if (--inFlight === 0) drained?.();
    }
  };
  const headersTimeout = o.headersTimeoutMs ?? 2_000;
  const server = createAdaptorServer({
    fetch,
    serverOptions: {
      headersTimeout,
      requestTimeout: o.requestTimeoutMs ?? 10_000,
      connectionsCheckingInterval: Math.min(1_000, headersTimeout / 2),
    },
  }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: '127.0.0.1', reusePort: o.reusePort }, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      if (inFlight > 0) await Promise.race([new Promise<void>((resolve) => (drained = resolve)), sleep(5_000)]);
      await closed;
      await pool.destroy();
    },
  };
}
