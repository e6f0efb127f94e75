/**
 * RedisTokenBucket: `TokenBucket` on Redis, for limits shared by several
 * processes or machines. The same GCRA, the same decisions, one round trip
 * (one script) per decision.
 */
import { number, integer } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { InvalidArgumentError, UnavailableError } from '../errors.js';
import { MAX_BUCKET_CAPACITY } from '../limit/token-bucket.js';
import type { RateLimitDecision, RateLimitPolicy } from '../limit/decision.js';
import type { TableKey } from '../table/key.js';
import { Script, type RedisArg } from './connection.js';
import { RedisLimiter, WHEN_UNAVAILABLE, type RedisLimiterOptions } from './limiter.js';
import { prefixField, REDIS_FIELDS } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * The key's whole state is its theoretical arrival time TAT (token-bucket.ts
 * explains GCRA), kept as one Redis string in whole microseconds of the
 * server's `TIME`. The emission interval T = ceil(1e6 / refillPerSecond) µs
 * (never more than the configured rate; exact for rates that divide 1e6),
 * tau = burst * T. A decision is one script, which Redis runs alone: read
 * TAT, decide, write TAT (with an expiry at the time the bucket is full
 * again, so an idle key costs no memory). Linearization point: the script.
 *
 * Numbers: Lua's are doubles. The server's time is about 1.8e15 µs and TAT
 * is at most now + tau with tau <= 2^56 ns (as the shared-memory bucket),
 * so every value stays below 2^53 and every sum is exact; TAT is written
 * with '%.0f' (tostring would keep only 14 digits).
 *
 * Time: the server's, so every client decides on one clock whatever their
 * own say. A refusal's `at` (and every decision's) is the server's time in
 * ms since the epoch.
 */

/**
 * One decision: takes n tokens, or as many as are there up to `most` (>= n)
 * when it is given (the two-level limiter's lease of a batch); returns
 * whether it took them, how many, the TAT before it and the server's time.
 */
const GCRA = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T, tau, n, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local base = math.max(tat, now)
local allowed = base + n * T - now <= tau
local took = 0
if allowed and ARGV[4] == '1' then
  took = math.min(most, math.floor((tau - (base - now)) / T))
  local after = base + took * T
  redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.max(1, math.ceil((after - now) / 1000)))
end
return { allowed and 1 or 0, string.format('%.0f', base), string.format('%.0f', now), took }
`);

/** Longest time a full bucket may take to refill, as the shared-memory bucket allows: 2^56 ns. */
const MAX_REFILL_US = 2 ** 56 / 1000;

export interface RedisTokenBucketOptions extends RedisLimiterOptions {
  /** Tokens a full bucket holds: the largest burst (an integer >= 1). */
  readonly burst: number;
  /** Tokens added per second (> 0; at most 1e6: Redis's clock counts microseconds). */
  readonly refillPerSecond: number;
}

/** The bucket's own options (the two-level limiter takes them too). */
export const BUCKET_FIELDS = {
  burst: integer({ max: MAX_BUCKET_CAPACITY }),
  refillPerSecond: number({ above: 0, max: 1e6, unit: 'tokens per second' }),
};

const OPTIONS = defineOptions(
  'new RedisTokenBucket(options)',
  {
    ...REDIS_FIELDS,
    prefix: prefixField('sabre:bucket:'),
    whenUnavailable: WHEN_UNAVAILABLE,
    ...BUCKET_FIELDS,
  },
  {
    check: (o) => {
      if (o.burst * Math.ceil(1e6 / o.refillPerSecond) > MAX_REFILL_US) {
        throw new InvalidArgumentError(
          `burst / refillPerSecond (the time a full bucket takes to refill) must be at most 2^56 ns (about 834 days), got ${(o.burst / o.refillPerSecond / 86_400).toFixed(1)} days`,
        );
      }
    },
  },
);

/**
 * A token bucket per key on Redis: every process (and thread) that uses the
 * same `prefix` on the same Redis enforces one budget per client.
 *
 * The calls and answers of `TokenBucket`, as promises: `tryAcquire(key, n)`,
 * `check(key, n)`, `peek(key, n)`, `retryAfterMs(key, n)`, `policy`, so
 * `await bucket.check(key)` runs unchanged on either, and the HTTP gates
 * (`sabre/hono`'s `rateLimit`, `httpRateLimit`) take either. A refusal is a
 * resolved decision, never a rejection. Keys idle for a full refill leave
 * Redis by themselves (each write sets its expiry); there is no key table to
 * fill. Each decision is one script on the server (one round trip).
 *
 * @throws InvalidArgumentError for bad options, a cost that is not an
 *   integer in [1, burst], a key that is too long or not a string or bytes
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs`
 *   (with `whenUnavailable: 'throw'`, the default)
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { rateLimitHeaders } from 'sabre';
 * import { RedisTokenBucket } from 'sabre/redis';
 *
 * const perClient = new RedisTokenBucket({ client: new Redis(process.env.REDIS_URL!), burst: 20, refillPerSecond: 5 });
 * // per request, in any process:
 * export async function refusal(ip: string) {
 *   const d = await perClient.check(`ip:${ip}`);
 *   return d.allowed ? undefined : rateLimitHeaders(d, perClient.policy); // the fields of a 429
 * }
 * ```
 */
export class RedisTokenBucket extends RedisLimiter {
  readonly burst: number;
  readonly refillPerSecond: number;
  /** T, tau in µs, as script arguments. */
  private readonly intervalUs: number;
  private readonly args: [string, string];

  constructor(options: RedisTokenBucketOptions) {
    const o = OPTIONS.parse(options);
    super(o, "bucket's burst");
    this.burst = o.burst;
    this.refillPerSecond = o.refillPerSecond;
    this.intervalUs = Math.ceil(1e6 / o.refillPerSecond);
    this.args = [String(this.intervalUs), String(o.burst * this.intervalUs)];
  }

  get limit(): number {
    return this.burst;
  }

  /** The policy to advertise (`rateLimitHeaders`), as `TokenBucket#policy`. */
  get policy(): RateLimitPolicy {
    return { name: 'default', quota: this.burst, windowMs: (this.burst / this.refillPerSecond) * 1000 };
  }

  protected async decide(redis: RedisArg, n: number, take: boolean): Promise<RateLimitDecision> {
    return (await this.gcra(redis, n, take, n)).decision;
  }

  /**
   * Takes at least `n` tokens and up to `most` (as many as the bucket has):
   * the two-level limiter's batch. `took` is 0 when refused. When Redis
   * cannot answer, `whenUnavailable` decides (taking n or nothing). @internal
   */
  async lease(key: TableKey, n: number, most: number): Promise<{ readonly took: number; readonly decision: RateLimitDecision }> {
    const redis = this.keyOf(key);
    try {
      return await this.gcra(redis, n, true, most);
    } catch (e) {
      if (!(e instanceof UnavailableError)) throw e;
      const decision = this.unavailable(e, key, n, true);
      return { took: decision.allowed ? n : 0, decision };
    }
  }

  private async gcra(redis: RedisArg, n: number, take: boolean, most: number): Promise<{ took: number; decision: RateLimitDecision }> {
    const T = this.intervalUs,
      tau = this.burst * T;
    const reply = (await this.runDecision(GCRA, [redis], [...this.args, String(n), take ? '1' : '0', String(most)])) as [
      number,
      string,
      string,
      number,
    ];
    const allowed = reply[0] === 1,
      base = Number(reply[1]),
      now = Number(reply[2]),
      took = reply[3];
    const cost = (take ? took : n) * T; // a peek: as if it took n
    const ahead = (allowed ? base + cost : base) - now; // µs until the bucket is full after the decision
    const decision: RateLimitDecision = {
      allowed,
      remaining: ahead >= tau ? 0 : Math.floor((tau - ahead) / T),
      retryAfterMs: allowed ? 0 : (base + n * T - tau - now) / 1000,
      resetMs: ahead / 1000,
      limit: this.burst,
      at: now / 1000,
    };
    return { took, decision };
  }
}
