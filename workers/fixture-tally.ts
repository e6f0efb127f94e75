/**
 * Test fixture: a minimal user-defined primitive (one shared counter word), to
 * show that any class with a `handle` and a static `from` can be registered
 * with `registerKind` and then crosses Comlink and Piscina like sabre's own.
 */
import { add, load } from '../src/memory/atomics.js';
import { createRegion, openRegion, Region, type Handle, type RegionSpec } from '../src/memory/region.js';

type TallyHandle = Handle<'test.Tally', Record<string, never>>;
const VALUE = 0;
const SPEC: RegionSpec<'test.Tally', Record<string, never>> = { kind: 'test.Tally', version: 1, bodyBytes: () => 4 };

export class Tally {
  static readonly kind = SPEC.kind;
  readonly handle: TallyHandle;
  private readonly words: Int32Array;
  constructor(region: Region<'test.Tally', Record<string, never>> = createRegion(SPEC, {})) {
    this.handle = region.handle;
    this.words = region.i32(0, 1);
  }
  static from(handle: TallyHandle): Tally {
    return new Tally(openRegion(SPEC, handle, () => ({})));
  }
  add(n: number): number {
    return add(this.words, VALUE, n) + n;
  }
  get value(): number {
    return load(this.words, VALUE);
  }
}

const SECRET: RegionSpec<'test.Secret', Record<string, never>> = { kind: 'test.Secret', version: 1, bodyBytes: () => 4 };

/** Another kind, which only the worker registers: the main thread cannot re-open it. */
export class Secret {
  static readonly kind = SECRET.kind;
  constructor(readonly handle: Handle<'test.Secret', Record<string, never>> = createRegion(SECRET, {}).handle) {}
  static from(handle: Handle<'test.Secret', Record<string, never>>): Secret {
    return new Secret(openRegion(SECRET, handle, () => ({})).handle);
  }
}
