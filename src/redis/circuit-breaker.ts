/**
 * RedisCircuitBreaker: a `CircuitBreaker` whose state lives in Redis, so the
 * processes (and machines) that call one dependency open, probe and close
 * together.
 */
import { randomUUID } from 'node:crypto';
import { CircuitOpenError, InvalidArgumentError, TimeoutError, UnavailableError } from '../errors.js';
import { custom, fn as fnField, integer, number, oneOf, withDefault } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { breakerState } from '../observe/channels.js';
import { MAX_BREAKER_MS, MAX_FAILURE_THRESHOLD, MAX_PROBES, type BreakerCall } from '../resilience/circuit-breaker.js';
import { STATE_NAMES, type BreakerState } from '../resilience/breaker-state.js';
import { describeValue } from '../validate.js';
import { DeadlineQueue, TimedCall } from '../resilience/call-timeouts.js';
import { Script, type RedisArg, type RedisClientLike } from './connection.js';
import { prefixField, REDIS_FIELDS, RedisPrimitive } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * The breaker is a Redis hash { s: state (0 CLOSED, 1 OPEN, 2 HALF_OPEN),
 * q: transitions so far, f: failures in a row in this CLOSED period, o:
 * when it last opened (ms of the server's TIME) } and a sorted set of the
 * probes in flight (':p', same hash tag), each scored by when its slot
 * lapses. Every admission and every outcome is one script, and a
 * transition is made inside one: exactly one caller, in whichever process,
 * makes each, and publishes it on `sabre:breaker:state`.
 *
 * Admission (ADMIT): CLOSED admits; OPEN refuses until resetTimeoutMs has
 * passed since `o`, and the first admission after that moves it to
 * HALF_OPEN; HALF_OPEN admits a probe only into a free slot (at most
 * halfOpenMaxCalls at once, across every process). A probe's slot lapses
 * after the call's `timeoutMs` (or resetTimeoutMs without one) plus the
 * Redis deadline, so a process that dies mid-probe holds it no longer than
 * that.
 *
 * Outcome (RECORD): tagged with the transition count `q` the call was
 * admitted under, as the shared-memory breaker tags its counts by period: an
 * outcome of an earlier period is dropped (a slow call cannot reopen a
 * breaker that has since closed). CLOSED counts failures in a row and opens
 * at failureThreshold; a probe's success closes, its failure reopens.
 *
 * The failure-rate rule of the shared-memory breaker is not offered here:
 * only consecutive failures.
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;

const ADMIT = new Script(`${NOW}
local r = redis.call('HMGET', KEYS[1], 's', 'q', 'o')
local s, q, o = tonumber(r[1] or '0'), tonumber(r[2] or '0'), tonumber(r[3] or '0')
local reset, max, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local moved = 0
if s == 1 then
  if now < o + reset then return { 0, q, string.format('%.3f', o + reset - now), s, 0 } end
  s, q, moved = 2, q + 1, 1
  redis.call('HSET', KEYS[1], 's', 2, 'q', q)
  redis.call('DEL', KEYS[2])
end
if s == 0 then return { 1, q, '0', s, moved } end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.3f', now))
if redis.call('ZCARD', KEYS[2]) >= max then return { 0, q, '0', s, moved } end
redis.call('ZADD', KEYS[2], string.format('%.3f', now + lease), ARGV[4])
redis.call('PEXPIRE', KEYS[2], math.ceil(lease))
return { 2, q, '0', s, moved }
`);

const RECORD = new Script(`${NOW}
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
local r = redis.call('HMGET', KEYS[1], 's', 'q', 'f')
local s, q, f = tonumber(r[1] or '0'), tonumber(r[2] or '0'), tonumber(r[3] or '0')
if q ~= tonumber(ARGV[1]) then return { s, q, -1 } end
local failed = ARGV[2] == '1'
if s == 0 then
  if not failed then
    if f > 0 then redis.call('HSET', KEYS[1], 'f', 0) end
    return { s, q, s }
  end
  f = f + 1
  if f < tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'f', f)
    return { s, q, s }
  end
  redis.call('HSET', KEYS[1], 's', 1, 'q', q + 1, 'f', 0, 'o', string.format('%.3f', now))
  return { 1, q + 1, 0 }
end
if s == 2 then
  redis.call('DEL', KEYS[2])
  if failed then
    redis.call('HSET', KEYS[1], 's', 1, 'q', q + 1, 'o', string.format('%.3f', now))
    return { 1, q + 1, 2 }
  end
  redis.call('HSET', KEYS[1], 's', 0, 'q', q + 1, 'f', 0)
  return { 0, q + 1, 2 }
end
return { s, q, s }
`);

const READ = new Script(`${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.3f', now))
local r = redis.call('HMGET', KEYS[1], 's', 'q', 'f', 'o')
return { tonumber(r[1] or '0'), tonumber(r[2] or '0'), tonumber(r[3] or '0'), r[4] or '0', redis.call('ZCARD', KEYS[2]), string.format('%.3f', now) }
`);

const PROBES = ':p';

export interface RedisCircuitBreakerOptions {
  /** A connected ioredis client or Cluster, or a node-redis client. */
  readonly client: RedisClientLike;
  /** The dependency this breaker guards: every process that names it shares its state. */
  readonly name: string;
  /** Open after this many failures in a row. */
  readonly failureThreshold: number;
  /** How long the breaker stays OPEN before it lets probes through, in ms. */
  readonly resetTimeoutMs: number;
  /** Probe calls HALF_OPEN admits at once, across every process (default 1, at most 64). */
  readonly halfOpenMaxCalls?: number;
  /** A call not settled after this many ms fails with TimeoutError and counts as a failure (default: none). */
  readonly timeoutMs?: number;
  /** Which errors count as failures (default: all). */
  readonly isFailure?: (error: unknown) => boolean;
  /** The namespace of the breaker's Redis keys (default `'sabre:breaker:'`). */
  readonly prefix?: string;
  /** Longest name in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
  /**
   * What `execute` does when Redis cannot answer: `'throw'` the
   * UnavailableError (default), `'fail-open'` run the call unguarded,
   * `'fail-closed'` refuse it with CircuitOpenError.
   */
  readonly whenUnavailable?: 'throw' | 'fail-open' | 'fail-closed';
}

/** The breaker as Redis holds it (one read). */
export interface RedisBreakerSnapshot {
  readonly state: BreakerState;
  readonly transitions: number;
  /** While OPEN, ms until probes are let through; otherwise 0. */
  readonly retryAfterMs: number;
  readonly consecutiveFailures: number;
  readonly probesInFlight: number;
}

const OPTIONS = defineOptions('new RedisCircuitBreaker(options)', {
  ...REDIS_FIELDS,
  prefix: prefixField('sabre:breaker:'),
  name: custom<string>((v, n) => {
    if (typeof v === 'string' && v !== '') return v;
    throw new InvalidArgumentError(`${n} must be a non-empty string (the dependency the breaker guards), got ${describeValue(v)}`);
  }),
  failureThreshold: integer({ max: MAX_FAILURE_THRESHOLD }),
  resetTimeoutMs: number({ above: 0, max: MAX_BREAKER_MS, unit: 'milliseconds' }),
  halfOpenMaxCalls: integer({ max: MAX_PROBES, default: 1 }),
  timeoutMs: withDefault(number({ above: 0, max: MAX_BREAKER_MS, infinite: true, unit: 'milliseconds' }), Infinity),
  isFailure: fnField<(error: unknown) => boolean>(),
  whenUnavailable: oneOf(['throw', 'fail-open', 'fail-closed'] as const, 'throw'),
});

/**
 * A circuit breaker whose state every process shares through Redis: one
 * process's failures open it for all, and all of them then fail fast
 * (CircuitOpenError with `retryAfterMs`) until it has recovered; in
 * HALF_OPEN at most `halfOpenMaxCalls` probes run at once across every
 * process. `execute(fn)` is `CircuitBreaker#execute`: `fn` gets `{ probe,
 * seq, signal }`, its result or error reaches the caller unchanged, and
 * the HTTP gates (`httpCircuitBreaker`, `sabre/hono`'s `circuitBreaker`)
 * take this breaker unchanged. Each call costs two Redis round trips (its
 * admission and its outcome).
 *
 * @throws CircuitOpenError when OPEN, or HALF_OPEN with every probe slot taken
 * @throws TimeoutError when a call passes `timeoutMs`
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs` (with `whenUnavailable: 'throw'`)
 * @throws InvalidArgumentError for bad options or a `fn` that is not a function
 */
export class RedisCircuitBreaker extends RedisPrimitive {
  readonly name: string;
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;
  readonly halfOpenMaxCalls: number;
  readonly timeoutMs: number;
  readonly whenUnavailable: 'throw' | 'fail-open' | 'fail-closed';
  private readonly isFailure: ((error: unknown) => boolean) | undefined;
  private readonly keys: [RedisArg, RedisArg];
  private readonly probeLeaseMs: number;
  private readonly counts = { successes: 0, failures: 0, timeouts: 0, rejections: 0 };
  private readonly deadlines: DeadlineQueue<TimedCall<undefined>> | undefined;

  constructor(options: RedisCircuitBreakerOptions) {
    const o = OPTIONS.parse(options);
    super(o);
    this.name = o.name;
    this.failureThreshold = o.failureThreshold;
    this.resetTimeoutMs = o.resetTimeoutMs;
    this.halfOpenMaxCalls = o.halfOpenMaxCalls;
    this.timeoutMs = o.timeoutMs;
    this.isFailure = o.isFailure;
    this.whenUnavailable = o.whenUnavailable;
    this.keys = [this.keyOf(o.name, 'name'), this.keyOf(o.name, 'name', PROBES)];
    this.probeLeaseMs = (o.timeoutMs === Infinity ? o.resetTimeoutMs : o.timeoutMs) + o.commandTimeoutMs;
    this.deadlines = o.timeoutMs === Infinity ? undefined : new DeadlineQueue<TimedCall<undefined>>(o.timeoutMs, this.expire);
  }

  /** This object's calls, by outcome, and those Redis could not answer. */
  stats(): { successes: number; failures: number; timeouts: number; rejections: number; unavailable: number } {
    return { ...this.counts, unavailable: this.unavailableCount };
  }

  /** The breaker as Redis holds it now. */
  async read(): Promise<RedisBreakerSnapshot> {
    const r = (await this.run(READ, this.keys, [])) as [number, number, number, string, number, string];
    const state = STATE_NAMES[r[0]]!;
    const openUntil = Number(r[3]) + this.resetTimeoutMs;
    return {
      state,
      transitions: r[1],
      retryAfterMs: state === 'OPEN' ? Math.max(0, openUntil - Number(r[5])) : 0,
      consecutiveFailures: r[2],
      probesInFlight: r[4],
    };
  }

  /** Runs `fn` if the breaker admits it, and records its outcome. */
  async execute<T>(fn: (call: BreakerCall) => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`execute(fn): fn must be a function, got ${describeValue(fn)}`);
    let admitted: [number, number, string, number, number];
    const probeId = randomUUID();
    try {
      admitted = (await this.run(
        ADMIT,
        this.keys,
        [String(this.resetTimeoutMs), String(this.halfOpenMaxCalls), String(this.probeLeaseMs), probeId],
        this.whenUnavailable,
      )) as typeof admitted;
    } catch (e) {
      if (!(e instanceof UnavailableError) || this.whenUnavailable === 'throw') throw e;
      if (this.whenUnavailable === 'fail-closed') throw this.refusal(this.commandTimeoutMs());
      return fn({ probe: false, seq: -1, signal: undefined });
    }
    const [verdict, seq, retryAfter, state, moved] = admitted;
    if (moved === 1) this.publish(1, 2);
    if (verdict === 0) {
      throw this.refusal(state === 1 ? Number(retryAfter) : 0);
    }
    const probe = verdict === 2;
    let failed = false;
    try {
      return await this.call(fn, probe, seq);
    } catch (e) {
      failed = this.isFailure === undefined || e instanceof TimeoutError || this.isFailure(e);
      throw e;
    } finally {
      if (failed) this.counts.failures++;
      else this.counts.successes++;
      await this.record(seq, failed, probe ? probeId : '');
    }
  }

  /** Runs `fn`, failed with TimeoutError (its signal aborted) past `timeoutMs`: one timer for all calls (DeadlineQueue). */
  private async call<T>(fn: (call: BreakerCall) => T | PromiseLike<T>, probe: boolean, seq: number): Promise<T> {
    const deadlines = this.deadlines;
    if (deadlines === undefined) return fn({ probe, seq, signal: undefined });
    const call = new TimedCall<undefined>(probe, seq, undefined);
    const late = new Promise<never>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    deadlines.add(call);
    try {
      return await Promise.race([fn(call), late]);
    } finally {
      deadlines.finish(call);
    }
  }

  /** A call passed its deadline: its caller gets TimeoutError, its signal aborts (the outcome is recorded as a failure). */
  private readonly expire = (call: TimedCall<undefined>): void => {
    const error = new TimeoutError(`the call did not settle within timeoutMs = ${this.timeoutMs} ms`, { timeoutMs: this.timeoutMs });
    this.counts.timeouts++;
    call.abort(error);
    call.reject(error);
  };

  /** Records an outcome; a Redis that cannot answer loses it (the caller already has its result). */
  private async record(seq: number, failed: boolean, probeId: string): Promise<void> {
    let r: [number, number, number];
    try {
      r = (await this.run(RECORD, this.keys, [String(seq), failed ? '1' : '0', probeId, String(this.failureThreshold)])) as typeof r;
    } catch (e) {
      if (e instanceof UnavailableError) return;
      throw e;
    }
    const [to, , from] = r;
    if (from !== -1 && from !== to) this.publish(from, to);
  }

  private refusal(retryAfterMs: number): CircuitOpenError {
    this.counts.rejections++;
    return new CircuitOpenError(`circuit ${JSON.stringify(this.name)} is open`, { retryAfterMs });
  }

  private commandTimeoutMs(): number {
    return this.connection.commandTimeoutMs;
  }

  private publish(from: number, to: number): void {
    if (breakerState.hasSubscribers) breakerState.publish({ breaker: this, from: STATE_NAMES[from]!, to: STATE_NAMES[to]! });
  }
}
