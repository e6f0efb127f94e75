/**
 * Every sabre error is a `SabreError` with a stable `code`.
 *
 * `postMessage` (and so Piscina and Comlink) keeps an Error's `message`,
 * `stack` and `cause` but drops its subclass, `name` and own fields. So the
 * code and the details (e.g. `retryAfterMs`) are also written into `cause`,
 * `isSabreError(e, code?)` recognises an error from any thread by that, and
 * `SabreError.from(e)` rebuilds the typed error on the receiving side.
 */

export const ErrorCode = {
  TIMEOUT: 'ERR_TIMEOUT',
  ABORTED: 'ERR_ABORTED',
  HANDLE: 'ERR_HANDLE',
  INVALID_ARG: 'ERR_INVALID_ARG',
  CAPACITY: 'ERR_CAPACITY',
  NOT_OWNER: 'ERR_NOT_OWNER',
  DEADLOCK: 'ERR_DEADLOCK',
  OWNER_DIED: 'ERR_OWNER_DIED',
  CONFLICT: 'ERR_CONFLICT',
  ALREADY_VOTED: 'ERR_ALREADY_VOTED',
  CIRCUIT_OPEN: 'ERR_CIRCUIT_OPEN',
  BULKHEAD_FULL: 'ERR_BULKHEAD_FULL',
  CANCELED: 'ERR_CANCELED',
  UNAVAILABLE: 'ERR_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What travels in `cause`: the code, the class name, and any detail fields. */
export interface SabreErrorCause {
  readonly sabre: true;
  readonly code: ErrorCode;
  readonly name: string;
  readonly details?: Record<string, unknown>;
  readonly cause?: unknown;
}

export class SabreError extends Error {
  readonly code: ErrorCode;
  /** Extra fields of a subclass (e.g. `retryAfterMs`), also carried in `cause`. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    const name = NAME_OF_CODE[code] ?? 'SabreError';
    const cause: SabreErrorCause = {
      sabre: true,
      code,
      name,
      ...(options.details ? { details: options.details } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    };
    super(message, { cause });
    this.name = name;
    this.code = code;
    this.details = options.details ?? {};
  }

  /**
   * Rebuilds the typed error from one that crossed a thread boundary (or
   * returns `e` itself if it already is one). Anything that is not a sabre
   * error, from any thread, is returned unchanged.
   */
  static from(e: unknown): unknown {
    if (e instanceof SabreError) return e;
    const info = sabreCause(e);
    if (info === undefined) return e;
    const message = (e as { message?: unknown }).message;
    const rebuilt = makeError(info.code, typeof message === 'string' ? message : info.name, info.details ?? {}, info.cause);
    const stack = (e as { stack?: unknown }).stack;
    if (typeof stack === 'string') rebuilt.stack = stack;
    return rebuilt;
  }
}

function sabreCause(e: unknown): SabreErrorCause | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const cause = (e as { cause?: unknown }).cause;
  if (typeof cause !== 'object' || cause === null) return undefined;
  const c = cause as Partial<SabreErrorCause>;
  if (c.sabre !== true || typeof c.code !== 'string' || !(c.code in NAME_OF_CODE)) return undefined;
  return c as SabreErrorCause;
}

/**
 * True if `e` is a sabre error (from this thread or any other), optionally
 * with `code`; the type then narrows to the error's class
 * (`isSabreError(e, 'ERR_CIRCUIT_OPEN')` → `CircuitOpenError`).
 *
 * An error that crossed a thread (`postMessage`, Piscina, Comlink) arrives
 * as a plain `Error` with sabre's code in its `cause`: the guard then gives
 * it back its class in place (prototype, `name`, `code`, `details`), so every
 * field the narrowed type promises is there, `e.retryAfterMs` included,
 * whichever thread threw. (An error frozen by its receiver cannot be given
 * its class back: the guard answers false for it; use `SabreError.from`.)
 */
export function isSabreError<C extends ErrorCode>(e: unknown, code: C): e is SabreErrorOf<C>;
export function isSabreError(e: unknown, code?: ErrorCode): e is SabreError;
export function isSabreError(e: unknown, code?: ErrorCode): e is SabreError {
  if (e instanceof SabreError) return code === undefined || e.code === code;
  const info = sabreCause(e);
  if (info === undefined || (code !== undefined && info.code !== code)) return false;
  return adopt(e as Error, info);
}

/**
 * Gives an error that crossed a thread its class back, in place: a plain
 * `Error` (what `postMessage` makes of every Error subclass but the standard
 * ones) becomes the code's class. An error of another class that carries a
 * sabre code (the Web Locks API's `TypeError` and `DOMException`s) keeps its
 * class, as its standard says, and gets the `code` and `details` fields.
 * False if it cannot be changed (frozen by its receiver).
 */
function adopt(e: Error, info: SabreErrorCause): boolean {
  try {
    if (Object.getPrototypeOf(e) === Error.prototype) {
      Object.setPrototypeOf(e, ERRORS[info.code].Class.prototype);
      Object.defineProperty(e, 'name', { value: info.name, writable: true, configurable: true, enumerable: false });
    }
    if (!('code' in e)) Object.defineProperty(e, 'code', { value: info.code, writable: false, configurable: true, enumerable: true });
    if (!('details' in e))
      Object.defineProperty(e, 'details', {
        value: Object.freeze({ ...(info.details ?? {}) }),
        writable: false,
        configurable: true,
        enumerable: true,
      });
    return true;
  } catch {
    return false; // frozen or sealed by its receiver
  }
}

export class TimeoutError extends SabreError {
  constructor(message = 'timed out', details?: { timeoutMs?: number }) {
    super(ErrorCode.TIMEOUT, message, details ? { details } : {});
  }
  /** The timeout that passed, in ms, when the thrower knew it. */
  get timeoutMs(): number | undefined {
    return this.details.timeoutMs as number | undefined;
  }
}
export class AbortError extends SabreError {
  constructor(message = 'aborted', cause?: unknown) {
    super(ErrorCode.ABORTED, message, cause !== undefined ? { cause } : {});
  }
}
export class HandleError extends SabreError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.HANDLE, message, cause === undefined ? {} : { cause });
  }
}

/**
 * Runs `read`, which reads what a caller passed in; an error that is not
 * sabre's (a throwing getter, a hostile Proxy, a `toString` that throws) is
 * rethrown as `typed(message)` with the original as its cause, so a bad
 * input is always a typed error. sabre's own errors pass through.
 */
export function readingInput<T>(read: () => T, typed: (message: string, cause: unknown) => SabreError, what: string): T {
  try {
    return read();
  } catch (e) {
    throw inputError(e, what, typed);
  }
}

/**
 * What to throw for `e`, caught while reading a caller's input `what`: `e`
 * itself if it is sabre's, else `typed(message)` (an InvalidArgumentError by
 * default) with `e` as its cause. For hot paths that cannot afford the
 * closure of `readingInput`.
 */
export function inputError(
  e: unknown,
  what: string,
  typed: (message: string, cause: unknown) => SabreError = (m, cause) => new InvalidArgumentError(m, cause),
): SabreError {
  if (e instanceof SabreError) return e;
  return typed(`${what}: reading it threw ${e instanceof Error ? `${e.name}: ${e.message}` : typeof e}`, e);
}
export class InvalidArgumentError extends SabreError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.INVALID_ARG, message, cause === undefined ? {} : { cause });
  }
}
export class CapacityError extends SabreError {
  constructor(message: string) {
    super(ErrorCode.CAPACITY, message);
  }
}
export class NotOwnerError extends SabreError {
  constructor(message: string) {
    super(ErrorCode.NOT_OWNER, message);
  }
}
export class DeadlockError extends SabreError {
  constructor(message: string) {
    super(ErrorCode.DEADLOCK, message);
  }
}
export class OwnerDiedError extends SabreError {
  constructor(message: string, details?: { ownerThreadId?: number }) {
    super(ErrorCode.OWNER_DIED, message, details ? { details } : {});
  }
  /** The threadId of the owner that died, when known. */
  get ownerThreadId(): number | undefined {
    return this.details.ownerThreadId as number | undefined;
  }
}
export class ConflictError extends SabreError {
  constructor(message: string, details?: { expectedVersion?: number; actualVersion?: number }) {
    super(ErrorCode.CONFLICT, message, details ? { details } : {});
  }
  /** An optimistic write's expected version, when the conflict is one. */
  get expectedVersion(): number | undefined {
    return this.details.expectedVersion as number | undefined;
  }
  /** The version found instead. */
  get actualVersion(): number | undefined {
    return this.details.actualVersion as number | undefined;
  }
}
export class AlreadyVotedError extends SabreError {
  constructor(message: string) {
    super(ErrorCode.ALREADY_VOTED, message);
  }
}
export class CircuitOpenError extends SabreError {
  constructor(message: string, details: { retryAfterMs: number }) {
    super(ErrorCode.CIRCUIT_OPEN, message, { details });
  }
  get retryAfterMs(): number {
    return this.details.retryAfterMs as number;
  }
}
export class BulkheadFullError extends SabreError {
  constructor(message: string) {
    super(ErrorCode.BULKHEAD_FULL, message);
  }
}
/** A pending acquisition withdrawn by the primitive's `cancel()` (async-mutex's `E_CANCELED`). */
export class CanceledError extends SabreError {
  constructor(message = 'canceled') {
    super(ErrorCode.CANCELED, message);
  }
}

/**
 * A store that lives outside the process (Redis) did not answer within its
 * deadline, or could not be reached: nothing is known to have happened.
 * The cause is the client's error, when there was one.
 */
export class UnavailableError extends SabreError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.UNAVAILABLE, message, cause === undefined ? {} : { cause });
  }
}

/**
 * Each code's class and name (written out: a minifier may rename classes):
 * the one table that `isSabreError`, `SabreError.from` and the names read.
 */
const ERRORS = {
  ERR_TIMEOUT: { name: 'TimeoutError', Class: TimeoutError },
  ERR_ABORTED: { name: 'AbortError', Class: AbortError },
  ERR_HANDLE: { name: 'HandleError', Class: HandleError },
  ERR_INVALID_ARG: { name: 'InvalidArgumentError', Class: InvalidArgumentError },
  ERR_CAPACITY: { name: 'CapacityError', Class: CapacityError },
  ERR_NOT_OWNER: { name: 'NotOwnerError', Class: NotOwnerError },
  ERR_DEADLOCK: { name: 'DeadlockError', Class: DeadlockError },
  ERR_OWNER_DIED: { name: 'OwnerDiedError', Class: OwnerDiedError },
  ERR_CONFLICT: { name: 'ConflictError', Class: ConflictError },
  ERR_ALREADY_VOTED: { name: 'AlreadyVotedError', Class: AlreadyVotedError },
  ERR_CIRCUIT_OPEN: { name: 'CircuitOpenError', Class: CircuitOpenError },
  ERR_BULKHEAD_FULL: { name: 'BulkheadFullError', Class: BulkheadFullError },
  ERR_CANCELED: { name: 'CanceledError', Class: CanceledError },
  ERR_UNAVAILABLE: { name: 'UnavailableError', Class: UnavailableError },
} as const satisfies Record<ErrorCode, { readonly name: string; readonly Class: abstract new (...args: never[]) => SabreError }>;

/** The class of the errors with code `C`. */
export type SabreErrorOf<C extends ErrorCode> = InstanceType<(typeof ERRORS)[C]['Class']>;

const NAME_OF_CODE: Record<string, string> = Object.fromEntries(Object.entries(ERRORS).map(([code, { name }]) => [code, name]));

function makeError(code: ErrorCode, message: string, details: Record<string, unknown>, cause: unknown): SabreError {
  let e: SabreError;
  switch (code) {
    case ErrorCode.TIMEOUT:
      e = new TimeoutError(message, details);
      break;
    case ErrorCode.ABORTED:
      e = new AbortError(message, cause);
      break;
    case ErrorCode.HANDLE:
      e = new HandleError(message);
      break;
    case ErrorCode.INVALID_ARG:
      e = new InvalidArgumentError(message);
      break;
    case ErrorCode.CAPACITY:
      e = new CapacityError(message);
      break;
    case ErrorCode.NOT_OWNER:
      e = new NotOwnerError(message);
      break;
    case ErrorCode.DEADLOCK:
      e = new DeadlockError(message);
      break;
    case ErrorCode.OWNER_DIED:
      e = new OwnerDiedError(message, details);
      break;
    case ErrorCode.CONFLICT:
      e = new ConflictError(message, details);
      break;
    case ErrorCode.ALREADY_VOTED:
      e = new AlreadyVotedError(message);
      break;
    case ErrorCode.CIRCUIT_OPEN:
      e = new CircuitOpenError(message, details as { retryAfterMs: number });
      break;
    case ErrorCode.BULKHEAD_FULL:
      e = new BulkheadFullError(message);
      break;
    case ErrorCode.CANCELED:
      e = new CanceledError(message);
      break;
    case ErrorCode.UNAVAILABLE:
      e = new UnavailableError(message, cause);
      break;
  }
  return e;
}
