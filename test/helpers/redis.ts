/**
 * Redis clients for the tests: ioredis and node-redis, each over RESP2 and
 * RESP3, connected to the run's server (test/setup/redis.ts), and a key
 * prefix per test so that files sharing the server never meet.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { inject } from 'vitest';
import type { RedisClientLike } from '../../src/redis/connection.js';

export interface TestClient {
  readonly name: string;
  readonly client: RedisClientLike;
  close(): Promise<void>;
}

export type ClientKind = 'ioredis RESP2' | 'ioredis RESP3' | 'node-redis RESP2' | 'node-redis RESP3';
export const CLIENT_KINDS: readonly ClientKind[] = ['ioredis RESP2', 'ioredis RESP3', 'node-redis RESP2', 'node-redis RESP3'];

export const redisUrl = (): string => inject('redisUrl');

/** A connected client of `kind` (to `url`, default the run's server). */
export async function connect(kind: ClientKind, url = redisUrl()): Promise<TestClient> {
  const resp = kind.endsWith('RESP2') ? 2 : 3;
  if (kind.startsWith('ioredis')) {
    const client = new Redis(url, { protocol: resp, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => {}); // reconnection attempts while a test stops the server
    await client.connect();
    return { name: kind, client, close: async () => client.disconnect() };
  }
  const client = createClient({ url, RESP: resp });
  client.on('error', () => {}); // reconnection attempts while a test stops the server
  await client.connect();
  return { name: kind, client, close: () => client.close() };
}

/** A fresh key prefix: `sabre-test:<uuid>:`. */
export const freshPrefix = (): string => `sabre-test:${randomUUID()}:`;
