/**
 * One Redis for the whole run: the server at SABRE_REDIS_URL when it is
 * set, else a `redis-server` started on a free loopback port (and stopped
 * at the end). Test files read its address with `inject('redisUrl')` and
 * keep apart by key prefix. A missing `redis-server` fails the run with the
 * way to install one: the Redis backends are part of the suite.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer } from '../../src/testing/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.SABRE_REDIS_URL;
  if (given !== undefined && given !== '') {
    project.provide('redisUrl', given);
    return undefined;
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
