/**
 * Redis Cluster runs a script only if all its keys are in one slot: every
 * operation's keys must share one hash tag (the user's key, in braces). A
 * client that records what it is sent (and answers as Redis would not:
 * these calls go nowhere) checks each script call's keys.
 */
import { describe, expect, it } from 'vitest';
import {
  RedisCircuitBreaker,
  RedisIdempotencyStore,
  RedisLeaseLock,
  RedisOnceRegistry,
  RedisSlidingWindow,
  RedisTokenBucket,
  RedisVoteRegistry,
} from '../../src/redis/index.js';

/** The hash tag Redis Cluster hashes: the text between the first '{' and the next '}', if not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

function recordingClient(): { client: { sendCommand(args: (string | Buffer)[]): Promise<unknown> }; calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    client: {
      sendCommand: (args) => {
        const [command, , count, ...rest] = args.map(String);
        if (command === 'EVALSHA') calls.push(rest.slice(0, Number(count)));
        return Promise.reject(new Error('recorded, not sent'));
      },
    },
  };
}

describe('every operation keeps its keys in one Redis Cluster slot', () => {
  it('keys of one operation share the hash tag of the user key, whatever the key holds', async () => {
    const { client, calls } = recordingClient();
    const commandTimeoutMs = 50;
    const keys = ['user:42', 'a}b{c', '{}', 'é', ''];
    for (const key of keys.filter((k) => k !== '')) {
      const ops: (() => Promise<unknown>)[] = [
        () => new RedisTokenBucket({ client, commandTimeoutMs, burst: 1, refillPerSecond: 1 }).check(key),
        () => new RedisSlidingWindow({ client, commandTimeoutMs, limit: 1, windowMs: 1 }).check(key),
        () => new RedisIdempotencyStore({ client, commandTimeoutMs, leaseMs: 1 }).begin(key, 'f'),
        () => new RedisVoteRegistry({ client, commandTimeoutMs, choices: ['a'] }).vote(key, 'u', 'a'),
        () => new RedisOnceRegistry({ client, commandTimeoutMs }).claim(key),
        () => new RedisLeaseLock({ client, commandTimeoutMs }).acquireAsync(key, { ttlMs: 1, timeoutMs: 0 }),
        () => new RedisCircuitBreaker({ client, commandTimeoutMs, name: key, failureThreshold: 1, resetTimeoutMs: 1 }).execute(() => 1),
      ];
      for (const op of ops) await op().catch(() => {});
    }
    expect(calls.length).toBe(7 * 4);
    for (const call of calls) {
      expect(call.length).toBeGreaterThan(0);
      expect(new Set(call.map(hashTag)).size, call.join(' ')).toBe(1);
    }
    // Keys with braces of their own still hash as one (their tag stops at the first '}'), and two keys never share a name.
    expect(new Set(calls.filter((c) => c.length === 1).map((c) => c[0])).size).toBe(calls.filter((c) => c.length === 1).length);
  });
});
