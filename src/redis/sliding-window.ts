/**
 * RedisSlidingWindow: `SlidingWindow` on Redis, exact (a sorted set of the
 * accepted requests' times) or approximate (two counters), one script per
 * decision.
 */
import { custom, duration, integer, oneOf } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import type { RateLimitDecision, RateLimitPolicy } from '../limit/decision.js';
import { approximateDecision, MAX_APPROXIMATE_LIMIT, MAX_EXACT_LIMIT, type SlidingWindowMode } from '../limit/sliding-window.js';
import { Script, type RedisArg } from './connection.js';
import { RedisLimiter, WHEN_UNAVAILABLE, type RedisLimiterOptions } from './limiter.js';
import { prefixField, REDIS_FIELDS } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * Time: the server's `TIME`, in ms with the microseconds as the fraction
 * (about 1.8e12: a double keeps well under a microsecond of it).
 *
 * Exact: the key is a sorted set of the accepted requests, scored by their
 * time; members are numbered by a counter (the key with suffix ':n', same
 * hash tag), so two requests in one microsecond stay two. A decision drops
 * the members at or before now - windowMs, allows iff count + n <= limit,
 * and then adds n members at now. The sorted set's window is what the
 * shared-memory ring holds: the same answers, the retry-after from the
 * (count + n - limit)-th oldest time. Both keys expire a window after the
 * last acceptance. Linearization point: the script.
 *
 * Approximate: a hash { w: window number, p: previous count, c: current
 * count }, read as the shared-memory word is and decided by the same
 * function (approximateDecision); it expires two windows after its last
 * write.
 */

const EXACT = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local W, L, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.3f', now - W))
local count = redis.call('ZCARD', KEYS[1])
local allowed = count + n <= L
local oldest = ''
if not allowed then
  oldest = redis.call('ZRANGE', KEYS[1], count + n - L - 1, count + n - L - 1, 'WITHSCORES')[2]
elseif ARGV[4] == '1' then
  local last = redis.call('INCRBY', KEYS[2], n)
  for i = last - n + 1, last do redis.call('ZADD', KEYS[1], string.format('%.3f', now), i) end
  local ttl = math.ceil(W)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2] or ''
return { allowed and 1 or 0, redis.call('ZCARD', KEYS[1]), oldest, newest, string.format('%.3f', now) }
`);

const APPROXIMATE = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local W, L, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local id = math.floor(now / W)
local elapsed = now - id * W
local s = redis.call('HMGET', KEYS[1], 'w', 'p', 'c')
local w, prev, curr = tonumber(s[1] or '-2'), tonumber(s[2] or '0'), tonumber(s[3] or '0')
if w == id - 1 then prev, curr = curr, 0 elseif w ~= id then prev, curr = 0, 0 end
local allowed = prev * (W - elapsed) / W + curr + n <= L
if allowed and ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'w', id, 'p', prev, 'c', curr + n)
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * W))
end
return { allowed and 1 or 0, prev, curr, string.format('%.3f', elapsed), string.format('%.3f', now) }
`);

const SEQ = ':n';

export interface RedisSlidingWindowOptions extends RedisLimiterOptions {
  /** Requests (units of cost) allowed per key in any window of `windowMs`. */
  readonly limit: number;
  /** The window, in ms (> 0). */
  readonly windowMs: number;
  /** 'exact' (default: a sorted set of times per key) or 'approximate' (two counters per key). */
  readonly mode?: SlidingWindowMode;
}

const EXACT_LIMIT = integer({ max: MAX_EXACT_LIMIT });
const APPROXIMATE_LIMIT = integer({ max: MAX_APPROXIMATE_LIMIT });
const OPTIONS = defineOptions('new RedisSlidingWindow(options)', {
  ...REDIS_FIELDS,
  prefix: prefixField('sabre:window:'),
  whenUnavailable: WHEN_UNAVAILABLE,
  limit: custom((v, name, all) => (all.mode === 'approximate' ? APPROXIMATE_LIMIT : EXACT_LIMIT).parse(v, name, all)),
  windowMs: duration({ positive: true, infinite: false }),
  mode: oneOf<SlidingWindowMode>(['exact', 'approximate'], 'exact'),
});

/**
 * A sliding-window limit per key on Redis: at most `limit` requests per key
 * in any window of `windowMs`, across every process that uses the same
 * `prefix` on the same Redis. The calls and answers of `SlidingWindow`, as
 * promises (see `RedisTokenBucket`).
 *
 * @throws InvalidArgumentError for bad options, a cost that is not an
 *   integer in [1, limit], a key that is too long or not a string or bytes
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs`
 *   (with `whenUnavailable: 'throw'`, the default)
 */
export class RedisSlidingWindow extends RedisLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly mode: SlidingWindowMode;

  constructor(options: RedisSlidingWindowOptions) {
    const o = OPTIONS.parse(options);
    super(o, "window's limit");
    this.limit = o.limit;
    this.windowMs = o.windowMs;
    this.mode = o.mode;
  }

  /** The policy to advertise (`rateLimitHeaders`), as `SlidingWindow#policy`. */
  get policy(): RateLimitPolicy {
    return { name: 'default', quota: this.limit, windowMs: this.windowMs };
  }

  protected async decide(redis: RedisArg, n: number, take: boolean): Promise<RateLimitDecision> {
    const args = [String(this.windowMs), String(this.limit), String(n), take ? '1' : '0'];
    const W = this.windowMs,
      L = this.limit;
    if (this.mode === 'approximate') {
      const r = (await this.runDecision(APPROXIMATE, [redis], args)) as [number, number, number, string, string];
      return approximateDecision(W, L, r[0] === 1, n, r[1], r[2], Number(r[3]), Number(r[4]));
    }
    const r = (await this.runDecision(
      EXACT,
      [redis, typeof redis === 'string' ? redis + SEQ : Buffer.concat([redis, Buffer.from(SEQ)])],
      args,
    )) as [number, number, string, string, string];
    const allowed = r[0] === 1,
      now = Number(r[4]);
    const peekAllowed = allowed && !take;
    const newest = peekAllowed ? now : r[3] === '' ? -Infinity : Number(r[3]);
    return {
      allowed,
      remaining: L - r[1] - (peekAllowed ? n : 0),
      retryAfterMs: allowed ? 0 : Number(r[2]) + W - now,
      resetMs: newest > now - W ? newest + W - now : 0,
      limit: L,
      at: now,
    };
  }
}
