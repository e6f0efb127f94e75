/**
 * rateLimitHeaders: a limiter's decision as HTTP response fields, per the
 * IETF "RateLimit header fields for HTTP" draft (draft-ietf-httpapi-
 * ratelimit-headers-10), plus `Retry-After` (RFC 9110) on a refusal.
 */
import { InvalidArgumentError } from '../errors.js';
import { custom, withDefault } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { describeValue, isBytes } from '../validate.js';
import type { RateLimitDecision, RateLimitPolicy } from './decision.js';

/*
 * Implementation notes
 *
 * Both fields are Structured Field Lists (RFC 9651) of one Item each: the
 * policy's name as an sf-string (quoted; only printable ASCII, with `"` and
 * `\` escaped), then parameters:
 *   RateLimit-Policy: "default";q=100;w=60        q quota (Integer >= 0),
 *                     qu quota unit (String), w window in whole seconds
 *                     (Integer > 0: sub-second precision is not supported),
 *                     pk partition key (Byte Sequence, :base64:)
 *   RateLimit:        "default";r=50;t=30         r remaining quota units
 *                     (Integer >= 0), t seconds until the quota is whole
 *                     again (Integer >= 0, "delay-seconds"), pk
 * Seconds are rounded up (w, t and Retry-After), never down: a client that
 * waits what it is told never comes back early. Integers are at most 15
 * digits (the sf-integer range). Retry-After is sent only with a refusal,
 * in whole seconds rounded up (at least 1 when any wait remains).
 */

/**
 * What `rateLimitHeaders` returns: field names as registered, values ready to
 * send. A type alias, not an interface, so that it is a `Record<string,
 * string>`: `new Headers(h)`, `new Response(body, { headers: h })`,
 * `res.writeHead(status, h)` and `res.setHeader(name, value)` take it as is.
 * No value is ever `undefined`: a field that does not apply is absent.
 */
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions -- a type, not an interface: assignable to Record<string, string> (HeadersInit, writeHead), as an interface is not
export type RateLimitHeaders = {
  readonly 'RateLimit-Policy': string;
  readonly RateLimit: string;
  /** Present only when the decision refused the request. */
  readonly 'Retry-After'?: string;
};

const MAX_SF_INTEGER = 999_999_999_999_999;
const QUOTA_UNITS = ['requests', 'content-bytes', 'concurrent-requests'] as const;

/*
 * The policy is a value object (a limiter's `policy`, perhaps renamed) that
 * this function reads on every request, so its values are checked where they
 * are encoded, as before. What the schema adds is the strict key check: a
 * policy with a key it does not know (`window` for `windowMs`) is an error
 * naming the one meant, where it used to be silently left out of the field.
 * The check is one pass over the given keys; only a policy that fails it
 * goes through the schema, which explains what is wrong.
 */
const asGiven = <T>() =>
  withDefault(
    custom((v) => v as T),
    undefined,
  );
const POLICY = defineOptions('rateLimitHeaders(decision, policy)', {
  name: asGiven<string>(),
  quota: asGiven<number>(),
  windowMs: asGiven<number>(),
  quotaUnit: asGiven<RateLimitPolicy['quotaUnit']>(),
  partitionKey: asGiven<string | Uint8Array>(),
});
const POLICY_KEYS: ReadonlySet<string> = new Set(POLICY.names);
const NO_POLICY: RateLimitPolicy = Object.freeze({});

/** `policy` if it is an object of known keys only; otherwise the schema's error. */
function policyOf(policy: unknown): RateLimitPolicy {
  if (policy === undefined) return NO_POLICY;
  if (typeof policy === 'object' && policy !== null && !Array.isArray(policy)) {
    let known = true;
    for (const key in policy) {
      if (!POLICY_KEYS.has(key)) {
        known = false;
        break;
      }
    }
    if (known) return policy;
  }
  return POLICY.parse(policy); // throws: an unknown key (with the one meant), or not an object
}

/**
 * The IETF RateLimit fields (draft-10) for a decision of `TokenBucket` or
 * `SlidingWindow`, and `Retry-After` when it refused.
 *
 * @param decision what `check` (or `peek`) answered
 * @param policy what to advertise; the limiter's `policy` property is a
 *   ready one (`{ ...bucket.policy, name: 'per-user' }` renames it)
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a policy name that is
 *   not printable ASCII, a quota or window out of range, an unknown policy
 *   field (named, with the one likely meant), a decision that is not one
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ burst: 100, refillPerSecond: 100 / 60 });   // 100 a minute
 * const d = bucket.check(`user:${id}`);
 * for (const [name, value] of Object.entries(rateLimitHeaders(d, bucket.policy))) res.setHeader(name, value);
 * // RateLimit-Policy: "default";q=100;w=60   RateLimit: "default";r=99;t=1   (Retry-After: 1 when refused)
 * if (!d.allowed) res.statusCode = 429;
 * ```
 * @remarks Since 0.1
 */
export function rateLimitHeaders(decision: RateLimitDecision, policy?: RateLimitPolicy): RateLimitHeaders {
  const d = checkDecision(decision);
  const p = policyOf(policy);
  const name = sfString('policy name', p.name ?? 'default');
  let quota = sfInteger('quota', p.quota ?? d.limit, 0);
  let windowSeconds: number | undefined;
  if (p.windowMs !== undefined) {
    windowSeconds = sfInteger('window (seconds)', wholeSeconds('windowMs', p.windowMs, false), 1);
    // w is whole seconds: a window that is not (a bucket of 20 refilled at
    // 100/s: 200 ms) is advertised as the next whole second with its quota
    // scaled to it, rounded down (q=100;w=1), never as q=20;w=1, which would
    // understate the rate five times over.
    if (windowSeconds * 1000 !== p.windowMs) quota = sfInteger('quota', Math.floor((quota * windowSeconds * 1000) / p.windowMs), 0);
  }
  const pk = p.partitionKey === undefined ? '' : `;pk=${sfBytes(p.partitionKey)}`;
  let policyField = `${name};q=${quota}`;
  if (p.quotaUnit !== undefined) {
    if (!QUOTA_UNITS.includes(p.quotaUnit))
      throw new InvalidArgumentError(`quotaUnit must be one of ${QUOTA_UNITS.join(', ')}, got ${describeValue(p.quotaUnit)}`);
    if (p.quotaUnit !== 'requests') policyField += `;qu="${p.quotaUnit}"`;
  }
  if (windowSeconds !== undefined) policyField += `;w=${windowSeconds}`;
  const remaining = sfInteger('remaining', Math.max(0, Math.floor(d.remaining)), 0);
  const reset = sfInteger('reset (seconds)', wholeSeconds('resetMs', d.resetMs, true), 0);
  const headers: { -readonly [K in keyof RateLimitHeaders]: RateLimitHeaders[K] } = {
    'RateLimit-Policy': policyField + pk,
    RateLimit: `${name};r=${remaining};t=${reset}${pk}`,
  };
  if (!d.allowed) headers['Retry-After'] = String(wholeSeconds('retryAfterMs', d.retryAfterMs, true));
  return headers;
}

function checkDecision(v: unknown): RateLimitDecision {
  const d = v as Partial<RateLimitDecision> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    typeof d.allowed !== 'boolean' ||
    typeof d.remaining !== 'number' ||
    typeof d.limit !== 'number'
  ) {
    throw new InvalidArgumentError(`decision must be what a limiter's check() or peek() returned, got ${describeValue(v)}`);
  }
  return d as RateLimitDecision;
}

/** Ms as whole seconds, rounded up (`zeroOk`: 0 stays 0). */
function wholeSeconds(name: string, ms: unknown, zeroOk: boolean): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0 || (!zeroOk && ms === 0) || ms === Infinity) {
    throw new InvalidArgumentError(`${name} must be a finite number of milliseconds ${zeroOk ? '>= 0' : '> 0'}, got ${describeValue(ms)}`);
  }
  return Math.ceil(ms / 1000);
}

function sfInteger(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_SF_INTEGER) {
    throw new InvalidArgumentError(
      `${name} must be an integer in [${min}, ${MAX_SF_INTEGER}] (a structured-field Integer), got ${describeValue(v)}`,
    );
  }
  return v;
}

/** An sf-string: printable ASCII in quotes, `"` and `\` escaped. */
function sfString(name: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[\x20-\x7e]*$/.test(v)) {
    throw new InvalidArgumentError(`${name} must be a string of printable ASCII (a structured-field String), got ${describeValue(v)}`);
  }
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** An sf-binary: the bytes in base64 between colons (a string's UTF-8 bytes). */
function sfBytes(v: unknown): string {
  if (typeof v === 'string') return `:${Buffer.from(v, 'utf8').toString('base64')}:`;
  if (isBytes(v)) return `:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}:`;
  throw new InvalidArgumentError(`partitionKey must be a string or a Uint8Array, got ${describeValue(v)}`);
}
