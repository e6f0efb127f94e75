/**
 * The Web Locks API's bindings (https://w3c.github.io/web-locks/, its IDL
 * read by WebIDL's rules): how `request`'s arguments are converted, in the
 * order the spec converts and checks them, and the errors the spec names,
 * each carrying sabre's code in its `cause` (so `isSabreError(e, code)`
 * recognises it, while its class and `name` are the spec's).
 * @internal
 */
import { ErrorCode, type SabreErrorCause } from '../errors.js';
import { deprecated } from '../options/deprecate.js';
import { closest } from '../options/suggest.js';

export type LockMode = 'exclusive' | 'shared';

/** `request`'s arguments after the WebIDL conversions (sabre's own `timeout` still raw). */
export interface RequestArgs {
  readonly name: string;
  readonly mode: LockMode;
  readonly ifAvailable: boolean;
  readonly steal: boolean;
  readonly signal: AbortSignal | undefined;
  /** sabre's addition, read as the last dictionary member (or its old name `timeout`); the manager checks it. */
  readonly timeoutMs: unknown;
  readonly callback: (lock: unknown) => unknown;
}

const cause = (code: ErrorCode, name: string): SabreErrorCause => ({ sabre: true, code, name });

/** A `TypeError` (WebIDL's conversion errors), with sabre's ERR_INVALID_ARG in its cause. */
export function typeError(message: string): TypeError {
  return new TypeError(message, { cause: cause(ErrorCode.INVALID_ARG, 'InvalidArgumentError') });
}

/** DOMException's constructor with its options form (`{ name, cause }`), which the DOM typings lack. */
const DOMExceptionWithCause = DOMException as unknown as new (message: string, options: { name: string; cause: unknown }) => DOMException;

/** A "NotSupportedError" `DOMException`, with sabre's ERR_INVALID_ARG in its cause. */
export function notSupported(message: string): DOMException {
  return new DOMExceptionWithCause(message, { name: 'NotSupportedError', cause: cause(ErrorCode.INVALID_ARG, 'InvalidArgumentError') });
}

/** An "AbortError" `DOMException` (a stolen lock), with sabre's ERR_ABORTED in its cause. */
export function abortError(message: string): DOMException {
  return new DOMExceptionWithCause(message, { name: 'AbortError', cause: cause(ErrorCode.ABORTED, 'AbortError') });
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- taken off the prototype on purpose: called as abortedGetter.call(v), the brand check below
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;

/** WebIDL's check that a value implements AbortSignal (a brand check: a look-alike object fails it). */
function isAbortSignal(v: unknown): v is AbortSignal {
  if (typeof v !== 'object' || v === null) return false;
  try {
    abortedGetter.call(v);
    return true;
  } catch {
    return false;
  }
}

/** WebIDL DOMString: ECMAScript ToString (a Symbol is a TypeError; an object's toString may throw). */
function toDOMString(v: unknown, what: string): string {
  if (typeof v === 'symbol') throw typeError(`${what}: a Symbol cannot be converted to a string`);
  return String(v);
}

/**
 * Converts `request`'s arguments as WebIDL does for the spec's two overloads,
 * `request(name, callback)` and `request(name, options, callback)`: fewer
 * than 2 arguments is a TypeError; with exactly 2 the second is the callback;
 * with 3 or more, the second is the options and the third the callback. Then
 * each argument in order: the name with ToString, the options as a
 * `LockOptions` dictionary (undefined or null: all defaults; another
 * non-object: TypeError; members read once each, in lexicographic order:
 * ifAvailable, mode, signal, steal, then sabre's timeout; booleans by
 * ToBoolean, `mode` by ToString and then it must be "shared" or "exclusive",
 * `signal` absent when undefined and otherwise an AbortSignal; other members
 * refused), the callback (callable). Every failure is a TypeError.
 *
 * One deliberate difference from WebIDL's dictionaries: an unknown member is
 * a TypeError naming it (and the member probably meant), not ignored, so a
 * misspelled `ifAvaliable` or `timout` cannot silently change what the
 * request does (sabre's rule for every options object). Valid Web Locks
 * code never passes one.
 */
/** The LockOptions members, sabre's `timeoutMs`, and its old name `timeout` (last: never suggested). */
const MEMBERS = ['ifAvailable', 'mode', 'signal', 'steal', 'timeoutMs', 'timeout'];

export function convertRequestArgs(args: ArrayLike<unknown>): RequestArgs {
  if (args.length < 2) throw typeError(`request(name, [options], callback) takes at least 2 arguments, got ${args.length}`);
  const withOptions = args.length >= 3;
  const name = toDOMString(args[0], 'the lock name');
  const options = withOptions ? args[1] : undefined;
  const callback = withOptions ? args[2] : args[1];
  let ifAvailable = false,
    steal = false;
  let mode: LockMode = 'exclusive';
  let signal: AbortSignal | undefined;
  let timeoutMs: unknown;
  if (options !== undefined && options !== null) {
    if (typeof options !== 'object' && typeof options !== 'function')
      throw typeError(`request options must be an object, got ${typeof options}`);
    const o = options as Record<string, unknown>;
    for (const key in o) {
      if (!MEMBERS.includes(key)) {
        const meant = closest(key, MEMBERS.slice(0, 5));
        throw typeError(
          `request options: unknown option "${key}"${
            meant === undefined
              ? ` (the options are ${MEMBERS.slice(0, 5)
                  .map((m) => `"${m}"`)
                  .join(', ')})`
              : `; did you mean "${meant}"?`
          }`,
        );
      }
    }
    ifAvailable = Boolean(o.ifAvailable);
    const rawMode = o.mode;
    if (rawMode !== undefined) {
      const m = toDOMString(rawMode, 'mode');
      if (m !== 'exclusive' && m !== 'shared') throw typeError(`mode must be "exclusive" or "shared", got ${JSON.stringify(m)}`);
      mode = m;
    }
    const rawSignal = o.signal;
    if (rawSignal !== undefined) {
      if (!isAbortSignal(rawSignal)) throw typeError(`signal must be an AbortSignal, got ${describe(rawSignal)}`);
      signal = rawSignal;
    }
    steal = Boolean(o.steal);
    timeoutMs = o.timeoutMs;
    if (o.timeout !== undefined) {
      if (timeoutMs !== undefined) throw typeError('request options: "timeout" is the old name of "timeoutMs"; give only "timeoutMs"');
      deprecated('SABRE_DEP_TIMEOUT', 'LockManager#request options');
      timeoutMs = o.timeout;
    }
  }
  if (typeof callback !== 'function')
    throw typeError(`request(name, [options], callback): callback must be a function, got ${describe(callback)}`);
  return { name, mode, ifAvailable, steal, signal, timeoutMs, callback: callback as (lock: unknown) => unknown };
}

/**
 * The spec's checks of the request method steps, in its order, after the
 * conversions: a reserved name, then the option conflicts, each a
 * "NotSupportedError" DOMException. (The already aborted signal, the next
 * step, is the caller's: it rejects with the signal's reason.)
 */
export function checkRequest(a: RequestArgs): void {
  if (a.name.charCodeAt(0) === 0x2d) throw notSupported(`lock names starting with "-" are reserved, got ${JSON.stringify(a.name)}`);
  if (a.steal && a.ifAvailable) throw notSupported('steal and ifAvailable cannot be used together');
  if (a.steal && a.mode !== 'exclusive') throw notSupported('steal requires mode "exclusive"');
  if (a.signal !== undefined && (a.steal || a.ifAvailable))
    throw notSupported(`signal cannot be used with ${a.steal ? 'steal' : 'ifAvailable'}: such a request never waits`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object') return `an object (${Object.prototype.toString.call(v)})`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- only primitives are left: null, objects and functions returned above
  return `${typeof v} ${String(v)}`;
}
