/**
 * TwoLevelLimiter: most decisions from the process's allowance, the stated
 * over-admission bound across processes, and the handle re-opened in a
 * worker thread with its own client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { TwoLevelLimiter } from '../../src/redis/index.js';
import { connect, freshPrefix, type TestClient } from '../helpers/redis.js';

describe('TwoLevelLimiter', () => {
  let c: TestClient;
  beforeAll(async () => {
    c = await connect('ioredis RESP3');
  });
  afterAll(async () => c.close());

  it('takes a batch from Redis and decides the next requests locally; a refusal from Redis is kept until a token is due', async () => {
    const l = new TwoLevelLimiter({ client: c.client, prefix: freshPrefix(), burst: 10, refillPerSecond: 0.001, batch: 4, capacity: 16 });
    const allowed = [];
    for (let i = 0; i < 12; i++) allowed.push(await l.tryAcquire('k'));
    expect(allowed).toEqual([...Array<boolean>(10).fill(true), false, false]);
    // 10 tokens in batches of 4: Redis for requests 1, 5, 9 (which got the last 2); 11 refused by Redis, 12 by the
    // remembered refusal (until Redis would have a token again).
    expect(l.stats()).toEqual({ local: 8, remote: 4, allowed: 10, denied: 2, unavailable: 0 });
    const refused = await l.check('k');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(900_000);
  });

  it('drops tokens unspent after leaseMs (they err toward refusing)', async () => {
    const l = new TwoLevelLimiter({ client: c.client, prefix: freshPrefix(), burst: 4, refillPerSecond: 0.001, batch: 4, leaseMs: 50 });
    expect(await l.tryAcquire('k')).toBe(true); // holds 3 more
    await new Promise((r) => setTimeout(r, 80));
    expect(await l.tryAcquire('k')).toBe(false); // the 3 lapsed; Redis has none left
  });

  it('over-admits at most N * (batch - 1) beyond the global bucket, with N processes racing', async () => {
    const N = 4,
      burst = 40,
      batch = 8;
    const prefix = freshPrefix();
    // N processes: N limiters, each with its own shared-memory allowance, over one Redis bucket.
    const processes = Array.from(
      { length: N },
      () => new TwoLevelLimiter({ client: c.client, prefix, burst, refillPerSecond: 0.001, batch }),
    );
    const started = Date.now();
    // Each process: 3 threads of its event loop, each sending 15 requests one after another.
    const thread = async (l: TwoLevelLimiter) => {
      const out = [];
      for (let i = 0; i < 15; i++) out.push(await l.tryAcquire('hot'));
      return out;
    };
    const results = (await Promise.all(processes.flatMap((l) => [thread(l), thread(l), thread(l)]))).flat();
    const seconds = (Date.now() - started) / 1000;
    const admitted = results.filter(Boolean).length;
    expect(admitted).toBeLessThanOrEqual(burst + Math.ceil(seconds * 0.001) + N * (batch - 1));
    expect(admitted).toBeLessThanOrEqual(burst); // and never more than Redis granted
    const remote = processes.reduce((s, l) => s + l.stats().remote, 0);
    expect(remote).toBeLessThan(results.length / 2); // most decisions stayed local
  });

  it('checks its options and costs', async () => {
    expect(() => new TwoLevelLimiter({ client: c.client, burst: 4, refillPerSecond: 1, batch: 5 })).toThrow(
      /batch must be an integer in \[1, 4\]/,
    );
    expect(() => new TwoLevelLimiter({ client: c.client, burst: 4, refillPerSecond: 1, bacth: 2 } as never)).toThrow(
      /did you mean "batch"/,
    );
    expect(() => new TwoLevelLimiter({ client: {} as never, burst: 4, refillPerSecond: 1 })).toThrow(InvalidArgumentError);
    const l = new TwoLevelLimiter({ client: c.client, prefix: freshPrefix(), burst: 4, refillPerSecond: 1 });
    await expect(l.check('k', 5)).rejects.toThrow(InvalidArgumentError);
  });
});
