/**
 * RedisOnceRegistry: `OnceRegistry` on Redis: a like, a coupon, a daily
 * reward claimed once across every process.
 */
import { integer } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { CLAIM_OPTIONS, DEFAULT_MAX_CLAIM_KEY_BYTES, windowOf, type Claim, type ClaimOptions } from '../store/once-registry.js';
import type { TableKey } from '../table/key.js';
import { Script, type RedisClientLike } from './connection.js';
import { prefixField, REDIS_FIELDS, RedisPrimitive } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * A key's record is a Redis hash { u: claims held, l: time of the last
 * claim (ms of the server's TIME) }, kept until released, as the
 * shared-memory registry keeps it. A claim is one script: the check (uses
 * below maxUses, or the last claim a window old) and the claim in one step.
 * Linearization point: the script.
 */

const CLAIM = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local r = redis.call('HMGET', KEYS[1], 'u', 'l')
local uses = tonumber(r[1] or '0')
local wait = 0
if ARGV[1] == 'uses' then
  if uses >= tonumber(ARGV[2]) then wait = -1 end
elseif uses > 0 then
  wait = math.max(0, tonumber(r[2]) + tonumber(ARGV[2]) - now)
end
if wait ~= 0 then return { 0, uses, string.format('%.3f', wait), string.format('%.3f', now) } end
redis.call('HSET', KEYS[1], 'u', uses + 1, 'l', string.format('%.3f', now))
return { 1, uses + 1, '0', string.format('%.3f', now) }
`);

const RELEASE = new Script(`
local uses = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if uses == 0 then return 0 end
if uses <= 1 then redis.call('DEL', KEYS[1]) else redis.call('HINCRBY', KEYS[1], 'u', -1) end
return 1
`);

const USES = new Script(`return tonumber(redis.call('HGET', KEYS[1], 'u') or '0')`);

export interface RedisOnceRegistryOptions {
  /** A connected ioredis client or Cluster, or a node-redis client. */
  readonly client: RedisClientLike;
  /** Longest key in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The namespace of the registry's Redis keys (default `'sabre:once:'`). */
  readonly prefix?: string;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
}

const OPTIONS = defineOptions('new RedisOnceRegistry(options)', {
  ...REDIS_FIELDS,
  prefix: prefixField('sabre:once:'),
  maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_CLAIM_KEY_BYTES }),
});

/**
 * At most once per key, across every process: `OnceRegistry`'s calls and
 * answers, as promises (`claim`, `claimWithin`, `release`, `uses`). A
 * claim's `at` is the Redis server's time, in ms since the epoch.
 *
 * @throws InvalidArgumentError for a bad key, `maxUses` or `windowMs`, bad options
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs`
 */
export class RedisOnceRegistry extends RedisPrimitive {
  constructor(options: RedisOnceRegistryOptions) {
    super(OPTIONS.parse(options));
  }

  /** This object's calls that Redis could not answer. */
  stats(): { readonly unavailable: number } {
    return { unavailable: this.unavailableCount };
  }

  /** Takes a claim on `key` if it has fewer than `maxUses` (default 1). */
  async claim(key: TableKey, options?: ClaimOptions): Promise<Claim> {
    const { maxUses } = CLAIM_OPTIONS.parse(options);
    return this.take(key, 'uses', maxUses);
  }

  /** Takes a claim on `key` if its last claim is at least `windowMs` old (a daily reward: 24 h). */
  async claimWithin(key: TableKey, windowMs: number): Promise<Claim> {
    return this.take(key, 'window', windowOf(windowMs));
  }

  /** Gives back the key's latest claim. False if it had none. */
  async release(key: TableKey): Promise<boolean> {
    return (await this.run(RELEASE, [this.keyOf(key)], [])) === 1;
  }

  /** Claims `key` holds now (0 if none). */
  async uses(key: TableKey): Promise<number> {
    return Number(await this.run(USES, [this.keyOf(key)], []));
  }

  private async take(key: TableKey, rule: 'uses' | 'window', bound: number): Promise<Claim> {
    const r = (await this.run(CLAIM, [this.keyOf(key)], [rule, String(bound)])) as [number, number, string, string];
    const wait = Number(r[2]);
    return { claimed: r[0] === 1, uses: r[1], retryAfterMs: wait < 0 ? Infinity : wait, at: Number(r[3]) };
  }
}
