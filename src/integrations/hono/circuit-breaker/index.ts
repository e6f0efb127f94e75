/**
 * circuitBreaker: Hono middleware that puts the routes it covers behind a
 * CircuitBreaker shared by every thread (and process, with a Redis-backed
 * one). While the breaker is open the handler is not called: the client gets
 * 503 with `Retry-After` (the seconds until the breaker lets a probe through).
 * The handler's outcome is counted: by default a thrown error or a 5xx
 * response is a failure, so a handler that passes on an upstream's 503
 * (a `fetch` that resolved, not rejected) still opens the breaker.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { CircuitBreaker } from 'sabre';
 * import { circuitBreaker } from 'sabre/hono';
 *
 * const bank = new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 1_000 }); // bank.handle: the same breaker in every worker
 * const api = new Hono();
 * api.use('/payments/*', circuitBreaker({ breaker: bank }));
 * api.post('/payments', async (c) => fetch(url, { method: 'POST', body: await c.req.text() })); // the bank's 5xx counts as a failure
 * ```
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { ErrorCode, isSabreError, SabreError, type CircuitOpenError } from '../../../errors.js';
import { BREAKER, type BreakerLike } from '../../../http/circuit-breaker.js';
import { boolean, fn } from '../../../options/field.js';
import { defineOptions } from '../../../options/schema.js';
import { refuse } from '../respond.js';

export type { BreakerLike };

export interface CircuitBreakerMiddlewareOptions {
  /** The breaker every thread shares (`CircuitBreaker.from(handle)` in a worker). */
  readonly breaker: BreakerLike;
  /** Whether the handler's outcome is a failure (default: it threw, or answered 5xx). */
  readonly isFailure?: (c: Context) => boolean;
  /** Answer refusals as RFC 9457 problem details (`application/problem+json`) instead of plain text (default false). */
  readonly problemDetails?: boolean;
}

const OPTIONS = defineOptions('circuitBreaker(options)', {
  breaker: BREAKER,
  isFailure: fn<(c: Context) => boolean>(),
  problemDetails: boolean(false),
});

const defaultIsFailure = (c: Context): boolean => c.error !== undefined || c.res.status >= 500;

/** Thrown inside the breaker's call to count a response as a failure; the response itself stands. */
class FailedResponse extends Error {}

/**
 * The middleware (see the module's description).
 * @throws InvalidArgumentError for bad options, when it is made (not per request)
 */
export function circuitBreaker(options: CircuitBreakerMiddlewareOptions): MiddlewareHandler {
  const o = OPTIONS.parse(options);
  const { breaker, problemDetails } = o;
  const isFailure = o.isFailure ?? defaultIsFailure;
  return createMiddleware(async (c, next) => {
    try {
      await breaker.execute(async () => {
        await next();
        if (isFailure(c)) throw new FailedResponse(`the handler answered ${c.res.status}`);
      });
    } catch (e) {
      if (e instanceof FailedResponse) return; // counted; the handler's response (or the app's onError) stands
      if (isSabreError(e, ErrorCode.CIRCUIT_OPEN)) {
        const { retryAfterMs } = SabreError.from(e) as CircuitOpenError;
        return refuse(
          c,
          { status: 503, title: 'Service Unavailable', detail: 'the circuit breaker is open: calls are refused for now', retryAfterMs },
          problemDetails,
        );
      }
      if (isSabreError(e, ErrorCode.TIMEOUT)) {
        return refuse(c, { status: 504, title: 'Gateway Timeout', detail: 'the call took longer than the breaker allows' }, problemDetails);
      }
      throw e;
    }
  });
}
