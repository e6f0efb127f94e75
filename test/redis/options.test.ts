/**
 * Bad input to the Redis classes: a clear, typed error, and nothing sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, TimeoutError } from '../../src/errors.js';
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
import { connect, freshPrefix, type TestClient } from '../helpers/redis.js';

describe('the Redis classes: bad input', () => {
  let c: TestClient;
  beforeAll(async () => {
    c = await connect('node-redis RESP3');
  });
  afterAll(async () => c.close());

  it('refuses a client that is not one, a prefix with a brace, an unknown option, a bad number', () => {
    const client = c.client;
    const cases: [() => unknown, RegExp][] = [
      [() => new RedisTokenBucket({ client: {} as never, burst: 1, refillPerSecond: 1 }), /must be a connected ioredis client/],
      [() => new RedisTokenBucket({ client: null as never, burst: 1, refillPerSecond: 1 }), /must be a connected ioredis client/],
      [() => new RedisTokenBucket({ client, prefix: 'a{b', burst: 1, refillPerSecond: 1 }), /without braces/],
      [() => new RedisTokenBucket({ client, burst: 1, refillPerSecond: 2e6 }), /refillPerSecond must be .*<= 1000000/],
      [() => new RedisTokenBucket({ client, burst: 0, refillPerSecond: 1 }), /burst must be an integer/],
      [() => new RedisTokenBucket({ client, burst: 1, refillPerSecond: 1, commandTimeoutMs: 0 }), /commandTimeoutMs must be/],
      [() => new RedisTokenBucket({ client, burst: 1, refillPerSecond: 1, whenUnavailable: 'open' as never }), /whenUnavailable must be/],
      [() => new RedisSlidingWindow({ client, limit: 1, windowMs: 1, mode: 'fixed' as never }), /mode must be one of/],
      [
        () => new RedisIdempotencyStore({ client, leaseMs: 1, timeoutMs: 5 } as never),
        /unknown option "timeoutMs"; did you mean "commandTimeoutMs"/,
      ],
      [() => new RedisVoteRegistry({ client, choices: [] }), /choices must be an array of 1 to 64 strings/],
      [() => new RedisOnceRegistry({ client, capacity: 10 } as never), /unknown option "capacity"/],
      [() => new RedisLeaseLock({ client, maxKeyBytes: -1 }), /maxKeyBytes must be an integer/],
      [() => new RedisCircuitBreaker({ client, name: '', failureThreshold: 1, resetTimeoutMs: 1 }), /name must be a non-empty string/],
      [
        () => new RedisCircuitBreaker({ client, name: 'x', failureThreshold: 1, resetTimeoutMs: 1, failureRate: {} } as never),
        /unknown option "failureRate"/,
      ],
      [() => new TwoLevelLimiter({ client, burst: 10, refillPerSecond: 1, batch: 0 }), /batch must be an integer in \[1, 10\]/],
    ];
    for (const [make, message] of cases) {
      expect(make, String(message)).toThrow(InvalidArgumentError);
      expect(make).toThrow(message);
    }
  });

  it('refuses bad keys, costs, tokens, choices and windows per call (a rejected promise, nothing stored)', async () => {
    const client = c.client;
    const prefix = freshPrefix();
    const bucket = new RedisTokenBucket({ client, prefix, burst: 2, refillPerSecond: 1, maxKeyBytes: 8 });
    await expect(bucket.check(42 as never)).rejects.toThrow(/a key must be a string or a Uint8Array/);
    await expect(bucket.check('123456789')).rejects.toThrow(/key is too long: 9 bytes, and maxKeyBytes is 8/);
    await expect(bucket.check('ééééé')).rejects.toThrow(/too long: 10 bytes/);
    await expect(bucket.check(new Uint8Array(9))).rejects.toThrow(/too long/);
    await expect(bucket.check('k', 3)).rejects.toThrow(/could never be allowed/);
    expect((await bucket.check(new Uint8Array([1, 2]))).remaining).toBe(1); // bytes are keys too
    const store = new RedisIdempotencyStore({ client, prefix, leaseMs: 1_000 });
    await expect(store.complete({ key: 'k', attempt: 'x' } as never, { status: 200 })).rejects.toThrow(
      /token must be the one begin\(\) returned/,
    );
    const votes = new RedisVoteRegistry({ client, prefix, choices: ['a'] });
    await expect(votes.vote('p', 'u', 'b')).rejects.toThrow(/choice must be one of/);
    await expect(votes.vote('p', 'u', 'a', { allowChnage: true } as never)).rejects.toThrow(/did you mean "allowChange"/);
    const once = new RedisOnceRegistry({ client, prefix });
    await expect(once.claimWithin('k', -1)).rejects.toThrow(/windowMs must be/);
    await expect(once.claim('k', { maxUses: 0 })).rejects.toThrow(/maxUses must be/);
    const leases = new RedisLeaseLock({ client, prefix });
    await expect(leases.acquireAsync('r', { ttlMs: 0 })).rejects.toThrow(/ttlMs must be/);
    const breaker = new RedisCircuitBreaker({ client, prefix, name: 'b', failureThreshold: 1, resetTimeoutMs: 1 });
    await expect(breaker.execute('no' as never)).rejects.toThrow(/fn must be a function/);
  });

  it('acquireAsync waits for a held lease until timeoutMs (null), and an abort signal ends the wait', async () => {
    const leases = new RedisLeaseLock({ client: c.client, prefix: freshPrefix() });
    const held = await leases.acquireAsync('r', { ttlMs: 5_000 });
    expect(held).not.toBeNull();
    const started = performance.now();
    expect(await leases.acquireAsync('r', { ttlMs: 1_000, timeoutMs: 100 })).toBeNull();
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    const controller = new AbortController();
    const waiting = leases.acquireAsync('r', { ttlMs: 1_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    await expect(waiting).rejects.toThrow(AbortError);
    expect((await leases.holder('r'))?.fencingToken).toBe(held!.fencingToken);
  });

  it("the breaker's timeoutMs fails a call that hangs (TimeoutError, its signal aborted), and counts it", async () => {
    const breaker = new RedisCircuitBreaker({
      client: c.client,
      prefix: freshPrefix(),
      name: 'b',
      failureThreshold: 1,
      resetTimeoutMs: 60_000,
      timeoutMs: 50,
    });
    let signal: AbortSignal | undefined;
    await expect(breaker.execute((call) => ((signal = call.signal), new Promise(() => {})))).rejects.toThrow(TimeoutError);
    expect(signal?.aborted).toBe(true);
    expect((await breaker.read()).state).toBe('OPEN');
    expect(breaker.stats()).toMatchObject({ timeouts: 1, failures: 1 });
  });
});
