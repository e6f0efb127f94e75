/**
 * retry: call a function again after a failure, with exponential backoff and
 * jitter, a shared retry budget, and the server's Retry-After respected.
 */
import { randomUUID } from 'node:crypto';
import { AbortError, ErrorCode, InvalidArgumentError, isSabreError, SabreError, type CircuitOpenError } from '../errors.js';
import { describeValue, fn as fnValue, integerIn, oneOf as oneOfValues, isThenable } from '../validate.js';
import { boolean, custom, fn as fnField, integer, number, oneOf, signal, withDefault } from '../options/field.js';
import { defineOptions, type Parsed } from '../options/schema.js';
import { retryAttempt, retryGiveUp } from '../observe/channels.js';
import { sleep } from '../sleep.js';

/*
 * Implementation notes
 *
 * Delays follow "Exponential Backoff and Jitter" (M. Brooker, AWS
 * Architecture Blog, 2015), for retry k = 0, 1, 2, … (the (k+1)-th retry),
 * with t = min(maxMs, baseMs · 2^k):
 *   'none'          t
 *   'full'          random in [0, t)
 *   'equal'         t/2 + random in [0, t/2)
 *   'decorrelated'  min(maxMs, random in [baseMs, 3 · previous)), previous
 *                   starting at baseMs (previous = the last such delay)
 * A hint from the error (CircuitOpenError.retryAfterMs, an error's
 * `retryAfterMs`, or an HTTP `Retry-After` header in seconds or as a date)
 * raises the delay to at least the hint; a hint beyond maxMs ends the retries
 * (the server asked for more patience than the caller allows).
 *
 * The first attempt runs without any await of retry's own: its promise gets
 * one rejection handler, so a call that succeeds costs one reaction more
 * than calling fn. Everything else (the loop, the budget, the waits) is in
 * the slow path.
 *
 * Work that must not happen twice (a charge) is the default: an error is
 * retried only when it proves fn's work did not happen (`neverStarted`: the
 * breaker or bulkhead refused the call, the connection was refused, a 429).
 * A timeout, a reset connection or an unknown error may come after the
 * upstream did the work, so retrying it could do it twice: retry gives up
 * with reason 'unsafe'. A caller whose work is safe to repeat says so
 * (`idempotent`), or passes one `idempotencyKey` upstream on every attempt so
 * the upstream deduplicates (Stripe's clients retry only so).
 *
 * Nothing is shared but the budget: a retry that dies leaves only its
 * withdrawal, which counts against the window as it should.
 */

export type Jitter = 'full' | 'equal' | 'decorrelated' | 'none';
export const JITTERS: readonly Jitter[] = ['full', 'equal', 'decorrelated', 'none'];

/** Defaults: 3 retries, 100 ms base, 10 s cap, full jitter. */
export const DEFAULT_RETRIES = 3,
  DEFAULT_BASE_MS = 100,
  DEFAULT_MAX_MS = 10_000;
/** The longest delay (the longest `setTimeout`). */
export const MAX_RETRY_DELAY_MS = 2 ** 31 - 1;
/** The most retries a call may have. */
export const MAX_RETRIES = 1000;

/** What `retry` needs of a budget: a `RetryBudget`, or anything with the same two methods. */
export interface RetryBudgetLike {
  /** Records a call. */
  deposit(): void;
  /** Takes one retry; false when the budget is spent. */
  tryWithdraw(): boolean;
}

/** What `fn` receives on each attempt. */
export interface RetryCall {
  /** 0 for the first call, then 1, 2, … for the retries. */
  readonly attempt: number;
  /** The caller's signal, if any (pass it on to cancel the work). */
  readonly signal: AbortSignal | undefined;
  /** The same key on every attempt when the `idempotencyKey` option is set: send it upstream (an `Idempotency-Key` header). */
  readonly idempotencyKey: string | undefined;
}

/** What `onRetry` is told before each wait. */
export interface RetryInfo {
  /** The retry about to happen: 1 for the first. */
  readonly attempt: number;
  /** How long retry waits before it. */
  readonly delayMs: number;
  /** What the previous attempt threw. */
  readonly error: unknown;
  /** The error's Retry-After, in ms, if it carried one. */
  readonly retryAfterMs: number | undefined;
}

/** Why `retry` stopped retrying and rejected with the last error. */
export type GiveUpReason =
  /** `retries` retries were made. */
  | 'retries'
  /** `retryOn` refused the error (or, by default, it was a sabre argument, handle or abort error). */
  | 'not-retryable'
  /**
   * By default only: the error does not prove fn's work did not happen (a
   * timeout, a reset connection, an unknown error), and fn is not declared
   * safe to repeat (`idempotent`, `idempotencyKey`): retrying could do it twice.
   */
  | 'unsafe'
  /** The error's Retry-After asked for a longer wait than `maxRetryAfterMs` (default `maxMs`). */
  | 'retry-after'
  /** The shared budget was spent. */
  | 'budget';

/** What `onGiveUp` is told when retry rejects with fn's last error. */
export interface GiveUpInfo {
  readonly reason: GiveUpReason;
  /** Calls of fn made, the first included. */
  readonly attempts: number;
  /** What the last call threw (the value retry rejects with). */
  readonly error: unknown;
  /** The error's Retry-After, in ms, if it carried one. */
  readonly retryAfterMs: number | undefined;
}

export interface RetryOptions {
  /** Retries after the first call (default 3; 0 = no retry). */
  readonly retries?: number;
  /** The first retry's backoff, in ms (default 100). */
  readonly baseMs?: number;
  /** No backoff delay is longer (default 10 000); a Retry-After beyond it ends the retries, unless `maxRetryAfterMs` allows it. */
  readonly maxMs?: number;
  /** The longest Retry-After that is waited (default `maxMs`; at least `maxMs`); a longer one ends the retries (reason 'retry-after'). */
  readonly maxRetryAfterMs?: number;
  /** Default 'full' (AWS's recommendation for competing clients). */
  readonly jitter?: Jitter;
  /** Cancels the wait (and is passed to fn): the retry rejects with AbortError. */
  readonly signal?: AbortSignal;
  /**
   * Whether an error is worth retrying. Default: only an error that proves
   * fn's work did not happen (`neverStarted`); with `idempotent` or
   * `idempotencyKey`, any error except sabre's invalid-argument, handle and
   * abort errors.
   */
  readonly retryOn?: (error: unknown, attempt: number) => boolean;
  /** fn is safe to repeat (a read, a PUT, a DELETE): retry errors whose outcome is unknown too (default false). */
  readonly idempotent?: boolean;
  /**
   * One key for every attempt, given to fn (`call.idempotencyKey`) to send
   * upstream, which then does the work once: a string (the client's own key,
   * 1–255 printable ASCII characters) or `true` for a random UUID. Implies
   * `idempotent`.
   */
  readonly idempotencyKey?: string | true;
  /** A budget shared by all threads (a RetryBudget): retry deposits once per call and withdraws before each retry, giving up when it is spent. */
  readonly budget?: RetryBudgetLike;
  /** Called before each wait (for logs and metrics). */
  readonly onRetry?: (info: RetryInfo) => void;
  /** Called once when retry gives up on fn's last error, with the reason (not on abort, which rejects with AbortError). */
  readonly onGiveUp?: (info: GiveUpInfo) => void;
  /** The random source of the jitter, in [0, 1) (default Math.random; inject one for tests). */
  readonly random?: () => number;
}

const retryable = (error: unknown): boolean =>
  !isSabreError(error, ErrorCode.INVALID_ARG) && !isSabreError(error, ErrorCode.HANDLE) && !isSabreError(error, ErrorCode.ABORTED);

/** Network error codes of a connection that was never made: the request was not sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function statusOf(error: object): unknown {
  const e = error as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } | null };
  return e.status ?? e.statusCode ?? (typeof e.response === 'object' && e.response !== null ? e.response.status : undefined);
}

/**
 * True when `error` proves the call's work did not happen, so repeating it
 * cannot do it twice: a breaker that was open (CircuitOpenError), a full
 * bulkhead, a connection that was refused or never resolved (on the error or
 * its `cause`: ECONNREFUSED, ENOTFOUND, EAI_AGAIN, ENETUNREACH, EHOSTUNREACH,
 * undici's connect timeout), or an HTTP 429 (status, statusCode or
 * response.status). `retry`'s default `retryOn`.
 */
export function neverStarted(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (isSabreError(error, ErrorCode.CIRCUIT_OPEN) || isSabreError(error, ErrorCode.BULKHEAD_FULL)) return true;
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_CONNECTED.has(code)) return true;
  }
  return statusOf(error) === 429;
}

/** An `idempotencyKey` option: true, or a header-safe string. */
function checkIdempotencyKey(v: unknown, name: string): string | true {
  if (v === true) return v;
  if (typeof v === 'string' && v.length >= 1 && v.length <= 255 && /^[\x20-\x7e]+$/.test(v)) return v;
  throw new InvalidArgumentError(`${name} must be true or a string of 1 to 255 printable ASCII characters, got ${describeValue(v)}`);
}

const delay = () => number({ above: 0, max: MAX_RETRY_DELAY_MS, unit: 'milliseconds' });

const OPTIONS = defineOptions(
  'retry(fn, options)',
  {
    retries: integer({ min: 0, max: MAX_RETRIES, default: DEFAULT_RETRIES }),
    baseMs: withDefault(delay(), DEFAULT_BASE_MS),
    // Default: the larger of DEFAULT_MAX_MS and baseMs (see `maxOf`).
    maxMs: withDefault(delay(), undefined),
    jitter: oneOf(JITTERS, 'full'),
    signal: signal(),
    maxRetryAfterMs: withDefault(delay(), undefined),
    retryOn: fnField<(error: unknown, attempt: number) => boolean>(),
    idempotent: boolean(false),
    idempotencyKey: withDefault(custom<string | true>(checkIdempotencyKey), undefined),
    budget: withDefault(
      custom<RetryBudgetLike>((v, name) => {
        const b = v as Partial<RetryBudgetLike> | null;
        if (typeof b === 'object' && b !== null && typeof b.deposit === 'function' && typeof b.tryWithdraw === 'function')
          return b as RetryBudgetLike;
        throw new InvalidArgumentError(
          `${name} must be a RetryBudget (an object with deposit() and tryWithdraw()), got ${describeValue(v)}`,
        );
      }),
      undefined,
    ),
    onRetry: fnField<(info: RetryInfo) => void>(),
    onGiveUp: fnField<(info: GiveUpInfo) => void>(),
    random: fnField<() => number>(),
  },
  {
    check: (o) => {
      if (o.maxMs !== undefined && o.maxMs < o.baseMs)
        throw new InvalidArgumentError(`maxMs must be at least baseMs (${o.baseMs}), got ${o.maxMs}`);
      const maxMs = o.maxMs ?? Math.max(DEFAULT_MAX_MS, o.baseMs);
      if (o.maxRetryAfterMs !== undefined && o.maxRetryAfterMs < maxMs)
        throw new InvalidArgumentError(`maxRetryAfterMs must be at least maxMs (${maxMs}), got ${o.maxRetryAfterMs}`);
    },
  },
);
type Config = Parsed<typeof OPTIONS.fields>;

/** What the first attempt receives when there is no signal and no key: one frozen object for every call. */
const FIRST_CALL: RetryCall = Object.freeze({ attempt: 0, signal: undefined, idempotencyKey: undefined });

const maxOf = (c: Config): number => c.maxMs ?? Math.max(DEFAULT_MAX_MS, c.baseMs);

function draw(random: () => number): number {
  const r = random();
  if (typeof r !== 'number' || !(r >= 0 && r < 1))
    throw new InvalidArgumentError(`random() must return a number in [0, 1), got ${describeValue(r)}`);
  return r;
}

/**
 * The backoff before retry `k` (0 for the first retry), before any
 * Retry-After hint: the AWS formulas (see the notes). `previousMs` is the
 * previous delay this function returned ('decorrelated' only; baseMs at first).
 */
export function backoffDelay(
  jitter: Jitter,
  k: number,
  baseMs: number,
  maxMs: number,
  previousMs: number,
  random: () => number = Math.random,
): number {
  checkBackoffArgs(jitter, k, baseMs, maxMs, previousMs, random);
  if (jitter === 'decorrelated') {
    const low = baseMs,
      high = Math.max(baseMs, previousMs * 3);
    return Math.min(maxMs, low + draw(random) * (high - low));
  }
  const t = Math.min(maxMs, baseMs * 2 ** k);
  if (jitter === 'none') return t;
  if (jitter === 'full') return draw(random) * t;
  return t / 2 + draw(random) * (t / 2);
}

/** backoffDelay is public: its arguments are checked like any options (retry passes checked ones). */
function checkBackoffArgs(jitter: unknown, k: unknown, baseMs: unknown, maxMs: unknown, previousMs: unknown, random: unknown): void {
  const where = 'backoffDelay(jitter, k, baseMs, maxMs, previousMs, random)';
  oneOfValues(`${where}: jitter`, jitter, JITTERS);
  integerIn(`${where}: k`, k, 0, Number.MAX_SAFE_INTEGER);
  for (const [name, v] of [
    ['baseMs', baseMs],
    ['maxMs', maxMs],
    ['previousMs', previousMs],
  ] as const) {
    if (typeof v !== 'number' || !(v >= 0) || v === Infinity)
      throw new InvalidArgumentError(`${where}: ${name} must be a finite number >= 0, got ${describeValue(v)}`);
  }
  fnValue(`${where}: random`, random);
}

function headerOf(headers: unknown, name: string): unknown {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function') {
    try {
      const v = (get as (n: string) => unknown).call(headers, name);
      if (v !== null && v !== undefined) return v;
    } catch {
      // a look-alike with another get(): fall through to the properties
    }
  }
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) return (headers as Record<string, unknown>)[key];
  }
  return undefined;
}

/** An HTTP Retry-After value (delay-seconds or an HTTP-date) in ms from `nowMs` (wall clock); undefined if unreadable. */
export function parseRetryAfter(value: unknown, nowMs: number = Date.now()): number | undefined {
  const v: unknown = Array.isArray(value) ? value[0] : value;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * How long an error asks the caller to wait, in ms: a CircuitOpenError's
 * `retryAfterMs` (from any thread), an error's own finite `retryAfterMs`, or
 * an HTTP `Retry-After` header on the error or its `response` (a plain
 * object or a `Headers`). Undefined if it carries none.
 */
export function retryAfterMsOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  if (isSabreError(error, ErrorCode.CIRCUIT_OPEN)) return (SabreError.from(error) as CircuitOpenError).retryAfterMs;
  const own = (error as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof own === 'number' && Number.isFinite(own) && own >= 0) return own;
  const response = (error as { response?: unknown }).response;
  for (const holder of [error, response]) {
    if (typeof holder !== 'object' || holder === null) continue;
    const ms = parseRetryAfter(headerOf((holder as { headers?: unknown }).headers, 'retry-after'));
    if (ms !== undefined) return ms;
  }
  return undefined;
}

/**
 * Calls `fn` and, when it fails with an error `retryOn` accepts, calls it
 * again up to `retries` times, waiting an exponentially growing, jittered
 * delay in between (and at least what a Retry-After asked for). With a
 * `budget`, gives up (with the last error) when the budget shared by every
 * thread is spent; `onGiveUp` says why it gave up. Resolves with fn's first success; rejects with the last
 * error, or AbortError when `signal` fires.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for bad options (a
 *   negative, NaN or zero delay, maxMs below baseMs, an unknown jitter) or a
 *   `random` that returns a value outside [0, 1)
 * @throws AbortError (`ERR_ABORTED`) when `signal` fires
 *
 * @example
 * ```ts
 * const budget = RetryBudget.from(workerData.budget);      // shared by every worker
 * const breaker = CircuitBreaker.from(workerData.breaker);
 * const body = await retry(({ signal }) => breaker.execute(() => fetchJson(url, { signal })), {
 *   retries: 4, baseMs: 200, maxMs: 5_000, jitter: 'full', budget, signal: AbortSignal.timeout(10_000),
 * });
 * ```
 * @remarks Since 0.1
 */
export function retry<T>(fn: (call: RetryCall) => T | PromiseLike<T>, options?: RetryOptions): Promise<T> {
  let cfg: Config;
  let result: T | PromiseLike<T>;
  try {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`retry(fn): fn must be a function, got ${describeValue(fn)}`);
    cfg = OPTIONS.parse(options); // validated whole on every call, once
  } catch (e) {
    return Promise.reject(e);
  }
  const signal = cfg.signal;
  if (signal?.aborted) return Promise.reject(new AbortError('retry aborted before the first call', signal.reason));
  if (cfg.budget !== undefined) cfg.budget.deposit();
  const key = cfg.idempotencyKey === true ? randomUUID() : cfg.idempotencyKey;
  try {
    result = fn(signal === undefined && key === undefined ? FIRST_CALL : { attempt: 0, signal, idempotencyKey: key });
  } catch (e) {
    return retrySlow(fn, cfg, key, e);
  }
  // Success path: one rejection handler on fn's own promise, no await of ours.
  if (result instanceof Promise) return (result as Promise<T>).then(undefined, (e: unknown) => retrySlow(fn, cfg, key, e));
  if (!isThenable(result)) return Promise.resolve(result);
  return Promise.resolve(result).then(undefined, (e: unknown) => retrySlow(fn, cfg, key, e));
}

async function retrySlow<T>(
  fn: (call: RetryCall) => T | PromiseLike<T>,
  cfg: Config,
  key: string | undefined,
  firstError: unknown,
): Promise<T> {
  const safeToRepeat = cfg.idempotent || key !== undefined;
  const random = cfg.random ?? Math.random;
  const maxMs = maxOf(cfg);
  const maxRetryAfterMs = cfg.maxRetryAfterMs ?? maxMs;
  let error = firstError;
  let previous = cfg.baseMs;
  const giveUp = (reason: GiveUpReason, attempts: number, retryAfterMs: number | undefined): unknown => {
    cfg.onGiveUp?.({ reason, attempts, error, retryAfterMs });
    if (retryGiveUp.hasSubscribers) retryGiveUp.publish({ attempts, reason, error });
    return error;
  };
  for (let attempt = 1; ; attempt++) {
    if (cfg.signal?.aborted) throw new AbortError('retry aborted', cfg.signal.reason);
    const hint = retryAfterMsOf(error);
    if (attempt > cfg.retries) throw giveUp('retries', attempt, hint);
    if (cfg.retryOn !== undefined ? !cfg.retryOn(error, attempt) : !retryable(error)) throw giveUp('not-retryable', attempt, hint);
    if (cfg.retryOn === undefined && !safeToRepeat && !neverStarted(error)) throw giveUp('unsafe', attempt, hint);
    const backoff = backoffDelay(cfg.jitter, attempt - 1, cfg.baseMs, maxMs, previous, random);
    previous = backoff;
    if (hint !== undefined && hint > maxRetryAfterMs) throw giveUp('retry-after', attempt, hint);
    if (cfg.budget !== undefined && !cfg.budget.tryWithdraw()) throw giveUp('budget', attempt, hint);
    const delayMs = hint === undefined ? backoff : Math.max(backoff, hint);
    cfg.onRetry?.({ attempt, delayMs, error, retryAfterMs: hint });
    if (retryAttempt.hasSubscribers) retryAttempt.publish({ attempt, error, delayMs });
    await sleep(delayMs, cfg.signal, 'retry');
    try {
      return await fn({ attempt, signal: cfg.signal, idempotencyKey: key });
    } catch (e) {
      error = e;
    }
  }
}
