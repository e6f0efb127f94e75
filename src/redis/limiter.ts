/**
 * What the Redis limiters share (`RedisTokenBucket`, `RedisSlidingWindow`):
 * the calls of a limiter (`tryAcquire`, `check`, `peek`, `retryAfterMs`,
 * each a promise of what the shared-memory limiter answers), their counts,
 * and what happens when Redis cannot answer (`whenUnavailable`).
 *
 * `whenUnavailable`, rate-limiter-flexible's insurance limiter among them:
 *   'throw'        the call rejects with UnavailableError (the default);
 *   'fail-closed'  refused, retry after one `commandTimeoutMs`;
 *   'fail-open'    allowed, untracked;
 *   a limiter      a local `TokenBucket` or `SlidingWindow` (one per
 *                  process, shared by its threads) decides instead: size
 *                  it at the global limit divided by the processes.
 * Each such decision counts in `stats().unavailable` and is published on
 * `sabre:redis:unavailable`.
 */
import { InvalidArgumentError, UnavailableError } from '../errors.js';
import { costOf, type RateLimitDecision, type RateLimitPolicy } from '../limit/decision.js';
import { limitDenied } from '../observe/channels.js';
import type { TableKey } from '../table/key.js';
import { describeValue } from '../validate.js';
import { custom } from '../options/field.js';
import type { RedisArg, RedisClientLike, Script } from './connection.js';
import { RedisPrimitive } from './redis-primitive.js';

/** A limiter that decides at once, in this process: the fallback of `whenUnavailable`. */
export interface LocalLimiter {
  check(key: TableKey, n?: number): RateLimitDecision;
  peek(key: TableKey, n?: number): RateLimitDecision;
}

export type WhenUnavailable = 'throw' | 'fail-closed' | 'fail-open' | LocalLimiter;

/** What every Redis limiter is given besides its policy. */
export interface RedisLimiterOptions {
  /** A connected ioredis client or Cluster, or a node-redis client. */
  readonly client: RedisClientLike;
  /** The namespace of the limiter's Redis keys; every process that shares the limit uses the same one. */
  readonly prefix?: string;
  /** Longest key in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
  /** What a decision is when Redis cannot answer in time (default `'throw'`). */
  readonly whenUnavailable?: WhenUnavailable;
}

/** What a Redis limiter counts: this object's decisions (sum the processes' in your metrics). */
export interface RedisLimiterStats {
  readonly allowed: number;
  readonly denied: number;
  /** Decisions Redis could not make in time, decided by `whenUnavailable` (or thrown). */
  readonly unavailable: number;
}

export const WHEN_UNAVAILABLE = custom<WhenUnavailable>((v, name) => {
  if (v === 'throw' || v === 'fail-closed' || v === 'fail-open') return v;
  const l = v as Partial<LocalLimiter> | null;
  if (typeof l === 'object' && l !== null && typeof l.check === 'function' && typeof l.peek === 'function') return l as LocalLimiter;
  throw new InvalidArgumentError(
    `${name} must be 'throw', 'fail-closed', 'fail-open' or a TokenBucket or SlidingWindow to decide locally, got ${describeValue(v)}`,
  );
}, 'throw');

/** A limiter on Redis: what both Redis limiters share but the server's decision. */
export abstract class RedisLimiter extends RedisPrimitive {
  /** The quota: the bucket's burst, the window's limit. */
  abstract readonly limit: number;
  abstract readonly policy: RateLimitPolicy;
  readonly whenUnavailable: WhenUnavailable;
  private readonly counts = { allowed: 0, denied: 0 };

  constructor(
    o: { client: unknown; commandTimeoutMs: number; maxKeyBytes: number; prefix: string; whenUnavailable: WhenUnavailable },
    private readonly what: string,
  ) {
    super(o);
    this.whenUnavailable = o.whenUnavailable;
  }

  /** The server's decision on `redis` (the key's Redis key) for cost `n`, taking it if `take`. */
  protected abstract decide(redis: RedisArg, n: number, take: boolean): Promise<RateLimitDecision>;

  /** This object's decisions, and those Redis could not make. */
  stats(): RedisLimiterStats {
    return { ...this.counts, unavailable: this.unavailableCount };
  }

  /** Takes `n` (default 1) from `key`'s quota if it has them. */
  async tryAcquire(key: TableKey, n = 1): Promise<boolean> {
    return (await this.check(key, n)).allowed;
  }

  /** Takes `n` if `key` has them, and says why or why not. */
  async check(key: TableKey, n = 1): Promise<RateLimitDecision> {
    const d = await this.decideOrFallBack(key, n, true);
    if (d.allowed) this.counts.allowed++;
    else {
      this.counts.denied++;
      if (limitDenied.hasSubscribers) limitDenied.publish({ limiter: this, key, n, decision: d });
    }
    return d;
  }

  /** What `check(key, n)` would answer now, without taking anything. */
  async peek(key: TableKey, n = 1): Promise<RateLimitDecision> {
    return this.decideOrFallBack(key, n, false);
  }

  /** Ms until `key` could take `n` (0: now). */
  async retryAfterMs(key: TableKey, n = 1): Promise<number> {
    return (await this.peek(key, n)).retryAfterMs;
  }

  private async decideOrFallBack(key: TableKey, n: number, take: boolean): Promise<RateLimitDecision> {
    const cost = costOf(n, this.limit, this.what);
    const redis = this.keyOf(key);
    try {
      return await this.decide(redis, cost, take);
    } catch (e) {
      if (!(e instanceof UnavailableError)) throw e;
      return this.unavailable(e, key, cost, take);
    }
  }

  /** The decision when Redis could not answer: `whenUnavailable`'s (or the error, rethrown). */
  protected unavailable(e: UnavailableError, key: TableKey, n: number, take: boolean): RateLimitDecision {
    const policy = this.whenUnavailable;
    if (policy === 'throw') throw e;
    if (typeof policy === 'object') return take ? policy.check(key, n) : policy.peek(key, n);
    const at = Date.now();
    const wait = this.connection.commandTimeoutMs;
    return policy === 'fail-open'
      ? { allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 0, limit: this.limit, at }
      : { allowed: false, remaining: 0, retryAfterMs: wait, resetMs: wait, limit: this.limit, at };
  }

  /** Runs a decision's script, telling `sabre:redis:unavailable` what will decide if Redis does not answer. */
  protected runDecision(script: Script, keys: readonly RedisArg[], args: readonly string[]): Promise<unknown> {
    const p = this.whenUnavailable;
    return this.run(script, keys, args, typeof p === 'object' ? 'local' : p);
  }
}
