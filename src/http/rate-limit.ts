/**
 * httpRateLimit: a `TokenBucket` or `SlidingWindow` in front of an HTTP
 * API, as a plain `(request) => verdict` function that any framework can
 * call (Express, Fastify, `node:http`); the Hono middleware (`sabre/hono`)
 * is the same gate behind `createMiddleware`. The verdict carries the
 * status, the RateLimit fields in the draft asked for (draft-12 by
 * default), `Retry-After` on a 429, and a body for a refusal.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { TokenBucket, httpRateLimit } from 'sabre';
 *
 * const limit = httpRateLimit({ limiter: new TokenBucket({ burst: 100, refillPerSecond: 10 }) });
 * createServer((req, res) => {
 *   const verdict = limit(req); // the same call takes Express's and Fastify's req
 *   for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
 *   if (!verdict.allowed) return void res.writeHead(verdict.status).end(verdict.body);
 *   res.end('hello');
 * });
 * ```
 */
import { InvalidArgumentError } from '../errors.js';
import type { RateLimitDecision, RateLimitPolicy } from '../limit/decision.js';
import { RATE_LIMIT_DRAFTS, RateLimitFields, type RateLimitDraft } from '../limit/headers.js';
import { boolean, custom, fn, withDefault } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { describeValue, isThenable } from '../validate.js';
import { NO_ADDRESS, RefusedKey, checkSubnet, clientKey } from './client-key.js';
import { headerOf, type RequestHeaders } from './header.js';
import { refusalReply } from './refusal.js';
import { retryAfterSeconds } from './retry-after.js';

/** A limiter that decides at once: a `TokenBucket`, a `SlidingWindow`. */
export interface SyncLimiterLike {
  check(key: string, n?: number): RateLimitDecision;
  readonly policy: RateLimitPolicy;
}
/** A limiter whose decision is a promise: `RedisTokenBucket`, `RedisSlidingWindow`, `TwoLevelLimiter`. */
export interface AsyncLimiterLike {
  check(key: string, n?: number): PromiseLike<RateLimitDecision>;
  readonly policy: RateLimitPolicy;
}
/** What the gate needs of a limiter: `check` and `policy`, deciding at once or by a promise. */
export type LimiterLike = SyncLimiterLike | AsyncLimiterLike;

/** A request as Node's `http`, Express and Fastify give it: headers, and the client's address. */
export interface HttpRequestLike {
  readonly headers: RequestHeaders;
  /** The client's address as the framework trusts it (Express's and Fastify's `req.ip`). */
  readonly ip?: string | undefined;
  /** Node's socket, for its `remoteAddress` when there is no `ip`. */
  readonly socket?: { readonly remoteAddress?: string | undefined } | null | undefined;
}

/** The options the gate shares with the Hono middleware. */
export interface RateLimitGateOptions {
  /** The limiter every thread shares (`TokenBucket.from(handle)` in a worker). */
  readonly limiter: LimiterLike;
  /**
   * The RateLimit fields to send, on every response: the draft of the IETF
   * RateLimit header fields (`'draft-6'`, `'draft-7'`, `'draft-8'`:
   * express-rate-limit's `standardHeaders` values; `'draft-10'`,
   * `'draft-11'`, `'draft-12'`), or false for none (`Retry-After` is still
   * sent with a 429). Default `'draft-12'`.
   */
  readonly headers?: RateLimitDraft | false;
  /** The policy to advertise (default: the limiter's `policy`). */
  readonly policy?: RateLimitPolicy;
  /** The prefix length that groups IPv6 clients into one key (1..128, or false for none; default 56). */
  readonly ipv6Subnet?: number | false;
  /** Answer refusals as RFC 9457 problem details (the draft's `quota-exceeded` type) instead of plain text (default false). */
  readonly problemDetails?: boolean;
}

export interface HttpRateLimitOptions extends RateLimitGateOptions {
  /** The key to limit by (default: `x-api-key`, else the client's address). */
  readonly keyGenerator?: (request: HttpRequestLike) => string;
  /** Requests to let through unlimited and uncounted (default: none). */
  readonly skip?: (request: HttpRequestLike) => boolean;
  /** A request's cost in quota units: a number, or computed per request (default 1). */
  readonly cost?: number | ((request: HttpRequestLike) => number);
}

/** What the gate decided for one request. */
export interface RateLimitVerdict {
  /** True: let the request through. */
  readonly allowed: boolean;
  /** 200 when allowed; 429 when the quota is spent; 400 for an `x-api-key` that cannot be a key. */
  readonly status: 200 | 400 | 429;
  /** The key the request was counted under (undefined: skipped, or refused for its key). */
  readonly key: string | undefined;
  /** The limiter's decision (undefined: skipped, or refused for its key). */
  readonly decision: RateLimitDecision | undefined;
  /** The fields to send: the RateLimit fields; with a refusal also `Retry-After` (429) and `Content-Type`. */
  readonly headers: Readonly<Record<string, string>>;
  /** A refusal's body (plain text or problem details); undefined when allowed. */
  readonly body: string | undefined;
}

const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded';
const SKIPPED: RateLimitVerdict = Object.freeze({
  allowed: true,
  status: 200,
  key: undefined,
  decision: undefined,
  headers: Object.freeze({}),
  body: undefined,
});

export const GATE_FIELDS = {
  limiter: custom<LimiterLike>((v, name) => {
    const l = v as Partial<LimiterLike> | null;
    if (typeof l === 'object' && l !== null && typeof l.check === 'function' && typeof l.policy === 'object') return l as LimiterLike;
    throw new InvalidArgumentError(
      `${name} must be a TokenBucket or a SlidingWindow, on shared memory or Redis (check() and policy), got ${describeValue(v)}`,
    );
  }),
  headers: custom<RateLimitDraft | false>((v, name) => {
    if (v === false || RATE_LIMIT_DRAFTS.includes(v as RateLimitDraft)) return v as RateLimitDraft | false;
    throw new InvalidArgumentError(
      `${name} must be one of ${RATE_LIMIT_DRAFTS.map((d) => describeValue(d)).join(', ')} or false, got ${describeValue(v)}`,
    );
  }, 'draft-12'),
  policy: withDefault(
    custom<RateLimitPolicy>((v) => v as RateLimitPolicy),
    undefined,
  ),
  ipv6Subnet: custom<number | false>(checkSubnet, 56),
  problemDetails: boolean(false),
  cost: custom<number | ((request: never) => number)>((v, name) => {
    if (typeof v === 'function' || (typeof v === 'number' && Number.isInteger(v) && v >= 1)) return v as number;
    throw new InvalidArgumentError(`${name} must be an integer >= 1 or a function of the request, got ${describeValue(v)}`);
  }, 1),
};

const OPTIONS = defineOptions('httpRateLimit(options)', {
  ...GATE_FIELDS,
  keyGenerator: fn<(request: HttpRequestLike) => string>(),
  skip: fn<(request: HttpRequestLike) => boolean>(),
});

/**
 * The decision and its answer, for a key and a cost; both the plain form
 * and the Hono middleware go through it.
 */
export class RateLimitGate {
  readonly limiter: LimiterLike;
  readonly ipv6Subnet: number | false;
  private readonly fields: RateLimitFields | undefined;
  private readonly policyName: string;
  private readonly problemDetails: boolean;

  constructor(o: {
    readonly limiter: LimiterLike;
    readonly headers: RateLimitDraft | false;
    readonly policy: RateLimitPolicy | undefined;
    readonly ipv6Subnet: number | false;
    readonly problemDetails: boolean;
  }) {
    this.limiter = o.limiter;
    this.ipv6Subnet = o.ipv6Subnet;
    this.problemDetails = o.problemDetails;
    const policy = o.policy ?? o.limiter.policy;
    // Made here even with headers: false, so a bad policy fails now, not on the first request.
    const fields = new RateLimitFields(policy, o.headers === false ? 'draft-12' : o.headers);
    this.fields = o.headers === false ? undefined : fields;
    this.policyName = policy.name ?? 'default';
  }

  /** The verdict for a request keyed `key` (or refused for its key) costing `cost`; a promise of it when the limiter decides by one. */
  decide(key: string | RefusedKey, cost: number): RateLimitVerdict | Promise<RateLimitVerdict> {
    if (key instanceof RefusedKey) {
      if (key.reason === NO_ADDRESS) throw new InvalidArgumentError(NO_ADDRESS);
      return this.refusal(400, 'Bad Request', key.reason, undefined, undefined, {});
    }
    const decision = this.limiter.check(key, cost);
    if (isThenable(decision)) return Promise.resolve(decision).then((d) => this.verdict(key, cost, d));
    return this.verdict(key, cost, decision);
  }

  private verdict(key: string, cost: number, decision: RateLimitDecision): RateLimitVerdict {
    const headers = this.fields === undefined ? {} : this.fields.headers(decision, cost);
    if (decision.allowed) return { allowed: true, status: 200, key, decision, headers, body: undefined };
    if (this.fields === undefined) headers['Retry-After'] = String(retryAfterSeconds(decision.retryAfterMs));
    const wait = headers['Retry-After'] ?? String(retryAfterSeconds(decision.retryAfterMs));
    return this.refusal(
      429,
      'Too Many Requests',
      `the rate limit for this client is used up; retry after ${wait} s`,
      key,
      decision,
      headers,
    );
  }

  /** A request's cost, checked: an integer >= 1. */
  static cost(n: unknown): number {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1) return n;
    throw new InvalidArgumentError(`cost must be an integer >= 1, got ${describeValue(n)}`);
  }

  private refusal(
    status: 400 | 429,
    title: string,
    detail: string,
    key: string | undefined,
    decision: RateLimitDecision | undefined,
    fields: Record<string, string>,
  ): RateLimitVerdict {
    const extensions = status === 429 ? { 'violated-policies': [this.policyName] } : undefined;
    const type = status === 429 ? QUOTA_EXCEEDED : undefined;
    const { headers, body } = refusalReply({ status, title, detail, ...(type ? { type, extensions } : {}) }, this.problemDetails);
    return { allowed: false, status, key, decision, headers: { ...fields, ...headers }, body };
  }
}

/**
 * The plain form (see the module's description).
 * @throws InvalidArgumentError for bad options, when it is made; per
 *   request, when no key can be found (no `x-api-key`, no address, no
 *   `keyGenerator`), or `cost` or `keyGenerator` give something that is not one
 */
export function httpRateLimit(
  options: HttpRateLimitOptions & { readonly limiter: SyncLimiterLike },
): (request: HttpRequestLike) => RateLimitVerdict;
/** With a limiter that decides by a promise (a Redis one), the verdict is a promise. */
export function httpRateLimit(
  options: HttpRateLimitOptions & { readonly limiter: AsyncLimiterLike },
): (request: HttpRequestLike) => Promise<RateLimitVerdict>;
export function httpRateLimit(options: HttpRateLimitOptions): (request: HttpRequestLike) => RateLimitVerdict | Promise<RateLimitVerdict>;
export function httpRateLimit(options: HttpRateLimitOptions): (request: HttpRequestLike) => RateLimitVerdict | Promise<RateLimitVerdict> {
  const o = OPTIONS.parse(options);
  const gate = new RateLimitGate(o);
  const { keyGenerator, skip, ipv6Subnet } = o;
  const cost = o.cost as number | ((request: HttpRequestLike) => number);
  return (request) => {
    if (skip?.(request) === true) return SKIPPED;
    const key =
      keyGenerator === undefined
        ? clientKey(headerOf(request.headers, 'x-api-key'), request.ip ?? request.socket?.remoteAddress, ipv6Subnet)
        : generatedKey(keyGenerator(request));
    return gate.decide(key, typeof cost === 'number' ? cost : RateLimitGate.cost(cost(request)));
  };
}

/** What a `keyGenerator` returned, checked. */
export function generatedKey(key: unknown): string {
  if (typeof key === 'string' && key !== '') return key;
  throw new InvalidArgumentError(`keyGenerator must return a non-empty string, got ${describeValue(key)}`);
}
