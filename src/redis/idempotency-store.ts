/**
 * RedisIdempotencyStore: `IdempotencyStore` on Redis, so a payment retried
 * on another process or machine is still charged once.
 */
import { duration, integer } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { idempotencyOutcome } from '../observe/channels.js';
import { COMPLETED, IN_FLIGHT, decodeResponse, encodeResponse, type StoredResponse } from '../store/idempotency-record.js';
import {
  DEFAULT_IDEMPOTENCY_KEY_BYTES,
  DEFAULT_IDEMPOTENCY_RESPONSE_BYTES,
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
  IdempotencyStore,
  COUNT_OF,
  checkFingerprint,
  checkHolds,
  checkKey,
  checkToken,
  type IdempotencyBegin,
  type IdempotencyCounts,
  type IdempotencyFingerprintInput,
  type IdempotencyResponse,
  type IdempotencyToken,
} from '../store/idempotency-store.js';
import { Script, type RedisClientLike } from './connection.js';
import { prefixField, REDIS_FIELDS, RedisPrimitive } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * A key's record is one Redis hash: s (state: 1 in flight, 2 completed, 0
 * aborted), a (the attempt holding or completing it), f (fingerprint), e
 * (expiry: the lease's end in flight, the retention's end once completed,
 * in ms of the server's TIME), and the response (st status, h headers as
 * JSON, k body kind, b body; bytes as base64). Each call is one script, so
 * each is atomic on the server: begin's read-decide-take is the
 * `SET NX PX` of a lease with the fingerprint check and the takeover of a
 * lapsed lease in the same step. Linearization point: the script.
 *
 * Attempts: a new attempt is the server's time in microseconds, or the
 * record's last attempt + 1 if that is larger; so a key's attempts only
 * grow, even after an abort (which keeps the attempt in a tombstone for a
 * lease) or after the record left Redis (time moved on past it). A token
 * names its key, so attempts need only be increasing per key.
 *
 * Lifetimes: an in-flight record stays in Redis for lease + retention, so
 * a retry long after a lapsed lease still learns that it `recovered` the
 * key (and a late `complete` of the lapsed attempt is still refused after
 * a retry took over); a completed one for its retention; an aborted
 * tombstone for a lease.
 *
 * Faults: there is no fail-open. A call Redis does not answer in time
 * rejects with UnavailableError (`idempotent()` answers 503 with
 * Retry-After, so nothing runs twice). A `begin` that timed out may still
 * have taken the key on the server: its lease lapses and the next retry
 * gets 'new' with `recovered: true`, and checks upstream before acting.
 * What Redis acknowledged survives a restart if Redis persists it (an
 * append-only file synced at each write, or replicas).
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;

/** The answer of a live record, shared by begin and peek: mismatch, replay or in-flight; nil if absent or lapsed. */
const LIVE = `${NOW}
local r = redis.call('HMGET', KEYS[1], 's', 'a', 'f', 'e', 'st', 'h', 'k', 'b')
local s = tonumber(r[1] or '0')
local function live()
  if s == 0 or tonumber(r[4]) <= now then return nil end
  if r[3] ~= ARGV[1] then return { 'mismatch' } end
  if s == ${COMPLETED} then return { 'replay', r[5], r[6], r[7], r[8] } end
  return { 'in-flight', string.format('%.3f', tonumber(r[4]) - now) }
end`;

const BEGIN = new Script(`${LIVE}
local found = live()
if found then return found end
local attempt = math.max(math.floor(now * 1000), tonumber(r[2] or '0') + 1)
local lease, retention = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', ${IN_FLIGHT}, 'a', string.format('%.0f', attempt), 'f', ARGV[1], 'e', string.format('%.3f', now + lease))
redis.call('PEXPIRE', KEYS[1], math.ceil(lease + retention))
return { 'new', string.format('%.0f', attempt), s == ${IN_FLIGHT} and 1 or 0 }
`);

const PEEK = new Script(`${LIVE}
return live() or { 'absent' }
`);

/** Ends attempt ARGV[1]: completes it (ARGV[2] = '1', with the response) or aborts it; else says what holds the key. */
const FINISH = new Script(`${NOW}
local r = redis.call('HMGET', KEYS[1], 's', 'a')
if not r[1] then return { 'absent' } end
if r[2] ~= ARGV[1] or tonumber(r[1]) ~= ${IN_FLIGHT} then return { 'held', r[2], tonumber(r[1]) } end
if ARGV[2] == '1' then
  local retention = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 's', ${COMPLETED}, 'e', string.format('%.3f', now + retention), 'st', ARGV[4], 'h', ARGV[5], 'k', ARGV[6], 'b', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], math.ceil(retention))
else
  redis.call('HSET', KEYS[1], 's', 0)
  redis.call('HDEL', KEYS[1], 'f', 'e')
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])))
end
return { 'ok' }
`);

export interface RedisIdempotencyStoreOptions {
  /** A connected ioredis client or Cluster, or a node-redis client. */
  readonly client: RedisClientLike;
  /** How long a request holds its key, in ms: above the slowest request. */
  readonly leaseMs: number;
  /** How long a completed response is kept for replay, in ms (default 24 h). */
  readonly retentionMs?: number;
  /** Longest key in UTF-8 bytes (default 765). */
  readonly maxKeyBytes?: number;
  /** Largest response (headers as JSON and body) in bytes (default 4,096). */
  readonly maxResponseBytes?: number;
  /** The namespace of the store's Redis keys (default `'sabre:idem:'`). */
  readonly prefix?: string;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
}

/** What a RedisIdempotencyStore counts: this object's calls, by answer, and those Redis did not answer in time. */
export interface RedisIdempotencyStats extends IdempotencyCounts {
  /** Calls Redis did not answer in time (each rejected with UnavailableError). */
  readonly unavailable: number;
}

const OPTIONS = defineOptions('new RedisIdempotencyStore(options)', {
  ...REDIS_FIELDS,
  prefix: prefixField('sabre:idem:'),
  maxKeyBytes: integer({ max: DEFAULT_IDEMPOTENCY_KEY_BYTES, default: DEFAULT_IDEMPOTENCY_KEY_BYTES }),
  leaseMs: duration({ positive: true, infinite: false }),
  retentionMs: duration({ positive: true, infinite: false, default: DEFAULT_IDEMPOTENCY_RETENTION_MS }),
  maxResponseBytes: integer({ max: 64 * 1024 * 1024, default: DEFAULT_IDEMPOTENCY_RESPONSE_BYTES }),
});

const BODY_KINDS = ['n', 's', 'b'] as const; // by bodyKind: none, string, bytes

/**
 * The records behind idempotency keys on Redis: `IdempotencyStore`'s calls
 * and answers, as promises (`begin`, `peek`, `complete`, `abort`), for every
 * process that uses the same `prefix` on the same Redis. `idempotent()` and
 * the Hono `idempotency` middleware take it unchanged.
 *
 * It never fails open: when Redis cannot answer within `commandTimeoutMs`, each
 * call rejects with UnavailableError and `idempotent()` answers 503, so no
 * charge runs twice. Records leave Redis by themselves (a completed one
 * after `retentionMs`).
 *
 * @throws InvalidArgumentError as IdempotencyStore's calls do
 * @throws NotOwnerError from `complete` or `abort` with a token that no longer holds its key
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs`
 */
export class RedisIdempotencyStore extends RedisPrimitive {
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly maxResponseBytes: number;
  private readonly counts = { begun: 0, replayed: 0, inFlight: 0, mismatched: 0, completed: 0, aborted: 0 };

  constructor(options: RedisIdempotencyStoreOptions) {
    const o = OPTIONS.parse(options);
    super(o);
    this.leaseMs = o.leaseMs;
    this.retentionMs = o.retentionMs;
    this.maxResponseBytes = o.maxResponseBytes;
  }

  /** The fingerprint of a request, as `IdempotencyStore.fingerprint`. */
  static fingerprint(request: IdempotencyFingerprintInput): string {
    return IdempotencyStore.fingerprint(request);
  }

  /** This object's calls, by answer. */
  stats(): RedisIdempotencyStats {
    return { ...this.counts, unavailable: this.unavailableCount };
  }

  /** Starts a request with `key`, as `IdempotencyStore#begin`. */
  async begin(key: string, fingerprint: string): Promise<IdempotencyBegin> {
    const k = checkKey(key);
    const fp = checkFingerprint(fingerprint);
    const r = (await this.call(BEGIN, k, [fp, String(this.leaseMs), String(this.retentionMs)])) as (string | number | null)[];
    const b: IdempotencyBegin =
      r[0] === 'new' ? { status: 'new', token: Object.freeze({ key: k, attempt: Number(r[1]) }), recovered: r[2] === 1 } : this.answer(r);
    this.counts[COUNT_OF[b.status as keyof typeof COUNT_OF]]++;
    if (idempotencyOutcome.hasSubscribers) idempotencyOutcome.publish({ store: this, key: k, outcome: b.status });
    return b;
  }

  /** What `begin` would answer now, without taking anything (`'absent'` where begin would answer 'new'). */
  async peek(key: string, fingerprint: string): Promise<Exclude<IdempotencyBegin, { status: 'new' }> | { readonly status: 'absent' }> {
    const k = checkKey(key);
    const r = (await this.call(PEEK, k, [checkFingerprint(fingerprint)])) as (string | number | null)[];
    return r[0] === 'absent' ? { status: 'absent' } : this.answer(r);
  }

  /**
   * Records `response` as the key's outcome, as `IdempotencyStore#complete`.
   * @throws NotOwnerError if the token no longer holds its key (nothing changes)
   * @throws InvalidArgumentError for a malformed response or one larger than `maxResponseBytes` (nothing is stored)
   */
  async complete(token: IdempotencyToken, response: IdempotencyResponse): Promise<void> {
    const t = checkToken(token);
    const e = encodeResponse(response, this.maxResponseBytes);
    const body = typeof e.body === 'string' ? e.body : Buffer.from(e.body.buffer, e.body.byteOffset, e.body.length).toString('base64');
    await this.finish(t, 'complete', [String(this.retentionMs), String(e.status), e.headers, BODY_KINDS[e.bodyKind]!, body]);
    this.counts.completed++;
  }

  /** Gives the key up so that a retry runs, as `IdempotencyStore#abort`. @throws NotOwnerError */
  async abort(token: IdempotencyToken): Promise<void> {
    const t = checkToken(token);
    await this.finish(t, 'abort', [String(this.leaseMs)]);
    this.counts.aborted++;
  }

  private async finish(t: IdempotencyToken, op: 'complete' | 'abort', args: string[]): Promise<void> {
    const r = (await this.call(FINISH, t.key, [String(t.attempt), op === 'complete' ? '1' : '0', ...args])) as unknown[];
    if (r[0] === 'ok') return;
    checkHolds(t, r[0] === 'absent' ? undefined : { attempt: Number(r[1]), state: Number(r[2]) }, op); // throws
  }

  /** A live record's answer as the script returned it. */
  private answer(r: (string | number | null)[]): Exclude<IdempotencyBegin, { status: 'new' }> {
    if (r[0] === 'mismatch') return { status: 'mismatch' };
    if (r[0] === 'in-flight') return { status: 'in-flight', retryAfterMs: Number(r[1]) };
    const kind = BODY_KINDS.indexOf(String(r[3]) as (typeof BODY_KINDS)[number]);
    const raw = r[4] === null ? '' : String(r[4]);
    const stored: StoredResponse = {
      status: Number(r[1]),
      headers: r[2] === null ? '' : String(r[2]),
      headersBytes: 0,
      bodyKind: kind,
      body: kind === 2 ? new Uint8Array(Buffer.from(raw, 'base64')) : raw,
      bodyBytes: 0,
    };
    return { status: 'replay', response: decodeResponse(stored) };
  }

  private async call(script: Script, key: string, args: string[]): Promise<unknown> {
    return this.run(script, [this.keyOf(key, 'idempotency key')], args);
  }
}
