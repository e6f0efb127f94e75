/**
 * The keyed policies' workloads, run by every thread of a cross-process run
 * (props/redis/cluster.ts), on either backend: shared memory (the policy
 * made in the process, its handle given to the threads) or Redis (each
 * thread with its own client). What each thread does and logs, and what
 * the process reads after all its threads are done:
 *
 *   bucket, two-level  tryAcquire('hot') `ops` times; logs admissions
 *   window             the same on an exact SlidingWindow
 *   claims             claim('coupon', { maxUses }) `ops` times; logs claims
 *   charged-once       begin(pay-<k>) on random keys; a 'new' charges (logs
 *                      k) and completes
 *   votes              vote(poll, user-<u>) for random users; logs accepted u;
 *                      the process reads the tally
 *   leases             acquire('invoice'), then inside: a witness count that
 *                      must be 1 (logs overlaps and the fencing tokens)
 *   breaker            execute() of calls that fail at random; a probe checks
 *                      a witness count of probes in flight (logs overlaps)
 *
 * The unsafe twins ('twin'): the same policy on Redis with its atomic script
 * split into separate commands (a GET, a decision in the client, a SET), as
 * a naive port to Redis would do. They must break the invariants.
 */
import type { Redis } from 'ioredis';
import { seededRandom } from '../../src/testing/random.js';

export type Policy = 'bucket' | 'two-level' | 'window' | 'claims' | 'charged-once' | 'votes' | 'leases' | 'breaker';
export const POLICIES: readonly Policy[] = ['bucket', 'two-level', 'window', 'claims', 'charged-once', 'votes', 'leases', 'breaker'];

export interface Scenario {
  readonly policy: Policy;
  readonly backend: 'memory' | 'redis';
  readonly variant: 'safe' | 'twin';
  /** Redis key prefix of this run (fresh per run). */
  readonly prefix: string;
  readonly seed: number;
  /** Operations per thread. */
  readonly ops: number;
  /** Keys (charged-once) or users (votes) to draw from. */
  readonly keys: number;
  /** The quota: burst, window limit, coupon uses. */
  readonly quota: number;
  /** Most ms a thread sleeps between operations (0: none). */
  readonly pauseMs: number;
}

/** What one thread reports. */
export interface ThreadLog {
  readonly admitted: number;
  /** Keys charged (charged-once), users whose vote was accepted (votes), fencing tokens in order (leases). */
  readonly items: number[];
  /** Times a witness saw two holders (leases) or two probes (breaker). */
  readonly overlaps: number;
}

/** What a process reports after its threads: their logs, and the final tally (votes). */
export interface ProcessReport {
  readonly logs: ThreadLog[];
  readonly tally?: Record<string, number>;
}

/** The policy's operations as a thread sees them (each backend and variant gives these). */
export interface Subject {
  acquire?(): Promise<boolean>;
  claim?(): Promise<boolean>;
  begin?(key: string): Promise<{ token: unknown } | undefined>;
  complete?(token: unknown): Promise<void>;
  vote?(user: string): Promise<boolean>;
  lease?(): Promise<{ token: number; release(): Promise<void> } | undefined>;
  execute?(fn: (probe: boolean) => Promise<void>): Promise<void>;
  /** The witness: enter returns how many are inside, this one included. */
  enter(): Promise<number>;
  leave(): Promise<void>;
}

export const CHOICES = ['yes', 'no'];
export const FINGERPRINT = 'a'.repeat(64);

/** One thread's run of the scenario on `subject`. */
export async function runWorkload(s: Scenario, thread: number, subject: Subject): Promise<ThreadLog> {
  const random = seededRandom(s.seed, thread);
  const pause = () => (s.pauseMs > 0 && random() < 0.5 ? new Promise((r) => setTimeout(r, random() * s.pauseMs)) : undefined);
  let admitted = 0,
    overlaps = 0;
  const items: number[] = [];
  // A breaker's probes come only after it opens and its reset passes: more calls, so that several do.
  const ops = s.policy === 'breaker' ? s.ops * 10 : s.ops;
  for (let i = 0; i < ops; i++) {
    switch (s.policy) {
      case 'bucket':
      case 'two-level':
      case 'window':
        if (await subject.acquire!()) admitted++;
        break;
      case 'claims':
        if (await subject.claim!()) admitted++;
        break;
      case 'charged-once': {
        // Every thread walks the same keys (with some drawn at random): new keys are begun together.
        const k = random() < 0.7 ? i : Math.floor(random() * s.keys);
        const b = await subject.begin!(`pay-${k}`);
        if (b !== undefined) {
          items.push(k); // charged
          await pause();
          await subject.complete!(b.token);
        }
        break;
      }
      case 'votes': {
        const u = Math.floor(random() * s.keys);
        if (await subject.vote!(`user-${u}`)) items.push(u);
        break;
      }
      case 'leases': {
        const l = await subject.lease!();
        if (l !== undefined) {
          items.push(l.token);
          if ((await subject.enter()) > 1) overlaps++;
          await pause();
          await subject.leave();
          await l.release();
        }
        break;
      }
      case 'breaker':
        await subject.execute!(async (probe) => {
          if (probe) {
            if ((await subject.enter()) > 1) overlaps++;
            await pause();
            await subject.leave();
          }
          if (random() < 0.6) throw new Error('upstream failed');
        }).catch(() => {});
        break;
    }
    await pause();
  }
  return { admitted, items, overlaps };
}

/** Bucket settings of every run: refill so slow that no token comes back during a run. */
export const REFILL_PER_SECOND = 0.001;
export const BATCH = 4;
export const WINDOW_MS = 600_000;
export const LEASE_TTL_MS = 30_000;
export const BREAKER = { failureThreshold: 2, resetTimeoutMs: 2 } as const;

// ---- the unsafe twins: each atomic script split into separate commands ----------------------

/** A token bucket that reads the key's TAT, decides in the client and writes it back (GET, then SET). */
export function twinBucket(redis: Redis, key: string, burst: number): () => Promise<boolean> {
  const T = Math.ceil(1e6 / REFILL_PER_SECOND);
  return async () => {
    const now = Date.now() * 1000;
    const tat = Number((await redis.get(key)) ?? 0);
    const base = Math.max(tat, now);
    if (base + T - now > burst * T) return false;
    await redis.set(key, String(base + T));
    return true;
  };
}

/** A sliding window that counts (ZCARD), then adds (ZADD) in a second command. */
export function twinWindow(redis: Redis, key: string, limit: number): () => Promise<boolean> {
  let n = 0;
  return async () => {
    if ((await redis.zcard(key)) >= limit) return false;
    await redis.zadd(key, Date.now(), `${process.pid}:${Math.random()}:${n++}`);
    return true;
  };
}

/** A coupon that reads its uses (GET), then writes uses + 1 (SET). */
export function twinClaim(redis: Redis, key: string, maxUses: number): () => Promise<boolean> {
  return async () => {
    const uses = Number((await redis.get(key)) ?? 0);
    if (uses >= maxUses) return false;
    await redis.set(key, String(uses + 1));
    return true;
  };
}

/** An idempotency begin that checks the record (EXISTS), then takes it (SET). */
export function twinBegin(redis: Redis, prefix: string): (key: string) => Promise<{ token: unknown } | undefined> {
  return async (key) => {
    if ((await redis.exists(prefix + key)) === 1) return undefined;
    await redis.set(prefix + key, FINGERPRINT);
    return { token: key };
  };
}

/** A ballot that is read (HGET), then written and counted (HSET, HINCRBY) in later commands. */
export function twinVote(redis: Redis, prefix: string): (user: string) => Promise<boolean> {
  return async (user) => {
    if ((await redis.hget(`${prefix}ballots`, user)) !== null) return false;
    await redis.hset(`${prefix}ballots`, user, 'yes');
    await redis.hincrby(`${prefix}tally`, 'yes', 1);
    return true;
  };
}

/** A lease taken when the key is absent (EXISTS, then INCR for the token, then SET PX). */
export function twinLease(redis: Redis, prefix: string): () => Promise<{ token: number; release(): Promise<void> } | undefined> {
  return async () => {
    if ((await redis.exists(`${prefix}lease`)) === 1) return undefined;
    const token = await redis.incr(`${prefix}fence`);
    await redis.set(`${prefix}lease`, String(token), 'PX', LEASE_TTL_MS);
    return {
      token,
      release: async () => {
        await redis.del(`${prefix}lease`);
      },
    };
  };
}

/**
 * A breaker whose admission reads the state and the probes in flight, then
 * (a command later) registers its probe: two callers can both see no probe
 * and both go. Its transitions are the safe breaker's (its state hash).
 */
export function twinBreaker(redis: Redis, prefix: string): (fn: (probe: boolean) => Promise<void>) => Promise<void> {
  const state = `${prefix}state`,
    probes = `${prefix}probes`;
  return async (fn) => {
    const [s, opened, inFlight] = await Promise.all([redis.hget(state, 's'), redis.hget(state, 'o'), redis.scard(probes)]);
    let probe = false;
    if (s === '1') {
      if (Date.now() < Number(opened) + BREAKER.resetTimeoutMs) return;
      probe = true;
    }
    if (s === '2') probe = true;
    if (probe && inFlight > 0) return;
    const id = `${process.pid}:${Math.random()}`;
    if (probe) await redis.sadd(probes, id);
    let failed = false;
    try {
      await fn(probe);
    } catch {
      failed = true;
    }
    if (probe) await redis.srem(probes, id);
    if (failed) {
      const f = await redis.hincrby(state, 'f', 1);
      if (probe || f >= BREAKER.failureThreshold) await redis.hset(state, 's', '1', 'o', String(Date.now()), 'f', '0');
    } else await redis.hset(state, 's', '0', 'f', '0');
  };
}
