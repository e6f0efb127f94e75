/**
 * Option fields: what one option of a primitive is (its type, range and
 * default), and how it travels in a handle.
 *
 * A field is data plus a `parse` function. `schema.ts` puts fields together;
 * this file has the kinds every primitive uses. Messages follow one pattern:
 * `<name> must be <what>, got <value>` (`capacity must be an integer in
 * [1, 16777216], got -3`).
 */
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

/** Marks a field that has no default: leaving it out is an error. */
export const REQUIRED: unique symbol = Symbol('required');

/**
 * One option.
 * - `T`: its value in this thread after checking (what the primitive uses);
 * - `S`: what a handle records for it (structured-cloneable), when it has a
 *   place in the handle at all.
 */
export interface Field<T, S = T> {
  /** Checks a value that was given (never `undefined`) and returns its normal form. */
  parse(value: unknown, name: string, all: Readonly<Record<string, unknown>>): T;
  /** The value when the option is absent, or REQUIRED. */
  readonly fallback: T | typeof REQUIRED;
  /**
   * `'handle'`: recorded in the handle, so every thread that opens it sees
   * the same value (sizes, durations, policies). `'local'`: this thread's
   * object only (an arena, a signal, a function: they cannot travel).
   */
  readonly place: 'handle' | 'local';
  /** May be given again to `P.from(handle, options)` (what a handle cannot carry: a custom codec, a predicate). */
  readonly reopen: boolean;
  /** The handle's form of a checked value (default: the value itself). */
  toHandle?(value: T): S;
  /** Checks the handle's form, as found in a handle (default: `parse`). */
  fromHandle?(raw: unknown, name: string): S;
  /** The value in a thread that opened a handle, from the handle's form and what `from` was given (default: the handle's form). */
  revive?(stored: S, given: unknown, name: string): T;
  /** The bounds of a numeric option, as `P.limits` reports them. */
  readonly range?: OptionRange;
}

/** What `P.limits` tells of one numeric option: its bounds (inclusive) and its default. */
export interface OptionRange {
  readonly min?: number;
  /** Values must be greater than this (a duration that cannot be 0). */
  readonly above?: number;
  readonly max?: number;
  readonly default?: number;
}

// Fields are plain objects: `{ ...f, fallback }` makes a variant.
type Base<T> = Pick<Field<T>, 'parse'> & Partial<Omit<Field<T>, 'parse'>>;
function field<T, S = T>(f: Base<T> & Partial<Field<T, S>>): Field<T, S> {
  return { fallback: REQUIRED, place: 'handle', reopen: false, ...f };
}

function fail(name: string, what: string, got: unknown): never {
  throw new InvalidArgumentError(`${name} must be ${what}, got ${describeValue(got)}`);
}

/** Gives a field a default (or makes it optional with `undefined`). */
export function withDefault<T, S>(f: Field<T, S>, fallback: T): Field<T, S>;
export function withDefault<T, S>(f: Field<T, S>, fallback: undefined): Field<T | undefined, S>;
export function withDefault<T, S>(f: Field<T, S>, fallback: T | undefined): Field<T | undefined, S> {
  return { ...f, fallback };
}

/** An option of this thread only (never in the handle). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any handle form: a local field has none
export function local<T>(f: Field<T, any>, options: { readonly reopen?: boolean } = {}): Field<T, never> {
  return { ...f, place: 'local', reopen: options.reopen ?? false } as Field<T, never>;
}

export interface IntegerSpec {
  readonly min?: number;
  readonly max?: number;
}
/** An integer in [min, max] (default min 1: most counts cannot be 0). */
export function integer(spec: IntegerSpec & { readonly default?: number } = {}): Field<number> {
  const min = spec.min ?? 1,
    max = spec.max ?? Number.MAX_SAFE_INTEGER;
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
  return field({
    parse: (v, name) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(name, `an integer ${range}`, v)),
    range: { min, max },
    ...(spec.default !== undefined ? { fallback: spec.default } : {}),
  });
}

export interface NumberSpec {
  /** Smallest value allowed (inclusive). */
  readonly min?: number;
  /** Values must be greater than this. */
  readonly above?: number;
  readonly max?: number;
  /** What the number counts, for the message ("tokens per second"). */
  readonly unit?: string;
  /** Infinity is allowed (and means "never" / "forever"). */
  readonly infinite?: boolean;
  readonly default?: number;
}
/** A number (fractions allowed); NaN never is. */
export function number(spec: NumberSpec = {}): Field<number> {
  const parts: string[] = [];
  if (spec.above !== undefined) parts.push(`> ${spec.above}`);
  if (spec.min !== undefined) parts.push(`>= ${spec.min}`);
  if (spec.max !== undefined) parts.push(`<= ${spec.max}`);
  const what = `a ${spec.infinite ? '' : 'finite '}number${spec.unit ? ` of ${spec.unit}` : ''}${parts.length ? ` ${parts.join(' and ')}` : ''}${spec.infinite ? ' (or Infinity)' : ''}`;
  // Bounds as locals: this runs on every call that passes a number option.
  const above = spec.above ?? -Infinity,
    min = spec.min ?? -Infinity,
    max = spec.max ?? Infinity,
    infinite = spec.infinite === true;
  return field({
    parse: (v, name) => {
      if (typeof v === 'number' && (v === Infinity ? infinite : v > above && v >= min && v <= max && v !== -Infinity)) return v;
      return fail(name, what, v); // NaN fails every comparison above
    },
    range: {
      ...(spec.min !== undefined ? { min: spec.min } : {}),
      ...(spec.above !== undefined ? { above: spec.above } : {}),
      ...(spec.max !== undefined ? { max: spec.max } : infinite ? { max: Infinity } : {}),
    },
    ...(spec.default !== undefined ? { fallback: spec.default } : {}),
  });
}

/**
 * A duration in milliseconds. `timeoutMs` and its kind: `>= 0`, Infinity =
 * forever (the default). `positive`: TTLs and windows, which cannot be 0.
 * Where `Atomics.wait` would silently treat NaN as forever, NaN is refused.
 */
export function duration(
  spec: { readonly default?: number; readonly positive?: boolean; readonly infinite?: boolean; readonly max?: number } = {},
): Field<number> {
  return number({
    ...(spec.positive ? { above: 0 } : { min: 0 }),
    ...(spec.max !== undefined ? { max: spec.max } : {}),
    unit: 'milliseconds',
    infinite: spec.infinite ?? true,
    ...(spec.default !== undefined ? { default: spec.default } : {}),
  });
}

/** The usual wait: `timeoutMs`, forever by default. */
export const timeout = (): Field<number> => duration({ default: Infinity });

/** `true` or `false` (nothing else is taken for one). */
export function boolean(fallback = false): Field<boolean> {
  return field({ parse: (v, name) => (typeof v === 'boolean' ? v : fail(name, 'true or false', v)), fallback });
}

/** One of a few values. */
export function oneOf<const V extends string | number>(values: readonly V[], fallback?: V): Field<V> {
  const what = `one of ${values.map((x) => describeValue(x)).join(', ')}`;
  return field({
    parse: (v, name) => (values.includes(v as V) ? (v as V) : fail(name, what, v)),
    ...(fallback !== undefined ? { fallback } : {}),
  });
}

/** A function (local: functions cannot travel in a handle). */
export function fn<F extends (...args: never[]) => unknown>(options: { readonly reopen?: boolean } = {}): Field<F | undefined, never> {
  return local(
    withDefault(field<F>({ parse: (v, name) => (typeof v === 'function' ? (v as F) : fail(name, 'a function', v)) }), undefined),
    options,
  );
}

/** An AbortSignal (checked by shape, so a signal of another realm works too). */
export function signal(): Field<AbortSignal | undefined, never> {
  return local(
    withDefault(
      field<AbortSignal>({
        parse: (v, name) => {
          const s = v as Partial<AbortSignal> | null;
          // Everything a wait uses: a look-alike without removeEventListener would fail only after parking.
          return typeof s === 'object' &&
            s !== null &&
            typeof s.aborted === 'boolean' &&
            typeof s.addEventListener === 'function' &&
            typeof s.removeEventListener === 'function'
            ? (v as AbortSignal)
            : fail(name, 'an AbortSignal', v);
        },
      }),
      undefined,
    ),
  );
}

/** Any value this thread checks itself (`parse`), recorded in the handle as is. */
export function custom<T>(
  parse: (value: unknown, name: string, all: Readonly<Record<string, unknown>>) => T,
  fallback: T | typeof REQUIRED = REQUIRED,
): Field<T> {
  return field({ parse, fallback });
}
