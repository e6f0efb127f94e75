/**
 * A worker thread of a cross-process run: builds the scenario's subject
 * (the shared-memory policy from its handle, the Redis policy with this
 * thread's own client, or its unsafe twin), waits for the common start time,
 * runs the workload and posts its log.
 */
import { parentPort } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { OnceRegistry } from '../../src/store/once-registry.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { VoteRegistry } from '../../src/store/vote-registry.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import {
  RedisCircuitBreaker,
  RedisIdempotencyStore,
  RedisLeaseLock,
  RedisOnceRegistry,
  RedisSlidingWindow,
  RedisTokenBucket,
  RedisVoteRegistry,
  TwoLevelLimiter,
} from '../../src/redis/index.js';
import type { Handle } from '../../src/memory/region.js';
import {
  BREAKER,
  CHOICES,
  FINGERPRINT,
  LEASE_TTL_MS,
  REFILL_PER_SECOND,
  WINDOW_MS,
  runWorkload,
  twinBegin,
  twinBreaker,
  twinBucket,
  twinClaim,
  twinLease,
  twinVote,
  twinWindow,
  type Scenario,
  type Subject,
} from './workloads.js';

export interface ThreadTask {
  readonly scenario: Scenario;
  readonly thread: number;
  readonly url: string;
  /** When to start (Date.now() ms): every thread of every process starts together. */
  readonly startAt: number;
  /** Shared memory: the policy's handle, and the witness words. */
  readonly handle?: Handle;
  readonly witness?: Int32Array;
}

let client: Redis | undefined;
const redisOf = async (url: string): Promise<Redis> => {
  if (client === undefined) {
    client = new Redis(url, { lazyConnect: true });
    await client.connect();
  }
  return client;
};

async function subjectOf(t: ThreadTask): Promise<Subject> {
  const s = t.scenario;
  if (s.backend === 'memory') {
    const w = t.witness!;
    const witness = { enter: async () => Atomics.add(w, 0, 1) + 1, leave: async () => void Atomics.sub(w, 0, 1) };
    const h = t.handle as never;
    switch (s.policy) {
      case 'bucket': {
        const b = TokenBucket.from(h);
        return { ...witness, acquire: async () => b.tryAcquire('hot') };
      }
      case 'window': {
        const w = SlidingWindow.from(h);
        return { ...witness, acquire: async () => w.tryAcquire('hot') };
      }
      case 'claims': {
        const r = OnceRegistry.from(h);
        return { ...witness, claim: async () => r.claim('coupon', { maxUses: s.quota }).claimed };
      }
      case 'charged-once': {
        const st = IdempotencyStore.from(h);
        return {
          ...witness,
          begin: async (key) => {
            const b = st.begin(key, FINGERPRINT);
            return b.status === 'new' ? { token: b.token } : undefined;
          },
          complete: async (token) => st.complete(token as never, { status: 201 }),
        };
      }
      case 'votes': {
        const v = VoteRegistry.from(h);
        return {
          ...witness,
          vote: async (user) => {
            try {
              return v.vote('poll', user, 'yes').accepted;
            } catch {
              return false;
            }
          },
        };
      }
      case 'leases': {
        const l = LeaseLock.from(h);
        return {
          ...witness,
          lease: async () => {
            const lease = l.acquire('invoice', { ttlMs: LEASE_TTL_MS });
            return lease === null ? undefined : { token: lease.fencingToken, release: async () => lease.release() };
          },
        };
      }
      case 'breaker': {
        const b = CircuitBreaker.from(h);
        return { ...witness, execute: (fn) => b.execute((call) => fn(call.probe)) };
      }
      case 'two-level':
        throw new Error('the two-level limiter is Redis-only');
    }
  }
  const redis = await redisOf(t.url);
  const prefix = s.prefix;
  const witness = {
    enter: () => redis.incr(`${prefix}witness`),
    leave: async () => {
      await redis.decr(`${prefix}witness`);
    },
  };
  if (s.variant === 'twin') {
    switch (s.policy) {
      case 'bucket':
      case 'two-level':
        return { ...witness, acquire: twinBucket(redis, `${prefix}bucket`, s.quota) };
      case 'window':
        return { ...witness, acquire: twinWindow(redis, `${prefix}window`, s.quota) };
      case 'claims':
        return { ...witness, claim: twinClaim(redis, `${prefix}coupon`, s.quota) };
      case 'charged-once':
        return { ...witness, begin: twinBegin(redis, prefix), complete: async () => {} };
      case 'votes':
        return { ...witness, vote: twinVote(redis, prefix) };
      case 'leases':
        return { ...witness, lease: twinLease(redis, prefix) };
      case 'breaker':
        return { ...witness, execute: twinBreaker(redis, prefix) };
    }
  }
  const base = { client: redis, prefix };
  switch (s.policy) {
    case 'bucket': {
      const b = new RedisTokenBucket({ ...base, burst: s.quota, refillPerSecond: REFILL_PER_SECOND });
      return { ...witness, acquire: () => b.tryAcquire('hot') };
    }
    case 'two-level': {
      const l = TwoLevelLimiter.from(t.handle as never, { client: redis });
      return { ...witness, acquire: () => l.tryAcquire('hot') };
    }
    case 'window': {
      const w = new RedisSlidingWindow({ ...base, limit: s.quota, windowMs: WINDOW_MS });
      return { ...witness, acquire: () => w.tryAcquire('hot') };
    }
    case 'claims': {
      const r = new RedisOnceRegistry(base);
      return { ...witness, claim: async () => (await r.claim('coupon', { maxUses: s.quota })).claimed };
    }
    case 'charged-once': {
      const st = new RedisIdempotencyStore({ ...base, leaseMs: 60_000 });
      return {
        ...witness,
        begin: async (key) => {
          const b = await st.begin(key, FINGERPRINT);
          return b.status === 'new' ? { token: b.token } : undefined;
        },
        complete: (token) => st.complete(token as never, { status: 201 }),
      };
    }
    case 'votes': {
      const v = new RedisVoteRegistry({ ...base, choices: CHOICES });
      return {
        ...witness,
        vote: (user) =>
          v.vote('poll', user, 'yes').then(
            (r) => r.accepted,
            () => false,
          ),
      };
    }
    case 'leases': {
      const l = new RedisLeaseLock(base);
      return {
        ...witness,
        lease: async () => {
          const lease = await l.acquireAsync('invoice', { ttlMs: LEASE_TTL_MS, timeoutMs: 0 });
          return lease === null ? undefined : { token: lease.fencingToken, release: () => lease.release() };
        },
      };
    }
    case 'breaker': {
      const b = new RedisCircuitBreaker({ ...base, name: 'upstream', ...BREAKER });
      return { ...witness, execute: (fn) => b.execute((call) => fn(call.probe)) };
    }
  }
}

parentPort!.on('message', (t: ThreadTask) => {
  void (async () => {
    try {
      const subject = await subjectOf(t);
      const wait = t.startAt - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      parentPort!.postMessage({ ok: await runWorkload(t.scenario, t.thread, subject) });
    } catch (e) {
      parentPort!.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  })();
});
