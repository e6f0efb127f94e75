/**
 * Argument checks shared by every primitive: one place for the wording of
 * `InvalidArgumentError` messages ("capacity must be a positive integer, got -3").
 */
import { InvalidArgumentError, inputError } from './errors.js';

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

/** An integer in [min, max]. */
export function integerIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(`${name} must be an integer ${range}, got ${show(v)}`);
  }
  return v;
}

export function positiveInteger(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  return integerIn(name, v, 1, max);
}

export function nonNegativeInteger(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  return integerIn(name, v, 0, max);
}

/**
 * A timeout in milliseconds: `undefined` or `Infinity` mean "forever"; otherwise a
 * finite number >= 0 (fractions allowed). NaN and negatives are refused, where
 * `Atomics.wait` would silently treat NaN as forever.
 */
export function timeoutMs(name: string, v: unknown): number {
  if (v === undefined || v === Infinity) return Infinity;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a number >= 0 or Infinity, got ${show(v)}`);
  }
  return v;
}

/** A finite number (any sign) for values such as counter deltas. */
export function finiteInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new InvalidArgumentError(`${name} must be a safe integer, got ${show(v)}`);
  }
  return v;
}

export function bigintValue(name: string, v: unknown): bigint {
  if (typeof v === 'bigint') return BigInt.asIntN(64, v) === v ? v : fail64(name, v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new InvalidArgumentError(`${name} must be a bigint or a safe integer, got ${show(v)}`);
}
function fail64(name: string, v: bigint): never {
  throw new InvalidArgumentError(`${name} must fit in a signed 64-bit integer, got ${v}n`);
}

export function oneOf<T extends string | number>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new InvalidArgumentError(`${name} must be one of ${allowed.map(show).join(', ')}, got ${show(v)}`);
  }
  return v as T;
}

export function plainObject(name: string, v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new InvalidArgumentError(`${name} must be an options object, got ${show(v)}`);
  }
  return v as Record<string, unknown>;
}

/**
 * The named properties of a caller's object, read once into a plain object
 * (undefined when `v` is not an object): later checks read the copy, and a
 * throwing getter or a hostile Proxy is an InvalidArgumentError, not its
 * own exception.
 */
export function fieldsOf<K extends string>(name: string, v: unknown, keys: readonly K[]): Partial<Record<K, unknown>> | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const out: Partial<Record<K, unknown>> = {};
  try {
    for (const k of keys) out[k] = (v as Record<K, unknown>)[k];
  } catch (e) {
    throw inputError(e, name);
  }
  return out;
}

/**
 * `v instanceof C`, false (not an exception) for a value that throws when
 * asked (a Proxy whose getPrototypeOf trap throws): the caller then reports
 * it as the wrong type, with a typed error.
 */
export function isInstance<T>(v: unknown, C: abstract new (...args: never[]) => T): v is T {
  try {
    return v instanceof C;
  } catch {
    return false;
  }
}

/**
 * `v instanceof Uint8Array`, asked without running a caller's Proxy trap
 * (`instanceof` consults a Proxy's getPrototypeOf; `ArrayBuffer.isView` reads
 * an internal slot a Proxy does not have).
 */
export function isBytes(v: unknown): v is Uint8Array {
  return ArrayBuffer.isView(v) && v instanceof Uint8Array;
}

/** True for an object or function with a callable `then` (a promise or any thenable, as `await` treats it). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

export function fn(name: string, v: unknown): (...args: never[]) => unknown {
  if (typeof v !== 'function') throw new InvalidArgumentError(`${name} must be a function, got ${show(v)}`);
  return v as (...args: never[]) => unknown;
}

/**
 * `s`, when it is well-formed UTF-16. A lone surrogate has no UTF-8 form
 * (`TextEncoder` writes U+FFFD for it), so two strings that differ only
 * there would become one stored key: every keyed structure refuses them
 * rather than merge them (LockManager, whose names keep their UTF-16, is the
 * one exception, as the Web Locks API requires).
 */
export function wellFormed(name: string, s: string): string {
  if (!s.isWellFormed()) {
    throw new InvalidArgumentError(
      `${name} ${show(s)} has a lone surrogate: it has no UTF-8 form, so it could not be told apart from other such strings`,
    );
  }
  return s;
}

export { show as describeValue };
