import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTokenBucket } from '../../src/redis/token-bucket.js';
import { CLIENT_KINDS, connect, freshPrefix, type TestClient } from '../helpers/redis.js';

describe.each(CLIENT_KINDS)('RedisTokenBucket over %s', (kind) => {
  let c: TestClient;
  beforeAll(async () => {
    c = await connect(kind);
  });
  afterAll(async () => c.close());

  it('allows a burst, then refuses with the time to the next token', async () => {
    const b = new RedisTokenBucket({ client: c.client, prefix: freshPrefix(), burst: 3, refillPerSecond: 1 });
    const ds = [];
    for (let i = 0; i < 4; i++) ds.push(await b.check('k'));
    expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(ds.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(ds[3]!.retryAfterMs).toBeGreaterThan(900);
    expect(ds[3]!.retryAfterMs).toBeLessThanOrEqual(1000);
    expect(b.stats()).toEqual({ allowed: 3, denied: 1, unavailable: 0 });
  });
});
