/**
 * RedisLeaseLock: `LeaseLock` on Redis: at most one live lease per resource
 * across every process, each with a fencing token.
 */
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';
import { AbortError, NotOwnerError, isSabreError } from '../errors.js';
import { integer } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { ACQUIRE_ASYNC, DEFAULT_MAX_RESOURCE_BYTES, describe, ttlMs, type AcquireLeaseAsyncOptions } from '../lock/lease-lock.js';
import type { TableKey } from '../table/key.js';
import { sleep } from '../sleep.js';
import { Script, type RedisClientLike } from './connection.js';
import { prefixField, REDIS_FIELDS, RedisPrimitive } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * A resource's lease is a Redis hash { t: fencing token, h: holder, e:
 * expiry in ms of the server's TIME } that Redis deletes at its expiry
 * (PEXPIRE): a free resource is an absent key, so nothing has to clean up.
 * Its fencing counter is a second key (':f', same hash tag), incremented
 * (INCR) by each acquisition and never deleted: tokens increase strictly
 * per resource, across lapses and server restarts that keep the data.
 * Acquire (check free, INCR, write, expire), renew and release (check the
 * token, then extend or delete) are each one script. Linearization point:
 * the script.
 *
 * A holder cannot be seen to die across processes: its lease lapses at its
 * expiry. Waiting (`acquireAsync`) polls: it tries, then sleeps until the
 * lease's expiry, a short backoff (doubling from 10 ms to 200 ms, with
 * jitter, so a released lease is noticed soon) or the deadline, whichever is
 * first.
 */

const ACQUIRE = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return { 0, left } end
local token = redis.call('INCR', KEYS[2])
local e = now + tonumber(ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', token, 'h', ARGV[2], 'e', string.format('%.3f', e))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])))
return { 1, token, string.format('%.3f', e) }
`);

/** Renews (ARGV[2] = ttl) or releases (ARGV[2] = '') the lease of token ARGV[1]; else says which token holds. */
const KEEP = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local held = redis.call('HGET', KEYS[1], 't')
if held ~= ARGV[1] then return { 0, held or '' } end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return { 1, '' } end
local e = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'e', string.format('%.3f', e))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return { 1, string.format('%.3f', e) }
`);

const HOLDER = new Script(`
local r = redis.call('HMGET', KEYS[1], 't', 'h', 'e')
if not r[1] then return {} end
return r
`);

const FENCE = ':f';
/** Who holds a lease: this machine, process and thread. */
const ME = `${hostname()}/${process.pid}/${threadId}`;

export interface RedisLeaseLockOptions {
  /** A connected ioredis client or Cluster, or a node-redis client. */
  readonly client: RedisClientLike;
  /** Longest resource name in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The namespace of the leases' Redis keys (default `'sabre:lease:'`). */
  readonly prefix?: string;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
}

const OPTIONS = defineOptions('new RedisLeaseLock(options)', {
  ...REDIS_FIELDS,
  prefix: prefixField('sabre:lease:'),
  maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_RESOURCE_BYTES }),
});

/**
 * A lease on one resource, held in Redis until `release()` or its expiry.
 * Carry `fencingToken` with every write the lease protects. `await using`
 * releases it at the end of the block.
 */
export class RedisLease implements AsyncDisposable {
  private released = false;
  /** @internal */
  constructor(
    private readonly lock: RedisLeaseLock,
    readonly resource: TableKey,
    /** Strictly larger than every earlier lease's token on this resource. */
    readonly fencingToken: number,
    private expiry: number,
    private readonly ttlMs: number,
  ) {}

  /** When the lease lapses, in ms of the Redis server's clock (since the epoch), as last renewed. */
  get expiresAt(): number {
    return this.expiry;
  }

  /**
   * Extends the lease to `ttlMs` (default: its original TTL) from now.
   * @throws NotOwnerError if it has expired, been released, or been taken over
   */
  async renew(ttl?: number): Promise<void> {
    this.expiry = await this.lock.keep(this, ttl === undefined ? this.ttlMs : ttlMs.parse(ttl, 'ttlMs', {}), this.released);
  }

  /**
   * Gives the resource up.
   * @throws NotOwnerError if it has expired, was released already, or was taken over
   */
  async release(): Promise<void> {
    await this.lock.keep(this, undefined, this.released);
    this.released = true;
  }

  /** For `await using`: releases the lease if it is still held; one that already lapsed is left as it is. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.released) return;
    try {
      await this.release();
    } catch (e) {
      if (!isSabreError(e, 'ERR_NOT_OWNER')) throw e;
    }
  }
}

/**
 * Keyed leases on Redis, with fencing tokens: `LeaseLock`'s asynchronous
 * calls (`acquireAsync`, `holder`, `owns`, and the lease's `renew` and
 * `release`, as promises) for every process that uses the same `prefix` on
 * the same Redis. Guard what the leases protect with a `FencedResource`
 * (or a store that keeps the largest token it has seen), as with the
 * shared-memory lock: a holder that stalls past its expiry may still try
 * to write.
 *
 * @throws InvalidArgumentError for a ttlMs that is not a finite number > 0, a resource name too long, bad options
 * @throws NotOwnerError from `renew`/`release` of a lease that expired, was released, or was taken over
 * @throws AbortError when `acquireAsync`'s signal fires
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs`
 */
export class RedisLeaseLock extends RedisPrimitive {
  constructor(options: RedisLeaseLockOptions) {
    super(OPTIONS.parse(options));
  }

  /** This object's calls that Redis could not answer. */
  stats(): { readonly unavailable: number } {
    return { unavailable: this.unavailableCount };
  }

  /**
   * Takes a lease on `resource`, waiting without blocking the event loop
   * (default: as long as it takes; `timeoutMs: 0` tries once). Resolves
   * `null` if it stayed held until `timeoutMs`.
   * @throws AbortError when `signal` fires first
   */
  async acquireAsync(resource: TableKey, options: AcquireLeaseAsyncOptions): Promise<RedisLease | null> {
    const { ttlMs: ttl, timeoutMs, signal } = ACQUIRE_ASYNC.parse(options);
    const keys = [this.keyOf(resource, 'resource'), this.keyOf(resource, 'resource', FENCE)];
    const deadline = Date.now() + timeoutMs;
    for (let backoff = 10; ; backoff = Math.min(200, backoff * 2)) {
      if (signal?.aborted) throw new AbortError('acquireAsync was aborted', signal.reason);
      const r = (await this.run(ACQUIRE, keys, [String(ttl), ME])) as [number, number, string];
      if (r[0] === 1) return new RedisLease(this, resource, r[1], Number(r[2]), ttl);
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await sleep(Math.min(r[1], backoff * (0.5 + Math.random()), left), signal, 'acquireAsync');
    }
  }

  /** The live lease on `resource` (its token, holder and expiry), or `undefined` if it is free (a snapshot). */
  async holder(resource: TableKey): Promise<{ fencingToken: number; holder: string; expiresAt: number } | undefined> {
    const r = (await this.run(HOLDER, [this.keyOf(resource, 'resource')], [])) as string[];
    return r.length === 0 ? undefined : { fencingToken: Number(r[0]), holder: r[1]!, expiresAt: Number(r[2]) };
  }

  /** True while the lease with `token` holds `resource` (a snapshot). */
  async owns(resource: TableKey, token: number): Promise<boolean> {
    return (await this.holder(resource))?.fencingToken === token;
  }

  /** @internal Renews (`ttl`) or releases (undefined) `lease`; the new expiry. */
  async keep(lease: RedisLease, ttl: number | undefined, released: boolean): Promise<number> {
    const what = `the lease on ${describe(lease.resource)} (token ${lease.fencingToken})`;
    if (released) throw new NotOwnerError(`${what} was already released`);
    const key = this.keyOf(lease.resource, 'resource');
    const r = (await this.run(KEEP, [key], [String(lease.fencingToken), ttl === undefined ? '' : String(ttl)])) as [number, string];
    if (r[0] === 1) return ttl === undefined ? lease.expiresAt : Number(r[1]);
    throw new NotOwnerError(
      `${what} is no longer held: ${r[1] === '' ? 'it expired and the resource is free' : `it expired and the resource is now leased with token ${r[1]}`}`,
    );
  }
}
