/**
 * rateLimit: Hono middleware that puts the routes it covers behind a
 * `TokenBucket` or `SlidingWindow` shared by every thread. Each request is
 * counted under its key (by default its `x-api-key`, else the client's
 * address, IPv6 grouped by /56); every response carries the RateLimit
 * fields in the draft asked for (draft-12 by default; `'draft-6'`,
 * `'draft-7'` and `'draft-8'` are express-rate-limit's `standardHeaders`
 * values); a request over the limit gets 429 with `Retry-After` and the
 * handler is not called. The key and the decision are in `c.var.rateLimit`.
 *
 * The default key trusts `x-api-key` as sent: put the middleware after the
 * one that authenticates the key, or pass `keyGenerator`, or a client can
 * mint a fresh quota with each key it makes up. Behind a proxy the socket's
 * address is the proxy's: pass `keyGenerator` then too.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { TokenBucket } from 'sabre';
 * import { rateLimit, type RateLimitEnv } from 'sabre/hono';
 *
 * const perClient = new TokenBucket({ burst: 100, refillPerSecond: 100 / 60 }); // perClient.handle: every worker
 * const api = new Hono<RateLimitEnv>();
 * api.use('/api/*', rateLimit({ limiter: perClient }));
 * api.get('/api/hello', (c) => c.text(`${c.var.rateLimit.decision?.remaining} left`));
 * ```
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { RateLimitDecision } from '../../../limit/decision.js';
import { fn } from '../../../options/field.js';
import { defineOptions } from '../../../options/schema.js';
import { clientKey } from '../../../http/client-key.js';
import { GATE_FIELDS, RateLimitGate, generatedKey, type RateLimitGateOptions } from '../../../http/rate-limit.js';

export interface RateLimitMiddlewareOptions extends RateLimitGateOptions {
  /** The key to limit by (default: `x-api-key`, else the client's address). */
  readonly keyGenerator?: (c: Context) => string | Promise<string>;
  /** Requests to let through unlimited and uncounted (default: none). */
  readonly skip?: (c: Context) => boolean | Promise<boolean>;
  /** A request's cost in quota units: a number, or computed per request (default 1). */
  readonly cost?: number | ((c: Context) => number | Promise<number>);
  /** Answers a request over the limit instead of the default 429 (the RateLimit fields and `Retry-After` are added to it). */
  readonly onFull?: (c: Context, decision: RateLimitDecision) => Response | Promise<Response>;
}

/** What the middleware leaves in `c.var.rateLimit`. */
export interface RateLimitVariable {
  /** The key the request was counted under (undefined when skipped). */
  readonly key: string | undefined;
  /** The limiter's decision (undefined when skipped). */
  readonly decision: RateLimitDecision | undefined;
}

/** The `Env` of an app using the middleware: `new Hono<RateLimitEnv>()` types `c.var.rateLimit`. */
export interface RateLimitEnv {
  Variables: { rateLimit: RateLimitVariable };
}

const OPTIONS = defineOptions('rateLimit(options)', {
  ...GATE_FIELDS,
  keyGenerator: fn<(c: Context) => string | Promise<string>>(),
  skip: fn<(c: Context) => boolean | Promise<boolean>>(),
  onFull: fn<(c: Context, decision: RateLimitDecision) => Response | Promise<Response>>(),
});

const SKIPPED: RateLimitVariable = Object.freeze({ key: undefined, decision: undefined });

/** The client's address on Node's HTTP server (`@hono/node-server` passes the request as `c.env.incoming`). */
function addressOf(c: Context): string | undefined {
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}

/**
 * The middleware (see the module's description).
 * @throws InvalidArgumentError for bad options, when it is made; per
 *   request (a 500 from the app's error handler), when no key can be found
 *   or `cost` or `keyGenerator` give something that is not one
 */
export function rateLimit(options: RateLimitMiddlewareOptions): MiddlewareHandler<RateLimitEnv> {
  const o = OPTIONS.parse(options);
  const gate = new RateLimitGate(o);
  const { keyGenerator, skip, onFull, ipv6Subnet } = o;
  const cost = o.cost as number | ((c: Context) => number | Promise<number>);
  return createMiddleware<RateLimitEnv>(async (c, next) => {
    if (skip !== undefined && (await skip(c))) {
      c.set('rateLimit', SKIPPED);
      await next();
      return;
    }
    const key =
      keyGenerator === undefined ? clientKey(c.req.header('x-api-key'), addressOf(c), ipv6Subnet) : generatedKey(await keyGenerator(c));
    const decided = gate.decide(key, typeof cost === 'number' ? cost : RateLimitGate.cost(await cost(c)));
    const verdict = decided instanceof Promise ? await decided : decided;
    c.set('rateLimit', { key: verdict.key, decision: verdict.decision });
    const { headers } = verdict;
    if (verdict.allowed) {
      // Set now, the handler's c.json() and c.text() answer with them; a
      // handler that returns a Response of its own gets them after.
      for (const name in headers) c.header(name, headers[name]);
      await next();
      for (const name in headers) if (!c.res.headers.has(name)) c.header(name, headers[name]);
      return;
    }
    if (onFull === undefined || verdict.decision === undefined) return c.body(verdict.body!, verdict.status, headers);
    const custom = await onFull(c, verdict.decision);
    const response = new Response(custom.body, custom); // its headers may be immutable (a fetch's)
    for (const name in headers) if (name !== 'Content-Type' && !response.headers.has(name)) response.headers.set(name, headers[name]!);
    return response;
  });
}
