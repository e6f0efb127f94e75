/**
 * rateLimitHeaders: a limiter's decision as HTTP response fields, per the
 * IETF "RateLimit header fields for HTTP" draft (draft-ietf-httpapi-
 * ratelimit-headers) in the version asked for, plus `Retry-After`
 * (RFC 9110) on a refusal.
 */
import { InvalidArgumentError } from '../errors.js';
import { custom, integer, oneOf, withDefault } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { describeValue, isBytes } from '../validate.js';
import type { RateLimitDecision, RateLimitPolicy } from './decision.js';

/*
 * Implementation notes
 *
 * The drafts, as written (w, t, reset, Retry-After: whole seconds):
 *   draft-6   RateLimit-Policy: 100;w=60    RateLimit-Limit: 100
 *             RateLimit-Remaining: 50       RateLimit-Reset: 30
 *   draft-7   RateLimit-Policy: 100;w=60    RateLimit: limit=100, remaining=50, reset=30
 *   draft-8, -10, -11
 *             RateLimit-Policy: "default";q=100;w=60
 *             RateLimit: "default";r=50;t=30
 *   draft-12  RateLimit-Policy: "default";q=100;w=60
 *             RateLimit: "default";a=50;w=30;c=1     a available quota,
 *             w effective window (seconds), c the request's cost
 * Drafts 6 and 7 are express-rate-limit's `standardHeaders` values, written
 * as it writes them (no policy name, unit or key). From draft-8 on both
 * fields are Structured Field Lists (RFC 9651) of one Item: the policy's
 * name as an sf-string (quoted; only printable ASCII, `"` and `\` escaped),
 * then parameters: q quota (Integer >= 0), qu quota unit (String), w window
 * (Integer > 0: sub-second precision is not supported), pk partition key
 * (Byte Sequence, :base64:). Draft-12 renamed the RateLimit field's r and t
 * to a and w and added c; its policy field is draft-11's.
 *
 * Seconds are rounded up (w, t and Retry-After), never down: a client that
 * waits what it is told never comes back early. Integers are at most 15
 * digits (the sf-integer range). Retry-After is sent only with a refusal,
 * and the refusal's reset (t, w, reset) is the same second: draft-10 §6 and
 * later say Retry-After SHOULD NOT point earlier than the reset, drafts 6
 * and 7 that both SHOULD point to the same time.
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

/** The versions of the IETF RateLimit fields draft that `rateLimitHeaders` can write (see the module's notes). */
export const RATE_LIMIT_DRAFTS = ['draft-6', 'draft-7', 'draft-8', 'draft-10', 'draft-11', 'draft-12'] as const;
export type RateLimitDraft = (typeof RATE_LIMIT_DRAFTS)[number];

/** How `rateLimitHeaders` writes the fields. */
export interface RateLimitHeadersOptions {
  /** The draft to follow (default `'draft-10'`, what it wrote since 0.1; the Hono middleware's default is `'draft-12'`). */
  readonly draft?: RateLimitDraft;
  /** The request's cost in quota units, sent as draft-12's `c` parameter (the other drafts have none). */
  readonly cost?: number;
}

/** What `rateLimitHeaders` returns for `draft-6`: three fields of their own instead of `RateLimit`. */
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions -- a type, not an interface: assignable to Record<string, string>
export type RateLimitDraft6Headers = {
  readonly 'RateLimit-Policy': string;
  readonly 'RateLimit-Limit': string;
  readonly 'RateLimit-Remaining': string;
  readonly 'RateLimit-Reset': string;
  /** Present only when the decision refused the request. */
  readonly 'Retry-After'?: string;
};

const HEADERS_OPTIONS = defineOptions('rateLimitHeaders(decision, policy, options)', {
  draft: oneOf(RATE_LIMIT_DRAFTS, 'draft-10'),
  cost: withDefault(integer({ min: 0, max: MAX_SF_INTEGER }), undefined),
});

/**
 * A policy's fields for one draft, checked and encoded once: what changes
 * per request (the decision) is all `headers` writes. The Hono middleware
 * and `httpRateLimit` keep one per limiter; `rateLimitHeaders` makes one
 * per call.
 */
export class RateLimitFields {
  private readonly name: string;
  private readonly pk: string;
  private readonly structured: boolean;
  /** The RateLimit-Policy value for the last quota seen (a policy without `quota` takes each decision's `limit`). */
  private memo: { limit: number; quota: number; field: string } | undefined;

  /**
   * @throws InvalidArgumentError for a policy name that is not printable
   *   ASCII, a quota or window out of range, an unknown policy field, an
   *   unknown draft
   */
  private readonly policy: RateLimitPolicy;
  private readonly draft: RateLimitDraft;

  constructor(policy: RateLimitPolicy | undefined, draft: RateLimitDraft = 'draft-10') {
    if (!RATE_LIMIT_DRAFTS.includes(draft))
      throw new InvalidArgumentError(
        `draft must be one of ${RATE_LIMIT_DRAFTS.map((d) => describeValue(d)).join(', ')}, got ${describeValue(draft)}`,
      );
    this.policy = policy = policyOf(policy);
    this.draft = draft;
    this.name = sfString('policy name', policy.name ?? 'default');
    this.pk = policy.partitionKey === undefined ? '' : `;pk=${sfBytes(policy.partitionKey)}`;
    this.structured = draft !== 'draft-6' && draft !== 'draft-7';
    if (policy.quotaUnit !== undefined && !QUOTA_UNITS.includes(policy.quotaUnit))
      throw new InvalidArgumentError(`quotaUnit must be one of ${QUOTA_UNITS.join(', ')}, got ${describeValue(policy.quotaUnit)}`);
    if (policy.quota !== undefined) this.policyFor(0);
  }

  /** The fields for `decision` (`cost`: draft-12's `c`). */
  headers(decision: RateLimitDecision, cost?: number): Record<string, string> {
    const d = checkDecision(decision);
    const { quota, field } = this.policyFor(d.limit);
    const remaining = sfInteger('remaining', Math.max(0, Math.floor(d.remaining)), 0);
    // A refusal's reset is the Retry-After point: draft-10 §6 and draft-11 say
    // Retry-After SHOULD NOT be earlier than it, draft-6 and -7 that they
    // SHOULD be the same point. An allowed request's is when the quota is whole.
    const retry = d.allowed ? undefined : wholeSeconds('retryAfterMs', d.retryAfterMs, true);
    const reset = retry ?? sfInteger('reset (seconds)', wholeSeconds('resetMs', d.resetMs, true), 0);
    const headers: Record<string, string> = { 'RateLimit-Policy': field };
    switch (this.draft) {
      case 'draft-6':
        headers['RateLimit-Limit'] = String(quota);
        headers['RateLimit-Remaining'] = String(remaining);
        headers['RateLimit-Reset'] = String(reset);
        break;
      case 'draft-7':
        headers.RateLimit = `limit=${quota}, remaining=${remaining}, reset=${reset}`;
        break;
      case 'draft-12':
        headers.RateLimit = `${this.name};a=${remaining};w=${reset}${cost === undefined ? '' : `;c=${cost}`}${this.pk}`;
        break;
      default:
        headers.RateLimit = `${this.name};r=${remaining};t=${reset}${this.pk}`;
    }
    if (retry !== undefined) headers['Retry-After'] = String(retry);
    return headers;
  }

  private policyFor(limit: number): { readonly limit: number; readonly quota: number; readonly field: string } {
    const m = this.memo;
    if (m !== undefined && (m.limit === limit || this.policy.quota !== undefined)) return m;
    const p = this.policy;
    let quota = sfInteger('quota', p.quota ?? limit, 0);
    let windowSeconds: number | undefined;
    if (p.windowMs !== undefined) {
      windowSeconds = sfInteger('window (seconds)', wholeSeconds('windowMs', p.windowMs, false), 1);
      // w is whole seconds: a window that is not (a bucket of 20 refilled at
      // 100/s: 200 ms) is advertised as the next whole second with its quota
      // scaled to it, rounded down (q=100;w=1), never as q=20;w=1, which would
      // understate the rate five times over.
      if (windowSeconds * 1000 !== p.windowMs) quota = sfInteger('quota', Math.floor((quota * windowSeconds * 1000) / p.windowMs), 0);
    }
    let field: string;
    if (this.structured) {
      field = `${this.name};q=${quota}`;
      if (p.quotaUnit !== undefined && p.quotaUnit !== 'requests') field += `;qu="${p.quotaUnit}"`;
      if (windowSeconds !== undefined) field += `;w=${windowSeconds}`;
      field += this.pk;
    } else {
      field = windowSeconds === undefined ? String(quota) : `${quota};w=${windowSeconds}`; // drafts 6 and 7: no name, no unit, no key
    }
    return (this.memo = { limit, quota, field });
  }
}

/**
 * The IETF RateLimit fields for a decision of `TokenBucket` or
 * `SlidingWindow`, and `Retry-After` when it refused.
 *
 * @param decision what `check` (or `peek`) answered
 * @param policy what to advertise; the limiter's `policy` property is a
 *   ready one (`{ ...bucket.policy, name: 'per-user' }` renames it)
 * @param options `draft` (default `'draft-10'`) and the request's `cost`
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a policy name that is
 *   not printable ASCII, a quota or window out of range, an unknown policy
 *   field (named, with the one likely meant), a decision that is not one,
 *   an unknown draft or option
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ burst: 100, refillPerSecond: 100 / 60 });   // 100 a minute
 * const d = bucket.check(`user:${id}`);
 * for (const [name, value] of Object.entries(rateLimitHeaders(d, bucket.policy))) res.setHeader(name, value);
 * // RateLimit-Policy: "default";q=100;w=60   RateLimit: "default";r=99;t=1   (Retry-After: 1 when refused)
 * if (!d.allowed) res.statusCode = 429;
 * ```
 * @remarks Since 0.1; `options` since 0.2
 */
export function rateLimitHeaders(
  decision: RateLimitDecision,
  policy?: RateLimitPolicy,
  options?: RateLimitHeadersOptions & { readonly draft?: Exclude<RateLimitDraft, 'draft-6'> },
): RateLimitHeaders;
export function rateLimitHeaders(
  decision: RateLimitDecision,
  policy: RateLimitPolicy | undefined,
  options: RateLimitHeadersOptions & { readonly draft: 'draft-6' },
): RateLimitDraft6Headers;
export function rateLimitHeaders(
  decision: RateLimitDecision,
  policy?: RateLimitPolicy,
  options?: RateLimitHeadersOptions,
): RateLimitHeaders | RateLimitDraft6Headers;
export function rateLimitHeaders(
  decision: RateLimitDecision,
  policy?: RateLimitPolicy,
  options?: RateLimitHeadersOptions,
): RateLimitHeaders | RateLimitDraft6Headers {
  checkDecision(decision);
  const o = HEADERS_OPTIONS.parse(options);
  return new RateLimitFields(policy, o.draft).headers(decision, o.cost) as RateLimitHeaders | RateLimitDraft6Headers;
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
