/**
 * The payments API served by several Node processes (node:cluster, which
 * shares one port among them on every Node version), with its rate limit,
 * idempotency records and the bank's breaker in one Redis (the server at
 * SABRE_REDIS_URL, or a `redis-server` started on a free loopback port) and
 * one bank (in this process, so that its ledger can be checked).
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startRedisServer, type RedisServer } from '../../src/testing/redis-server.js';
import type { PaymentsApi, PaymentsApiOptions } from '../payments-api.js';
import { Bank } from './bank.js';

export interface PaymentsClusterOptions extends Omit<PaymentsApiOptions, 'redis' | 'bankUrl' | 'reusePort' | 'threads'> {
  /** Processes serving the API (default 2). */
  readonly processes?: number;
  /**
   * Keep the state in each process's shared memory instead of Redis: the
   * unsafe twin, in which a retry that reaches another process finds no
   * record of its key (default false).
   */
  readonly perProcessState?: boolean;
}

/** Starts the processes; `threads` of the result counts processes, and `kill(i)` kills process `i` (SIGKILL). */
export async function startPaymentsCluster(o: PaymentsClusterOptions = {}): Promise<PaymentsApi> {
  let server: RedisServer | undefined;
  let url = process.env.SABRE_REDIS_URL ?? '';
  if (url === '' && o.perProcessState !== true) {
    server = await startRedisServer();
    url = server.url;
  }
  const bank = new Bank(o.seed ?? 1);
  const bankUrl = await bank.start();
  const { processes = 2, perProcessState = false, log: _log, ...rest } = o;
  const options: PaymentsApiOptions = {
    ...rest,
    bankUrl,
    ...(perProcessState ? {} : { redis: { url, prefix: `sabre-payments:${randomUUID()}:` } }),
  };
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./cluster-worker.ts', import.meta.url)),
    execArgv: ['--import', import.meta.resolve('tsx')],
  });
  const workers: Worker[] = [];
  let apiUrl = '';
  for (let i = 0; i < processes; i++) {
    const w = cluster.fork();
    await once(w, 'message'); // it listens for its options
    w.send(options);
    const [m] = (await once(w, 'message')) as [{ listening: string }];
    apiUrl = m.listening; // one port for all (the primary shares it)
    workers.push(w);
  }
  const alive = new Set(workers);
  return {
    url: apiUrl,
    bank,
    shared: undefined,
    threads: processes,
    async kill(i) {
      const w = workers[i];
      if (w === undefined || !alive.has(w)) return false;
      alive.delete(w);
      const exited = once(w, 'exit');
      w.process.kill('SIGKILL');
      await exited;
      return true;
    },
    async stop() {
      await Promise.all(
        [...alive].map(async (w) => {
          const exited = once(w, 'exit');
          w.send({ stop: true });
          await exited;
        }),
      );
      await bank.stop();
      await server?.stop();
    },
  };
}
