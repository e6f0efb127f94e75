/**
 * A worker thread of examples/06-distributed-rate-limit.ts: serves its share
 * of the client population's requests, each at its arrival time, deciding
 * with the limiter of the version under test, and reports per client what it
 * allowed and refused, and how many decisions waited on Redis.
 */
import { once } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { TokenBucket, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { RedisTokenBucket, TwoLevelLimiter, type TwoLevelLimiterHandle } from '../../src/redis/index.js';

export type Version = 'per-process' | 'redis' | 'two-level';

import type { Arrival } from '../traffic.js';

export interface ThreadTask {
  readonly version: Version;
  readonly clients: readonly string[];
  readonly arrivals: readonly Arrival[];
  readonly burst: number;
  readonly refillPerSecond: number;
  readonly redisUrl: string;
  readonly prefix: string;
  /** per-process: the process's bucket; two-level: the process's limiter. */
  readonly handle?: TokenBucketHandle | TwoLevelLimiterHandle;
}

export interface ThreadReport {
  readonly allowed: number[];
  readonly refused: number[];
  /** Decisions that waited on a Redis round trip. */
  readonly roundTrips: number;
  /** Date.now() of the first and last decision. */
  readonly firstAt: number;
  readonly lastAt: number;
}

const t = workerData as ThreadTask;
const redis = t.version === 'per-process' ? undefined : new Redis(t.redisUrl);
const decide: (key: string) => Promise<boolean> | boolean = (() => {
  switch (t.version) {
    case 'per-process': {
      const bucket = TokenBucket.from(t.handle as TokenBucketHandle);
      return (key) => bucket.tryAcquire(key);
    }
    case 'redis': {
      const bucket = new RedisTokenBucket({ client: redis!, prefix: t.prefix, burst: t.burst, refillPerSecond: t.refillPerSecond });
      return (key) => bucket.tryAcquire(key);
    }
    case 'two-level': {
      const limiter = TwoLevelLimiter.from(t.handle as TwoLevelLimiterHandle, { client: redis! });
      return (key) => limiter.tryAcquire(key);
    }
  }
})();

// Ready (modules loaded, client made); then the start time, one for every thread of every process.
parentPort!.postMessage({ ready: true });
const [startAt] = (await once(parentPort!, 'message')) as [number];
const allowed = t.clients.map(() => 0),
  refused = t.clients.map(() => 0);
let roundTrips = 0,
  firstAt = NaN,
  lastAt = NaN;
for (const [client, atMs] of t.arrivals) {
  const wait = startAt + atMs - Date.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  if (Number.isNaN(firstAt)) firstAt = Date.now();
  const decision = decide(t.clients[client]!);
  if (decision instanceof Promise) roundTrips += t.version === 'redis' ? 1 : 0;
  if (await decision) allowed[client]!++;
  else refused[client]!++;
  lastAt = Date.now();
}
redis?.disconnect();
const report: ThreadReport = { allowed, refused, roundTrips, firstAt, lastAt };
parentPort!.postMessage(report);
