/**
 * Benchmarks 28 and 29: the Redis backends, on a real `redis-server` on
 * loopback (SABRE_REDIS_URL, else one started for the run; skipped, with
 * the reason, when none can start).
 * - 28: RedisTokenBucket against rate-limiter-flexible's RateLimiterRedis on
 *   the same server and the same ioredis client: decisions per second and
 *   latency percentiles with `concurrency` decisions in flight, and Redis
 *   commands sent per decision.
 * - 29: TwoLevelLimiter against RedisTokenBucket (throughput, the share of
 *   decisions that waited on Redis), and its over-admission measured
 *   against the stated bound: two limiters with separate allowances (two
 *   processes' worth) racing for one hot key.
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { randomUUID } from 'node:crypto';
import { RedisTokenBucket, TwoLevelLimiter } from '../src/redis/index.js';
import { startRedisServer, type RedisServer } from '../src/testing/redis-server.js';
import { fmtNs, fmtRate, fmtRatio, interleave, median, pairedRatio, type Section } from './lib/stats.js';

export interface RedisBenchConfig {
  readonly rounds: number;
  /** Ms of decisions per variant per round. */
  readonly durationMs: number;
  /** Decisions in flight at once (one process, one client: ioredis pipelines them). */
  readonly concurrency: number;
}

const KEYS = 1_000;
const BATCH = 100;

interface Run {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** Redis commands sent per decision (round trips). */
  readonly commands: number;
}

/** Counts the commands `redis` sends (each a request to the server: a round trip, pipelined or not). */
function countCommands(redis: Redis): { readonly sent: number } {
  const counter = { sent: 0 };
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
    counter.sent++;
    return send(...args);
  };
  return counter;
}

/** `concurrency` loops deciding on random keys for `durationMs`; the latency of every decision. */
async function drive(sent: { readonly sent: number }, decide: (key: string) => Promise<unknown>, cfg: RedisBenchConfig): Promise<Run> {
  const before = sent.sent;
  const latencies: number[] = [];
  const end = performance.now() + cfg.durationMs;
  let n = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: cfg.concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await decide(`client-${n++ % KEYS}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const commands = sent.sent - before;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 1e6;
  return { perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99), commands: commands / latencies.length };
}

function skipped(reason: string): Section[] {
  const note = `Skipped: no Redis (${reason}). Install redis-server (Debian: apt-get install -y redis-server) or set SABRE_REDIS_URL.`;
  return [
    {
      title: '28. Redis: RedisTokenBucket vs RateLimiterRedis (rate-limiter-flexible)',
      header: ['limiter'],
      rows: [],
      goals: [],
      notes: [note],
    },
    { title: '29. Redis: TwoLevelLimiter vs the Redis-only limiter', header: ['limiter'], rows: [], goals: [], notes: [note] },
  ];
}

export async function redisLimiters(cfg: RedisBenchConfig): Promise<Section[]> {
  let server: RedisServer | undefined;
  let url = process.env.SABRE_REDIS_URL ?? '';
  if (url === '') {
    try {
      server = await startRedisServer();
      url = server.url;
    } catch (e) {
      return skipped(e instanceof Error ? e.message : String(e));
    }
  }
  const redis = new Redis(url);
  const sent = countCommands(redis);
  try {
    const prefix = `sabre-bench:${randomUUID()}:`;
    // A limit no client reaches: every decision is an admission, the common case.
    const ours = new RedisTokenBucket({ client: redis, prefix: `${prefix}ours:`, burst: 1_000_000_000, refillPerSecond: 1_000_000 });
    const peer = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}peer`, points: 1_000_000_000, duration: 1_000 });
    const twoLevel = new TwoLevelLimiter({
      client: redis,
      prefix: `${prefix}two:`,
      burst: 1_000_000_000,
      refillPerSecond: 1_000_000,
      batch: BATCH,
      capacity: 4 * KEYS,
    });
    const variants = [
      () => drive(sent, (k) => ours.check(k), cfg),
      () => drive(sent, (k) => peer.consume(k), cfg),
      () => drive(sent, (k) => twoLevel.check(k), cfg),
    ];
    for (const v of variants) await v(); // warm-up: scripts loaded, JIT
    const [o, p, t] = (await interleave(cfg.rounds, variants)) as [Run[], Run[], Run[]];
    const rate = (runs: Run[]) => runs.map((r) => r.perSecond);
    const vsPeer = pairedRatio(rate(o), rate(p));
    const vsRedis = pairedRatio(rate(t), rate(o));
    const med = (runs: Run[], f: (r: Run) => number) => median(runs.map(f));
    const remoteShare = twoLevel.stats().remote / (twoLevel.stats().local + twoLevel.stats().remote);

    const bound = await overAdmission(redis, `${prefix}bound:`);
    const note = `${cfg.concurrency} decisions in flight from one process and one ioredis client (pipelined), ${KEYS} keys, ${cfg.durationMs} ms per variant per round, ${cfg.rounds} rounds; redis-server ${server ? 'started for the run' : 'at SABRE_REDIS_URL'} on loopback.`;
    return [
      {
        title: '28. Redis: RedisTokenBucket vs RateLimiterRedis (rate-limiter-flexible)',
        intro:
          'A token-bucket decision per request on the same Redis server and client, a limit no key reaches. Redis commands per decision are counted as the client sends them (each a request to the server, pipelined or not).',
        header: ['limiter', 'decisions/s', 'p50', 'p99', 'Redis commands per decision', 'vs RateLimiterRedis (paired)'],
        rows: [
          [
            'sabre RedisTokenBucket (GCRA, one script)',
            fmtRate(med(o, (r) => r.perSecond)),
            fmtNs(med(o, (r) => r.p50)),
            fmtNs(med(o, (r) => r.p99)),
            med(o, (r) => r.commands).toFixed(2),
            fmtRatio(vsPeer),
          ],
          [
            'rate-limiter-flexible RateLimiterRedis',
            fmtRate(med(p, (r) => r.perSecond)),
            fmtNs(med(p, (r) => r.p50)),
            fmtNs(med(p, (r) => r.p99)),
            med(p, (r) => r.commands).toFixed(2),
            '1.00×',
          ],
        ],
        goals: [
          {
            text: 'RedisTokenBucket decides at least as fast as RateLimiterRedis, with one round trip per decision',
            met: vsPeer >= 1 && med(o, (r) => r.commands) <= 1.01,
            detail: `${fmtRatio(vsPeer)} its decisions per second; ${med(o, (r) => r.commands).toFixed(2)} commands per decision (${med(p, (r) => r.commands).toFixed(2)} for RateLimiterRedis)`,
          },
        ],
        notes: [note],
        data: [
          {
            variant: 'RedisTokenBucket',
            decisionsPerSecond: med(o, (r) => r.perSecond),
            p50Ns: med(o, (r) => r.p50),
            p99Ns: med(o, (r) => r.p99),
          },
          {
            variant: 'RateLimiterRedis',
            decisionsPerSecond: med(p, (r) => r.perSecond),
            p50Ns: med(p, (r) => r.p50),
            p99Ns: med(p, (r) => r.p99),
          },
        ],
      },
      {
        title: '29. Redis: TwoLevelLimiter vs the Redis-only limiter',
        intro: `The same decisions through TwoLevelLimiter (batch ${BATCH}: each process takes tokens from Redis ${BATCH} at a time and spends them from shared memory). Then its over-admission: two limiters with separate allowances (two processes' worth), 8 decisions in flight each, racing for one hot key of burst ${bound.burst} that does not refill during the run; the stated bound is burst + rate * t + processes * (batch - 1).`,
        header: ['', 'TwoLevelLimiter', 'RedisTokenBucket'],
        rows: [
          ['decisions/s', fmtRate(med(t, (r) => r.perSecond)), fmtRate(med(o, (r) => r.perSecond))],
          [
            'p50 / p99',
            `${fmtNs(med(t, (r) => r.p50))} / ${fmtNs(med(t, (r) => r.p99))}`,
            `${fmtNs(med(o, (r) => r.p50))} / ${fmtNs(med(o, (r) => r.p99))}`,
          ],
          ['decisions that waited on Redis', `${(100 * remoteShare).toFixed(2)}%`, '100%'],
          ['Redis commands per decision', med(t, (r) => r.commands).toFixed(3), med(o, (r) => r.commands).toFixed(2)],
          ['hot key: admitted (burst, stated bound)', `${bound.admitted} (${bound.burst}, ${bound.bound})`, ''],
        ],
        goals: [
          {
            text: 'TwoLevelLimiter decides at least 20× as fast as the Redis-only limiter',
            met: vsRedis >= 20,
            detail: `${fmtRatio(vsRedis)} (paired); ${(100 * remoteShare).toFixed(2)}% of its decisions waited on Redis`,
          },
          {
            text: 'its over-admission stays within the stated bound',
            met: bound.admitted <= bound.bound,
            detail: `${bound.admitted} admitted for a burst of ${bound.burst} (bound ${bound.bound}: over by ${bound.admitted - bound.burst}, at most ${bound.bound - bound.burst} allowed)`,
          },
        ],
        notes: [note],
        data: [
          { variant: 'TwoLevelLimiter', decisionsPerSecond: med(t, (r) => r.perSecond) },
          { variant: 'RedisTokenBucket', decisionsPerSecond: med(o, (r) => r.perSecond) },
        ],
      },
    ];
  } finally {
    redis.disconnect();
    await server?.stop();
  }
}

/** Two limiters with separate allowances race for one hot key: what they admit against the bound. */
async function overAdmission(redis: Redis, prefix: string): Promise<{ admitted: number; burst: number; bound: number }> {
  const burst = 500,
    rate = 0.001,
    batch = 20,
    processes = 2;
  const limiters = Array.from(
    { length: processes },
    () => new TwoLevelLimiter({ client: redis, prefix, burst, refillPerSecond: rate, batch, capacity: 16 }),
  );
  let admitted = 0;
  const started = performance.now();
  await Promise.all(
    limiters.flatMap((l) =>
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 200; i++) if (await l.tryAcquire('hot')) admitted++;
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  return { admitted, burst, bound: Math.floor(burst + rate * seconds) + processes * (batch - 1) };
}
