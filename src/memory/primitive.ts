/**
 * One definition per primitive: its kind, layout version, options and body
 * size, read by its constructor, `from(handle)` and `byteLength` alike.
 *
 * ```ts
 * const DEF = definePrimitive('TokenBucket', 1, {
 *   burst: integer({ max: MAX_BURST }),
 *   capacity: integer({ max: MAX_KEYS, default: 10_000 }),
 *   clock: clock(),
 * }, { bodyBytes: (o) => … });
 *
 * constructor(options: TokenBucketOptions | Opened<…>) {
 *   const { region, options: o, created } = DEF.resolve(options);
 * static from(handle, options?) { return new TokenBucket(DEF.open(handle, options)); }
 * static byteLength(options) { return DEF.byteLength(options); }
 * ```
 *
 * Every primitive's options also take `arena` (allocate inside a
 * `SharedArena`); it is added here, never declared twice.
 */
import { HandleError, InvalidArgumentError, readingInput } from '../errors.js';
import { describeValue } from '../validate.js';
import { custom, local, withDefault, type Field } from '../options/field.js';
import {
  defineOptions,
  type Fields,
  type Limits,
  type OptionSchema,
  type Parsed,
  type SchemaRules,
  type Stored,
} from '../options/schema.js';
import { createRegion, openRegion, Region, regionBytes, type Allocator, type Handle, type RegionSpec } from './region.js';

/** A primitive's region, created or opened, with its checked options (as the primitive's code reads them). */
export class Opened<K extends string, F extends Fields> {
  /** @internal */
  constructor(
    readonly region: Region<K, Stored<F>>,
    readonly options: Parsed<F>,
    /** True when the region was just created: the constructor lays out its body. */
    readonly created: boolean,
  ) {}
}

const arenaField: Field<Allocator | undefined, never> = local(
  withDefault(
    custom<Allocator>((v, name) => {
      if (typeof (v as Partial<Allocator> | null)?.allocate === 'function') return v as Allocator;
      throw new InvalidArgumentError(`${name} must be a SharedArena (open a handle with SharedArena.from), got ${describeValue(v)}`);
    }),
    undefined,
  ),
);

type WithArena<F extends Fields> = F & { readonly arena: typeof arenaField };

export interface PrimitiveRules<F extends Fields> extends SchemaRules<WithArena<F>> {
  /** Body bytes for these options (the handle's form). */
  readonly bodyBytes: (o: Stored<WithArena<F>>) => number;
}

export class PrimitiveDefinition<K extends string, F extends Fields> {
  readonly spec: RegionSpec<K, Stored<WithArena<F>>>;
  readonly options: OptionSchema<WithArena<F>>;

  constructor(
    /** The class name, as messages name it. */
    readonly name: string,
    readonly kind: K,
    readonly version: number,
    fields: F,
    rules: PrimitiveRules<F>,
  ) {
    this.options = defineOptions(`new ${name}(options)`, { ...fields, arena: arenaField }, rules);
    this.spec = { kind, version, bodyBytes: rules.bodyBytes };
  }

  /**
   * The bounds and defaults of this primitive's numeric options, read off
   * their declarations (`TokenBucket.limits.capacity` is `{ min: 1, max:
   * 16777216, default: 10000 }`). Classes publish it as their static `limits`.
   */
  get limits(): Limits<F> {
    return this.options.limits;
  }

  /** Checks the user's options and allocates the region (in `arena` when given). */
  create(raw: unknown, rest?: unknown): Opened<K, WithArena<F>> {
    const o = this.options.parseWith(raw, rest);
    const region = createRegion(this.spec, this.options.toHandle(o), o.arena as Allocator | undefined);
    return new Opened(region, o, true);
  }

  /**
   * Validates `handle` (magic word, kind, version, bounds, every option) and
   * revives its options; `given` may carry only what a handle cannot (a
   * custom codec, a predicate).
   * @throws HandleError for a handle that is not a live region of this kind
   * @throws InvalidArgumentError for unknown or bad `given` options
   */
  open(handle: unknown, given?: unknown): Opened<K, WithArena<F>> {
    const region = readingInput(
      () => openRegion(this.spec, handle, (o) => this.options.fromHandle(o)),
      (m, cause) => new HandleError(m, cause),
      `${this.name}.from(handle)`,
    );
    return readingInput(
      () => new Opened(region, this.options.revive(region.options, given, `${this.name}.from(handle, options)`), false),
      (m, cause) => new InvalidArgumentError(m, cause),
      `${this.name}.from(handle, options)`,
    );
  }

  /** Opens a region that another primitive's code already validated (a part placed inside it). */
  reopen(region: Region<K, Stored<WithArena<F>>>, given?: unknown): Opened<K, WithArena<F>> {
    return new Opened(region, this.options.revive(region.options, given, `${this.name}.from(handle, options)`), false);
  }

  /** The constructor's argument: options to create from, or a region `from` opened. */
  resolve(input: unknown, rest?: unknown): Opened<K, WithArena<F>> {
    return readingInput(
      () => (input instanceof Opened ? (input as Opened<K, WithArena<F>>) : this.create(input, rest)),
      (m, cause) => new InvalidArgumentError(m, cause),
      `new ${this.name}(options)`,
    );
  }

  /**
   * A region of this kind placed at `byteOffset` of `parent`'s body: a part
   * of a composite primitive (a LeaseLock's table, a Bulkhead's semaphores),
   * so that one handle carries the whole. `'create'` lays out the part's
   * header (when the parent is created); `'open'` checks it like any handle
   * (magic word, kind, version, size, options) from the parent's handle
   * alone, so a forged parent cannot smuggle in a bad part. The parent knows
   * the part's options (it derives them from its own), so both modes take
   * them, and no option of a part is revived from its handle.
   * @param room the bytes the parent set aside (the part must fit)
   */
  part(parent: Region, byteOffset: number, room: number, raw: unknown, mode: 'create' | 'open'): Opened<K, WithArena<F>> {
    const o = this.options.parse(raw, `${this.name} (a part of ${parent.handle.kind})`);
    const stored = this.options.toHandle(o);
    const byteLength = regionBytes(this.spec, stored);
    if (byteLength > room)
      throw new InvalidArgumentError(
        `a ${this.name} of ${byteLength} bytes does not fit its ${room}-byte place in a ${parent.handle.kind}`,
      );
    const at = parent.bodyOffset + byteOffset;
    if (mode === 'create')
      return new Opened(createRegion(this.spec, stored, { allocate: () => ({ buffer: parent.buffer, byteOffset: at }) }), o, true);
    const handle = { kind: this.kind, version: this.version, buffer: parent.buffer, byteOffset: at, byteLength, options: stored };
    return new Opened(
      openRegion(this.spec, handle, (x) => this.options.fromHandle(x)),
      o,
      false,
    );
  }

  /** Bytes a region of these options takes in a buffer of its own (an arena rounds each up to 128: `SharedArena.byteLengthFor`). */
  byteLength(raw: unknown, rest?: unknown): number {
    return readingInput(
      () => regionBytes(this.spec, this.options.toHandle(this.options.parseWith(raw, rest, `${this.name}.byteLength(options)`))),
      (m, cause) => new InvalidArgumentError(m, cause),
      `${this.name}.byteLength(options)`,
    );
  }
}

/** The handle type of a definition. */
export type HandleOf<D> = D extends PrimitiveDefinition<infer K, infer F> ? Handle<K, Stored<WithArena<F>>> : never;
/** The checked options of a definition. */
export type OptionsOf<D> = D extends PrimitiveDefinition<infer _K, infer F> ? Parsed<WithArena<F>> : never;
/** What the constructor takes besides the user's options. */
export type OpenedOf<D> = D extends PrimitiveDefinition<infer K, infer F> ? Opened<K, WithArena<F>> : never;

/** Declares a primitive: `definePrimitive('Mutex', 1, {}, { bodyBytes: () => 16 })`; its kind is `sabre.<name>`. */
export function definePrimitive<const N extends string, F extends Fields>(
  name: N,
  version: number,
  fields: F,
  rules: PrimitiveRules<F>,
): PrimitiveDefinition<`sabre.${N}`, F> {
  return new PrimitiveDefinition(name, `sabre.${name}`, version, fields, rules);
}
