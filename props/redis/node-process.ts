/**
 * One Node process of a cross-process run (forked by props/redis/cluster.ts
 * with tsx): keeps its worker threads warm, and for each run makes what the
 * threads share in this process (a shared-memory policy, the two-level
 * limiter's allowance, a witness word), hands the scenario to its threads,
 * and reports their logs (and, for votes, the final tally).
 */
import { Redis } from 'ioredis';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../src/threads/spawn.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { OnceRegistry } from '../../src/store/once-registry.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { VoteRegistry } from '../../src/store/vote-registry.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { RedisVoteRegistry, TwoLevelLimiter } from '../../src/redis/index.js';
import type { Handle } from '../../src/memory/region.js';
import { BATCH, BREAKER, CHOICES, REFILL_PER_SECOND, WINDOW_MS, type ProcessReport, type Scenario, type ThreadLog } from './workloads.js';
import type { ThreadTask } from './thread.js';

export interface RunMessage {
  /** The run's number: every answer names it. */
  readonly id: number;
  readonly scenario: Scenario;
  readonly threads: number;
  /** This process's first thread number (thread numbers are global: they seed each thread's choices). */
  readonly firstThread: number;
  readonly url: string;
  readonly startAt: number;
}

const workers: Worker[] = [];
let redis: Redis | undefined;

function sharedPolicy(s: Scenario): { handle: Handle; tally?: () => Record<string, number> } {
  const capacity = 64;
  switch (s.policy) {
    case 'bucket':
      return { handle: new TokenBucket({ burst: s.quota, refillPerSecond: REFILL_PER_SECOND, capacity }).handle };
    case 'window':
      return { handle: new SlidingWindow({ limit: s.quota, windowMs: WINDOW_MS, capacity }).handle };
    case 'claims':
      return { handle: new OnceRegistry({ capacity }).handle };
    case 'charged-once':
      return { handle: new IdempotencyStore({ capacity, leaseMs: 60_000 }).handle };
    case 'votes': {
      const v = new VoteRegistry({ capacity: 256, choices: CHOICES });
      return { handle: v.handle, tally: () => v.tally('poll') };
    }
    case 'leases':
      return { handle: new LeaseLock({ capacity }).handle };
    case 'breaker':
      return { handle: new CircuitBreaker(BREAKER).handle };
    case 'two-level':
      throw new Error('the two-level limiter is Redis-only');
  }
}

async function tallyOnRedis(s: Scenario, url: string): Promise<Record<string, number>> {
  redis ??= new Redis(url);
  if (s.variant === 'twin') {
    const t = await redis.hgetall(`${s.prefix}tally`);
    return Object.fromEntries(CHOICES.map((c) => [c, Number(t[c] ?? 0)]));
  }
  return new RedisVoteRegistry({ client: redis, prefix: s.prefix, choices: CHOICES }).tally('poll');
}

async function run(m: RunMessage): Promise<ProcessReport> {
  while (workers.length < m.threads) workers.push(spawnWorker(new URL('./thread.ts', import.meta.url)));
  const s = m.scenario;
  const witness = new Int32Array(new SharedArrayBuffer(4));
  let handle: Handle | undefined;
  let tally: (() => Record<string, number>) | undefined;
  if (s.backend === 'memory') ({ handle, tally } = sharedPolicy(s));
  if (s.backend === 'redis' && s.policy === 'two-level' && s.variant === 'safe') {
    redis ??= new Redis(m.url);
    // Made here, once per process: its allowance is this process's shared memory; each thread opens it with its own client.
    handle = new TwoLevelLimiter({
      client: redis,
      prefix: s.prefix,
      burst: s.quota,
      refillPerSecond: REFILL_PER_SECOND,
      batch: Math.min(BATCH, s.quota),
    }).handle;
  }
  // Every thread answers (allSettled), so a thread's answer never reaches the next run.
  const settled = await Promise.allSettled(
    workers.slice(0, m.threads).map(
      (w, i) =>
        new Promise<ThreadLog>((resolve, reject) => {
          w.once('message', (r: { ok?: ThreadLog; error?: string }) => (r.ok !== undefined ? resolve(r.ok) : reject(new Error(r.error))));
          const task: ThreadTask = {
            scenario: s,
            thread: m.firstThread + i,
            url: m.url,
            startAt: m.startAt,
            witness,
            ...(handle ? { handle } : {}),
          };
          w.postMessage(task);
        }),
    ),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const logs = settled.map((r) => (r as PromiseFulfilledResult<ThreadLog>).value);
  if (s.policy !== 'votes') return { logs };
  return { logs, tally: tally !== undefined ? tally() : await tallyOnRedis(s, m.url) };
}

process.on('message', (m: RunMessage) => {
  run(m).then(
    (report) => process.send!({ id: m.id, ok: report }),
    (e: unknown) => process.send!({ id: m.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
process.on('disconnect', () => {
  for (const w of workers) void w.terminate();
  redis?.disconnect();
  process.exit(0);
});
process.send!({ ready: true });
