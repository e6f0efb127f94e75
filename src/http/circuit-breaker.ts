/**
 * httpCircuitBreaker: a CircuitBreaker in front of the routes that call an
 * upstream, as a plain function for frameworks whose response ends outside
 * the handler's promise (Express, Fastify, `node:http`). `await gate()`
 * either admits the request (tell it the outcome with `done(status)` when
 * the response is sent) or refuses it with 503 and `Retry-After` while the
 * breaker is open. A 5xx status counts as a failure, so a handler that
 * passes on an upstream's 503 still opens the breaker. The Hono middleware
 * (`sabre/hono`) wraps the handler in `execute` instead.
 *
 * @example
 * ```ts
 * import { createServer, type ServerResponse } from 'node:http';
 * import { CircuitBreaker, httpCircuitBreaker } from 'sabre';
 *
 * const gate = httpCircuitBreaker({ breaker: new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 1_000 }) });
 * async function handle(res: ServerResponse): Promise<void> {
 *   const call = await gate();
 *   if (!call.allowed) return void res.writeHead(call.status, call.headers).end(call.body);
 *   res.once('close', () => call.done(res.writableFinished ? res.statusCode : new Error('the client went away')));
 *   const upstream = await fetch(url); // its 5xx is passed on, and counted
 *   res.writeHead(upstream.status).end(await upstream.text());
 * }
 * createServer((_req, res) => void handle(res));
 * ```
 */
import { ErrorCode, InvalidArgumentError, SabreError, isSabreError, type CircuitOpenError } from '../errors.js';
import { boolean, custom, fn } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import type { BreakerCall } from '../resilience/circuit-breaker.js';
import { describeValue } from '../validate.js';
import { refusalReply } from './refusal.js';

/** What the gates need of a breaker: a `CircuitBreaker`, or another with the same `execute`. */
export interface BreakerLike {
  execute<T>(fn: (call: BreakerCall) => T | PromiseLike<T>): Promise<T>;
}

export interface HttpCircuitBreakerOptions {
  /** The breaker every thread shares (`CircuitBreaker.from(handle)` in a worker). */
  readonly breaker: BreakerLike;
  /** Whether a response status is a failure (default: 500 and above). */
  readonly isFailure?: (status: number) => boolean;
  /** Answer refusals as RFC 9457 problem details instead of plain text (default false). */
  readonly problemDetails?: boolean;
}

/** An admitted request: report its outcome once (later calls are ignored). */
export interface BreakerAdmitted {
  readonly allowed: true;
  /** Aborted when the breaker's `timeoutMs` passes (the call then counts as a failure). */
  readonly signal: AbortSignal | undefined;
  /** The response's status, or the error that ended the request (a failure). */
  done(outcome: number | Error): void;
}

/** A refused request: answer with these. */
export interface BreakerRefused {
  readonly allowed: false;
  readonly status: 503;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** How long until the breaker lets a probe through, in ms. */
  readonly retryAfterMs: number;
}

export const BREAKER = custom<BreakerLike>((v, name) => {
  if (typeof v === 'object' && v !== null && typeof (v as Partial<BreakerLike>).execute === 'function') return v as BreakerLike;
  throw new InvalidArgumentError(`${name} must be a CircuitBreaker (an object with execute()), got ${describeValue(v)}`);
});

const OPTIONS = defineOptions('httpCircuitBreaker(options)', {
  breaker: BREAKER,
  isFailure: fn<(status: number) => boolean>(),
  problemDetails: boolean(false),
});

/** The rejection that counts a failed outcome; the caller never sees it. */
const FAILED = new Error('the response was a failure');
const ignore = (): void => {};
const serverError = (status: number): boolean => status >= 500;

/**
 * The plain form (see the module's description).
 * @throws InvalidArgumentError for bad options, when it is made
 */
export function httpCircuitBreaker(options: HttpCircuitBreakerOptions): () => Promise<BreakerAdmitted | BreakerRefused> {
  const o = OPTIONS.parse(options);
  const { breaker, problemDetails } = o;
  const isFailure = o.isFailure ?? serverError;
  return async () => {
    let settle!: (failed: boolean) => void;
    const outcome = new Promise<void>((resolve, reject) => {
      settle = (failed) => (failed ? reject(FAILED) : resolve());
    });
    let admit!: (call: BreakerCall) => void;
    const admitted = new Promise<BreakerCall>((resolve) => (admit = resolve));
    const run = breaker.execute((call) => {
      admit(call);
      return outcome;
    });
    run.catch(ignore); // a failed outcome (FAILED) or a timeout: counted by the breaker, nothing to report
    let call: BreakerCall;
    try {
      call = await Promise.race([admitted, run.then(() => admitted)]);
    } catch (e) {
      if (!isSabreError(e, ErrorCode.CIRCUIT_OPEN)) throw e;
      const { retryAfterMs } = SabreError.from(e) as CircuitOpenError;
      const detail = 'the circuit breaker is open: calls are refused for now';
      const { headers, body } = refusalReply({ status: 503, title: 'Service Unavailable', detail, retryAfterMs }, problemDetails);
      return { allowed: false, status: 503, headers, body, retryAfterMs };
    }
    let reported = false;
    return {
      allowed: true,
      signal: call.signal,
      done(result) {
        if (reported) return;
        reported = true;
        settle(typeof result === 'number' ? isFailure(result) : true);
      },
    };
  };
}
