/**
 * The keyed policies behind one asynchronous face, per backend: shared
 * memory (each call wrapped in a promise) and Redis (ioredis over RESP3,
 * node-redis over RESP2). The conformance suite is written once against
 * these and run on every backend.
 */
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { OnceRegistry } from '../../src/store/once-registry.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { VoteRegistry } from '../../src/store/vote-registry.js';
import type { RateLimitDecision } from '../../src/limit/decision.js';
import type { IdempotencyBegin, IdempotencyResponse, IdempotencyToken } from '../../src/store/idempotency-store.js';
import type { Claim, ClaimOptions } from '../../src/store/once-registry.js';
import type { VoteOptions, VoteResult } from '../../src/store/vote-registry.js';
import type { BreakerCall, BreakerState } from '../../src/resilience/circuit-breaker.js';
import {
  RedisCircuitBreaker,
  RedisIdempotencyStore,
  RedisLeaseLock,
  RedisOnceRegistry,
  RedisSlidingWindow,
  RedisTokenBucket,
  RedisVoteRegistry,
} from '../../src/redis/index.js';
import { connect, freshPrefix, type ClientKind, type TestClient } from '../helpers/redis.js';

export interface Limiter {
  check(key: string, n?: number): Promise<RateLimitDecision>;
  peek(key: string, n?: number): Promise<RateLimitDecision>;
  tryAcquire(key: string, n?: number): Promise<boolean>;
}
export interface Store {
  begin(key: string, fingerprint: string): Promise<IdempotencyBegin>;
  complete(token: IdempotencyToken, response: IdempotencyResponse): Promise<void>;
  abort(token: IdempotencyToken): Promise<void>;
}
export interface Votes {
  vote(poll: string, user: string, choice: string, options?: VoteOptions): Promise<VoteResult>;
  retract(poll: string, user: string): Promise<string | null>;
  ballot(poll: string, user: string): Promise<string | null>;
  tally(poll: string): Promise<Record<string, number>>;
}
export interface Once {
  claim(key: string, options?: ClaimOptions): Promise<Claim>;
  claimWithin(key: string, windowMs: number): Promise<Claim>;
  release(key: string): Promise<boolean>;
  uses(key: string): Promise<number>;
}
export interface LeaseHeld {
  readonly fencingToken: number;
  renew(ttlMs?: number): Promise<void>;
  release(): Promise<void>;
}
export interface Leases {
  acquire(resource: string, ttlMs: number, timeoutMs?: number): Promise<LeaseHeld | null>;
}
export interface Breaker {
  execute<T>(fn: (call: BreakerCall) => T | PromiseLike<T>): Promise<T>;
  state(): Promise<BreakerState>;
}

export interface Backend {
  readonly name: string;
  bucket(o: { burst: number; refillPerSecond: number }): Limiter;
  window(o: { limit: number; windowMs: number; mode?: 'exact' | 'approximate' }): Limiter;
  store(o: { leaseMs: number; retentionMs?: number }): Store;
  votes(o: { choices: string[] }): Votes;
  once(): Once;
  leases(): Leases;
  breaker(o: { failureThreshold: number; resetTimeoutMs: number; halfOpenMaxCalls?: number }): Breaker;
  close(): Promise<void>;
}

const later =
  <A extends unknown[], R>(f: (...a: A) => R) =>
  (...a: A): Promise<R> => {
    try {
      return Promise.resolve(f(...a));
    } catch (e) {
      return Promise.reject(e);
    }
  };

export function sharedMemory(): Backend {
  return {
    name: 'shared memory',
    bucket: (o) => {
      const b = new TokenBucket({ ...o, capacity: 64 });
      return {
        check: later((k, n) => b.check(k, n)),
        peek: later((k, n) => b.peek(k, n)),
        tryAcquire: later((k, n) => b.tryAcquire(k, n)),
      };
    },
    window: (o) => {
      const w = new SlidingWindow({ ...o, capacity: 64 });
      return {
        check: later((k, n) => w.check(k, n)),
        peek: later((k, n) => w.peek(k, n)),
        tryAcquire: later((k, n) => w.tryAcquire(k, n)),
      };
    },
    store: (o) => {
      const s = new IdempotencyStore({ capacity: 64, ...o });
      return { begin: later((k, f) => s.begin(k, f)), complete: later((t, r) => s.complete(t, r)), abort: later((t) => s.abort(t)) };
    },
    votes: (o) => {
      const v = new VoteRegistry({ capacity: 64, ...o });
      return {
        vote: later((p, u, c, opt) => v.vote(p, u, c, opt)),
        retract: later((p, u) => v.retract(p, u)),
        ballot: later((p, u) => v.ballot(p, u)),
        tally: later((p) => v.tally(p)),
      };
    },
    once: () => {
      const r = new OnceRegistry({ capacity: 64 });
      return {
        claim: later((k, o) => r.claim(k, o)),
        claimWithin: later((k, w) => r.claimWithin(k, w)),
        release: later((k) => r.release(k)),
        uses: later((k) => r.uses(k)),
      };
    },
    leases: () => {
      const l = new LeaseLock({ capacity: 64 });
      return {
        acquire: async (resource, ttlMs, timeoutMs = 0) => {
          const lease = await l.acquireAsync(resource, { ttlMs, timeoutMs });
          return lease === null
            ? null
            : { fencingToken: lease.fencingToken, renew: later((t?: number) => lease.renew(t)), release: later(() => lease.release()) };
        },
      };
    },
    breaker: (o) => {
      const b = new CircuitBreaker(o);
      return { execute: (fn) => b.execute(fn), state: later(() => b.state) };
    },
    close: async () => {},
  };
}

export async function redis(kind: ClientKind): Promise<Backend> {
  const c: TestClient = await connect(kind);
  const client = c.client;
  return {
    name: `redis (${kind})`,
    bucket: (o) => new RedisTokenBucket({ client, prefix: freshPrefix(), ...o }),
    window: (o) => new RedisSlidingWindow({ client, prefix: freshPrefix(), ...o }),
    store: (o) => new RedisIdempotencyStore({ client, prefix: freshPrefix(), ...o }),
    votes: (o) => new RedisVoteRegistry({ client, prefix: freshPrefix(), ...o }),
    once: () => new RedisOnceRegistry({ client, prefix: freshPrefix() }),
    leases: () => {
      const l = new RedisLeaseLock({ client, prefix: freshPrefix() });
      return { acquire: (resource, ttlMs, timeoutMs = 0) => l.acquireAsync(resource, { ttlMs, timeoutMs }) };
    },
    breaker: (o) => {
      const b = new RedisCircuitBreaker({ client, prefix: freshPrefix(), name: 'upstream', ...o });
      return { execute: (fn) => b.execute(fn), state: async () => (await b.read()).state };
    },
    close: () => c.close(),
  };
}
