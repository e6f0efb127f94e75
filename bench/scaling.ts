/**
 * Benchmark 27: throughput against thread count (1, 2, 4 and 8 threads)
 * for an AtomicCounter, a Mutex (a tiny critical section), a TokenBucket
 * (each thread its own clients), a Cache (hits on shared hot keys) and an
 * IdempotencyStore (begin + complete, keys taken anew each time). All the
 * threads of a run share one instance.
 *
 * The machine has 2 cores: from 1 to 2 threads the curve shows parallel
 * speed-up (or contention); beyond 2, threads time-slice the two cores, so
 * the curve shows how gracefully each primitive degrades when oversubscribed
 * (a lock holder descheduled mid-section, spinning that burns a slice), not
 * more speed-up.
 */
import { AtomicCounter } from '../src/atomic/counter.js';
import { Mutex } from '../src/sync/mutex.js';
import { TokenBucket } from '../src/limit/token-bucket.js';
import { Cache } from '../src/store/cache.js';
import { IdempotencyStore } from '../src/store/idempotency-store.js';
import type { ScalingTask } from '../workers/bench/scaling.js';
import { BenchThreads, throughput } from './lib/threads.js';
import { fmtRate, fmtRatio, median, type Section } from './lib/stats.js';

export interface ScalingConfig {
  readonly rounds: number;
  readonly durationMs: number;
  readonly windowMs: number;
  readonly threads: readonly number[];
}

const URL_ = new URL('../workers/bench/scaling.ts', import.meta.url);
const KEYS = 1_000;
const PRIMITIVES = ['counter', 'mutex', 'bucket', 'cache', 'idempotency'] as const;
type Primitive = (typeof PRIMITIVES)[number];
const LABEL: Record<Primitive, string> = {
  counter: 'AtomicCounter.increment',
  mutex: 'Mutex lock/unlock',
  bucket: 'TokenBucket.tryAcquire',
  cache: 'Cache.get (hits)',
  idempotency: 'IdempotencyStore begin + complete',
};

function tasksFor(p: Primitive): ScalingTask {
  switch (p) {
    case 'counter':
      return { kind: 'counter', handle: new AtomicCounter().handle };
    case 'mutex':
      return { kind: 'mutex', handle: new Mutex().handle, data: new SharedArrayBuffer(64) };
    case 'bucket':
      return { kind: 'bucket', handle: new TokenBucket({ burst: 2 ** 30, refillPerSecond: 1e9, capacity: 16 * KEYS }).handle, keys: KEYS };
    case 'cache': {
      const cache = new Cache<string>({ capacity: 2 * KEYS, maxKeyBytes: 16, maxValueBytes: 64, codec: 'string' });
      for (let i = 0; i < KEYS; i++) cache.set(`k${i}`, `value ${i}`);
      return { kind: 'cache', handle: cache.handle, keys: KEYS };
    }
    case 'idempotency':
      return {
        kind: 'idempotency',
        handle: new IdempotencyStore({ capacity: 16 * 10 * KEYS, leaseMs: 1_000, retentionMs: 1, maxBytes: 2 ** 26 }).handle,
        keys: 10 * KEYS,
      };
  }
}

export async function scaling(cfg: ScalingConfig): Promise<Section> {
  const results = new Map<string, number[]>(); // `${primitive}/${threads}` -> ops/s per round
  for (const n of cfg.threads) {
    const threads = await BenchThreads.start(n, URL_);
    try {
      for (let r = 0; r < cfg.rounds; r++) {
        for (let k = 0; k < PRIMITIVES.length; k++) {
          const p = PRIMITIVES[(k + r) % PRIMITIVES.length]!;
          const task = tasksFor(p);
          const run = await threads.run(
            Array.from({ length: n }, () => task),
            cfg.durationMs,
            cfg.windowMs,
          );
          const key = `${p}/${n}`;
          results.set(key, [...(results.get(key) ?? []), throughput(run)]);
        }
      }
    } finally {
      await threads.close();
    }
  }
  const at = (p: Primitive, n: number): number => median(results.get(`${p}/${n}`) ?? []);
  const first = cfg.threads[0]!;
  const last = cfg.threads[cfg.threads.length - 1]!;
  return {
    title: '27. Scaling: total throughput by thread count (one shared instance)',
    intro:
      'Each thread loops on the operation for the run; the figure is every thread’s operations per second together, the median of the rounds. The machine has 2 cores: 1 → 2 threads shows parallel speed-up or contention; beyond 2 the threads time-slice, so the curve shows how each primitive degrades when oversubscribed, not more speed-up.',
    header: ['operation', ...cfg.threads.map((n) => `${n} thread${n > 1 ? 's' : ''}`), `${last} ÷ ${first}`],
    rows: PRIMITIVES.map((p) => [LABEL[p], ...cfg.threads.map((n) => fmtRate(at(p, n))), fmtRatio(at(p, last) / at(p, first))]),
    goals: [],
    data: PRIMITIVES.flatMap((p) => cfg.threads.map((n) => ({ operation: LABEL[p], threads: n, opsPerSecond: at(p, n) }))),
  };
}
