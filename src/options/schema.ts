/**
 * Option schemas: one declaration per primitive (and per call that takes
 * options), read by the constructor, `from(handle)`, `byteLength` and the
 * call itself.
 *
 * ```ts
 * const OPTIONS = defineOptions('new Cache(options)', {
 *   capacity: integer({ max: MAX_TABLE_CAPACITY }),
 *   ttlMs: duration({ positive: true, default: Infinity }),
 *   arena: arena(),
 * }, { renamed: { ttl: … } });
 * const o = OPTIONS.parse(userOptions);   // checked, defaults filled in
 * ```
 *
 * What a schema guarantees, whatever the caller passes:
 * - an unknown key is an `InvalidArgumentError` that names it and, when one
 *   is close, the option meant (`unknown option "ttl"; did you mean "ttlMs"?`);
 * - every value is checked by its field (type, range), and defaults are the
 *   field's, so no option is ever silently ignored;
 * - a renamed option still works, warns once per process (`SABRE_DEP_…`),
 *   and may not be given together with its new name;
 * - a handle's options are checked field by field, with no key missing and
 *   none extra, so a forged handle cannot smuggle in a value the constructor
 *   would refuse.
 */
import { InvalidArgumentError, inputError } from '../errors.js';
import { describeValue } from '../validate.js';
import { deprecated, type DeprecationCode } from './deprecate.js';
import { REQUIRED, type Field, type OptionRange } from './field.js';
import { closest } from './suggest.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a field of any value type
type AnyField = Field<any, any>;
export type Fields = Readonly<Record<string, AnyField>>;

/** The checked options: every field's value (defaults filled in). */
export type Parsed<F extends Fields> = { readonly [K in keyof F]: F[K] extends Field<infer T, infer _S> ? T : never };
/** The names of the fields a handle records. */
export type HandleKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends Field<infer _T, infer S> ? ([S] extends [never] ? never : K) : never;
}[keyof F];
/** The names of the numeric fields (what `limits` reports). */
export type NumericKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends Field<infer T, infer _S> ? ([T] extends [number | undefined] ? K : never) : never;
}[keyof F];
/** The bounds and defaults of a schema's numeric options, by name. */
export type Limits<F extends Fields> = Readonly<Record<NumericKeys<F>, OptionRange>>;
/** What a handle records: the handle's form of every `'handle'` field. */
export type Stored<F extends Fields> = { readonly [K in HandleKeys<F>]: F[K] extends Field<infer _T, infer S> ? S : never };

export interface Rename<F extends Fields> {
  readonly to: keyof F & string;
  readonly code: DeprecationCode;
}

export interface SchemaRules<F extends Fields> {
  /** Old option name → its new name and the deprecation it warns with. */
  readonly renamed?: Readonly<Record<string, Rename<F>>>;
  /** The option a lone number stands for: `new Semaphore(2)` is `new Semaphore({ permits: 2 })`. */
  readonly positional?: keyof F & string;
  /** Rewrites an older shape of the options that a rename cannot express (warning as it does). */
  readonly legacy?: (raw: Readonly<Record<string, unknown>>, where: string) => Record<string, unknown>;
  /** Checks across options, after each was checked; also run on options revived from a handle. */
  readonly check?: (o: Parsed<F>) => void;
}

function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** An options object: `undefined` is `{}`; anything else that is not a plain object is refused. */
function objectOf(raw: unknown, where: string): Readonly<Record<string, unknown>> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidArgumentError(`${where}: options must be an object, got ${describeValue(raw)}`);
  }
  return raw as Record<string, unknown>;
}

export class OptionSchema<F extends Fields> {
  /** Every option's name, in declaration order. */
  readonly names: readonly string[];
  private readonly entries: readonly (readonly [string, AnyField])[];
  private readonly fieldNames: readonly string[];
  private readonly fieldList: readonly AnyField[];
  private readonly handleEntries: readonly (readonly [string, AnyField])[];
  private readonly lookup: Readonly<Record<string, AnyField>>;
  /** The result of parsing `{}` when no option is required: shared by every call that passes none. */
  private readonly empty: Parsed<F> | undefined;
  /** The last positional number parsed, and its answer. */
  private lastNumber = NaN;
  private lastNumberOut: Parsed<F> | undefined;

  constructor(
    /** The call these options are for, as messages name it (`new Cache(options)`, `mutex.lockAsync(options)`). */
    readonly where: string,
    readonly fields: F,
    private readonly rules: SchemaRules<F> = {},
  ) {
    this.entries = Object.entries(fields);
    this.handleEntries = this.entries.filter(([, f]) => f.place === 'handle');
    this.names = this.entries.map(([k]) => k);
    this.fieldNames = this.names;
    this.fieldList = this.entries.map(([, f]) => f);
    this.lookup = Object.assign(Object.create(null) as Record<string, AnyField>, fields);
    this.build = compile(this.names, this.fieldList, this.rules.check, this.unknownKey, this.required);
    this.empty = this.entries.every(([, f]) => f.fallback !== REQUIRED) ? Object.freeze(this.parse({})) : undefined;
  }

  /** The bounds and defaults of the numeric options, read off their fields (what a class publishes as `limits`). */
  get limits(): Limits<F> {
    const out: Record<string, OptionRange> = {};
    for (const [name, f] of this.entries) {
      if (f.range !== undefined)
        out[name] = Object.freeze({ ...f.range, ...(typeof f.fallback === 'number' ? { default: f.fallback } : {}) });
    }
    return Object.freeze(out);
  }

  /**
   * Checks `raw` (an options object, `undefined`, or the positional number)
   * and returns every option's value.
   * @throws InvalidArgumentError naming the first bad or unknown option
   */
  parse(raw: unknown, where?: string, prefix?: string): Parsed<F> {
    try {
      return this.parseRaw(raw, where, prefix);
    } catch (e) {
      // A throwing getter or a hostile Proxy among the options: a typed error all the same.
      throw inputError(e, `${where ?? this.where}: the options`);
    }
  }

  private parseRaw(raw: unknown, where?: string, prefix?: string): Parsed<F> {
    // The common case first: a plain options object and no older shape to rewrite.
    if (typeof raw === 'object' && raw !== null && this.rules.legacy === undefined && !Array.isArray(raw))
      return this.build(raw as Record<string, unknown>, where, prefix);
    if (raw === undefined && this.empty !== undefined) return this.empty;
    if (typeof raw === 'number' && this.rules.positional !== undefined) {
      // `lock(100)`: a constant more often than not, so the last answer is kept (Object.is: -0 and NaN are their own).
      if (Object.is(raw, this.lastNumber) && this.lastNumberOut !== undefined) return this.lastNumberOut;
      const out = this.parse({ [this.rules.positional]: raw }, where, prefix);
      this.lastNumber = raw;
      this.lastNumberOut = out;
      return out;
    }
    let o = raw === undefined ? {} : objectOf(raw, where ?? this.where);
    if (this.rules.legacy !== undefined) o = this.rules.legacy(o, where ?? this.where);
    return this.build(o, where, prefix);
  }

  /** `parse` for `(number, options)` constructors: `new Semaphore(2, { maxThreads: 8 })`. */
  parseWith(first: unknown, rest: unknown, where?: string): Parsed<F> {
    const positional = this.rules.positional;
    if (positional === undefined || typeof first !== 'number') {
      if (rest !== undefined)
        throw new InvalidArgumentError(`${where ?? this.where}: expected one options object, got a second argument ${describeValue(rest)}`);
      return this.parse(first, where);
    }
    const o = rest === undefined ? {} : objectOf(rest, where ?? this.where);
    if (o[positional] !== undefined)
      throw new InvalidArgumentError(`${where ?? this.where}: ${positional} was given twice (as the first argument and as an option)`);
    return this.parse({ ...o, [positional]: first }, where);
  }

  /** The options a handle records (each `'handle'` field in its handle form). */
  toHandle(o: Parsed<F>): Stored<F> {
    const out: Record<string, unknown> = {};
    for (const [name, f] of this.handleEntries) {
      const v = (o as Record<string, unknown>)[name];
      if (v !== undefined) out[name] = f.toHandle ? f.toHandle(v) : v;
    }
    return out as Stored<F>;
  }

  /**
   * Checks the options found in a handle: every recorded field valid, none
   * missing, none unknown.
   * @throws InvalidArgumentError (which `openRegion` reports as a `HandleError`)
   */
  fromHandle(raw: unknown, prefix = ''): Stored<F> {
    const o = objectOf(raw, prefix === '' ? 'handle' : prefix.slice(0, -1));
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(o)) {
      const f = this.lookup[key];
      if (f?.place !== 'handle') throw new InvalidArgumentError(`unknown option "${prefix}${key}"`);
    }
    for (const [name, f] of this.handleEntries) {
      const v = o[name];
      if (v === undefined) {
        if (f.fallback === REQUIRED || f.fallback !== undefined) throw new InvalidArgumentError(`${prefix}${name} is missing`);
        continue;
      }
      out[name] = f.fromHandle ? f.fromHandle(v, prefix + name) : f.parse(v, prefix + name, o);
    }
    return out as Stored<F>;
  }

  /**
   * The options of a thread that opened a handle: each recorded field's value
   * revived from the handle, and the `reopen` fields from `given` (the
   * options of `from(handle, options)`; anything else there is an error).
   */
  revive(stored: Stored<F>, given: unknown, where: string): Parsed<F> {
    const g = given === undefined ? {} : objectOf(given, where);
    for (const key in g) {
      const f = this.lookup[key];
      if (!f?.reopen) {
        const reopenable = this.entries.filter(([, x]) => x.reopen).map(([k]) => k);
        const hint = f === undefined ? closest(key, reopenable) : undefined;
        throw new InvalidArgumentError(
          `${where}: ${f === undefined ? `unknown option "${key}"` : `option "${key}" comes from the handle and cannot be given again`}` +
            (hint !== undefined
              ? `; did you mean "${hint}"?`
              : reopenable.length > 0
                ? ` (it takes only ${reopenable.map((k) => `"${k}"`).join(', ')})`
                : ' (it takes no options)'),
        );
      }
    }
    const out: Record<string, unknown> = {};
    for (const [name, f] of this.entries) {
      if (f.place === 'handle') {
        const s = (stored as Record<string, unknown>)[name];
        out[name] = f.revive ? f.revive(s, g[name], name) : s;
      } else if (g[name] !== undefined) {
        out[name] = f.parse(g[name], name, g);
      } else {
        out[name] = f.fallback === REQUIRED ? undefined : f.fallback;
      }
    }
    this.rules.check?.(out as Parsed<F>);
    return out as Parsed<F>;
  }

  /**
   * Reads the fields out of a checked-to-be-an-object `o`. Compiled once per
   * schema into straight-line code (see `compile`), because options objects
   * are read on every call that passes one: a loop of keyed loads and stores
   * over the fields costs an order of magnitude more (measured: about 30×
   * an object literal for ten fields, against about 3× compiled).
   */
  private readonly build: (o: Readonly<Record<string, unknown>>, where: string | undefined, prefix: string | undefined) => Parsed<F>;

  /** Unknown keys (renamed ones with their warning, or the error): the rare path of `build`. */
  private readonly unknownKey = (o: Readonly<Record<string, unknown>>, where: string | undefined, prefix: string | undefined): Parsed<F> =>
    this.build(this.resolveNames(o, where ?? this.where), where, prefix);

  /** A missing required option. */
  private readonly required = (name: string, where: string | undefined, prefix: string | undefined): never => {
    throw new InvalidArgumentError(`${where ?? this.where}: ${prefix ?? ''}${name} is required`);
  };

  /** The slow path of `parse`: renamed options (with their warning) and the error for unknown ones. */
  private resolveNames(o: Readonly<Record<string, unknown>>, where: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key in o) {
      if (this.lookup[key] !== undefined) {
        if (!hasOwn(out, key)) out[key] = o[key];
        continue;
      }
      const rename = this.rules.renamed?.[key];
      if (rename !== undefined) {
        if (o[rename.to] !== undefined)
          throw new InvalidArgumentError(`${where}: "${key}" is the old name of "${rename.to}"; give only "${rename.to}"`);
        deprecated(rename.code, where);
        out[rename.to] = o[key];
        continue;
      }
      const hint = closest(key, [...this.names, ...Object.keys(this.rules.renamed ?? {})]);
      const meant = hint === undefined ? undefined : (this.rules.renamed?.[hint]?.to ?? hint);
      throw new InvalidArgumentError(
        `${where}: unknown option "${key}"` +
          (meant !== undefined
            ? `; did you mean "${meant}"?`
            : this.names.length > 0
              ? ` (the options are ${this.names.map((n) => `"${n}"`).join(', ')})`
              : ' (it takes no options)'),
      );
    }
    return out;
  }
}

type Build<F extends Fields> = (o: Readonly<Record<string, unknown>>, where: string | undefined, prefix: string | undefined) => Parsed<F>;

/**
 * Straight-line code for one schema's fields: a `for…in` that compares each
 * given key against the known names (any other key takes the rare path),
 * then one object literal with a property load, a default or a field check
 * per option, so every property access is monomorphic. The names are the
 * schema's own identifiers (checked below), never user input.
 */
function compile<F extends Fields>(
  names: readonly string[],
  fields: readonly AnyField[],
  check: ((o: Parsed<F>) => void) | undefined,
  unknownKey: Build<F>,
  required: (name: string, where: string | undefined, prefix: string | undefined) => never,
): Build<F> {
  for (const n of names) if (!/^[A-Za-z_$][\w$]*$/.test(n)) throw new Error(`option name ${JSON.stringify(n)} is not an identifier`);
  const known = names.length === 0 ? 'false' : names.map((n) => `k === '${n}'`).join(' || ');
  const reads = names.map((n, i) => `const v${i} = o.${n};`).join(' ');
  const same = names.map((_, i) => `v${i} === m${i}`).join(' && ');
  const props = names.map((n, i) => {
    const absent = fields[i]!.fallback === REQUIRED ? `R('${n}', W, P)` : `D[${i}]`;
    return `${n}: v${i} === undefined ? ${absent} : F[${i}].parse(v${i}, P === undefined ? '${n}' : P + '${n}', o)`;
  });
  // A one-entry memo: the same options object with the same values (an options constant passed
  // on every call, as retry's usually is) gives the same answer without checking, allocating or
  // enumerating its keys again (the for…in costs as much as the rest of the call). The one thing
  // it does not see: an unknown key added, by mutation, to an object already checked, whose
  // known values did not change. Every object is checked whole the first time it is seen and
  // whenever a known value changes.
  const body = `
    ${reads}
    if (o === mo${names.length > 0 ? ` && ${same}` : ''}) return mout;
    for (const k in o) if (!(${known})) return U(o, W, P);
    const out = { ${props.join(', ')} };
    if (C !== undefined) C(out);
    mo = o; ${names.map((_, i) => `m${i} = v${i};`).join(' ')} mout = out;
    return out;`;
  const memo = ['let mo, mout;', ...names.map((_, i) => `let m${i};`)].join(' ');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the schema's own field names, see above
  const make = new Function('F', 'D', 'C', 'U', 'R', `${memo} return function build(o, W, P) {${body}};`) as (
    ...args: unknown[]
  ) => Build<F>;
  return make(
    fields,
    fields.map((f): unknown => f.fallback),
    check,
    unknownKey,
    required,
  );
}

/** Declares the options of a constructor or a call. */
export function defineOptions<F extends Fields>(where: string, fields: F, rules?: SchemaRules<F>): OptionSchema<F> {
  return new OptionSchema(where, fields, rules);
}

/**
 * An option that is itself an options object (a breaker's `failureRate`),
 * checked by its own schema: unknown keys inside it are errors too, and
 * messages name the path (`failureRate.threshold must be …`). Recorded in
 * the handle as its schema records it.
 */
export function group<F extends Fields>(schema: OptionSchema<F>): Field<Parsed<F>, Stored<F>> {
  return {
    parse: (v, name) => schema.parse(v, name, `${name}.`),
    fallback: REQUIRED,
    place: 'handle',
    reopen: false,
    toHandle: (o) => schema.toHandle(o),
    fromHandle: (raw, name) => schema.fromHandle(raw, `${name}.`),
  };
}
