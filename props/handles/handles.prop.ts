/**
 * Invariants of handles (DESIGN principle 2):
 * 1. Any structured-clone trip of a handle (structuredClone, or postMessage to
 *    a worker and back) reopens the same primitive: a write through one
 *    opening is seen through the other, for Mutex, SharedArena, ManualClock,
 *    AtomicCounter (32 and 64 bits) and StripedCounter.
 * 2. Any mutated handle (kind, version, buffer replaced by a non-shared
 *    ArrayBuffer or another SharedArrayBuffer, offset or length shifted by a
 *    non-zero amount, options changed, a field missing, not an object) is
 *    refused with a HandleError (`ERR_HANDLE`), before any shared word is used.
 *
 * Meta-test: the mutation property against an opener that trusts the handle
 * (props/handles/unchecked-open.ts) must fail.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/handles/handles.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { isSabreError } from '../../src/errors.js';
import type { Handle } from '../../src/memory/region.js';
import { closeThreads, propertyParameters, runThreads, warmThreads } from '../../src/testing/index.js';
import { seedArb } from '../arbitraries.js';
import { PRIMITIVE_NAMES, primitive, type PrimitiveName } from './primitives.js';
import type { ReopenItem } from './reopen.js';
import { uncheckedOpen } from './unchecked-open.js';

const program = new URL('./reopen.ts', import.meta.url);
const nameArb = fc.constantFrom(...PRIMITIVE_NAMES);
const valueArb = fc.integer({ min: 1, max: 500 });

beforeAll(() => warmThreads(1));
afterAll(closeThreads);

describe('handles: a clone trip reopens the same primitive', () => {
  test.prop([nameArb, valueArb, valueArb], propertyParameters({ numRuns: 100, soakRuns: 5000 }))(
    'structuredClone: writes through either opening are seen through the other',
    (name, v, w) => {
      const kind = primitive(name);
      const a = kind.make();
      const b = kind.from(structuredClone(kind.handle(a)));
      const before = kind.read(a);
      kind.write(b, v);
      expect(kind.read(a)).toEqual(kind.read(b));
      expect(kind.read(a)).not.toEqual(before);
      kind.write(a, w);
      expect(kind.read(b)).toEqual(kind.read(a));
    },
  );

  test.prop(
    [seedArb, fc.array(fc.tuple(nameArb, valueArb), { minLength: 1, maxLength: 8 })],
    propertyParameters({ numRuns: 25, soakRuns: 500 }),
  )('postMessage to a worker and back: the worker writes, both ends see it', async (seed, items) => {
    const originals = items.map(([name]) => primitive(name).make());
    const before = items.map(([name], i) => primitive(name).read(originals[i]));
    const shared: ReopenItem[] = items.map(([name, v], i) => ({ name, v, handle: primitive(name).handle(originals[i]) }));
    const { results } = await runThreads<ReopenItem[], null, Handle[]>({ threads: [null], program, shared, seed });
    const returned = results[0]!;
    items.forEach(([name], i) => {
      const kind = primitive(name);
      const back = kind.from(returned[i]!);
      expect(kind.read(back)).toEqual(kind.read(originals[i]));
      expect(kind.read(back)).not.toEqual(before[i]);
    });
  });
});

// ---- mutations ------------------------------------------------------------

type Mutation =
  | { readonly field: 'kind'; readonly value: unknown }
  | { readonly field: 'version'; readonly value: unknown }
  | { readonly field: 'buffer'; readonly value: 'array-buffer' | 'fresh-shared' | 'other-primitive' | 'typed-array' }
  | { readonly field: 'byteOffset' | 'byteLength'; readonly delta: number }
  | { readonly field: 'options'; readonly value: 'extra-key' | 'not-an-object' | 'changed-value' }
  | { readonly field: 'missing'; readonly key: keyof Handle }
  | { readonly field: 'not-an-object'; readonly value: unknown };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    field: fc.constant('kind' as const),
    value: fc.oneof(
      fc.string(),
      fc.constantFrom(
        'sabre.Mutex',
        'sabre.SharedArena',
        'sabre.ManualClock',
        'sabre.AtomicCounter',
        'sabre.StripedCounter',
        'sabre.Other',
      ),
      fc.integer(),
      fc.constant(undefined),
    ),
  }),
  fc.record({ field: fc.constant('version' as const), value: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)) }),
  fc.record({
    field: fc.constant('buffer' as const),
    value: fc.constantFrom('array-buffer' as const, 'fresh-shared' as const, 'other-primitive' as const, 'typed-array' as const),
  }),
  fc.record({
    field: fc.constantFrom('byteOffset' as const, 'byteLength' as const),
    delta: fc.oneof(fc.integer({ min: -4096, max: 4096 }), fc.constantFrom(0.5, -0.25, 1e9, Number.NaN, Infinity)).filter((d) => d !== 0),
  }),
  fc.record({
    field: fc.constant('options' as const),
    value: fc.constantFrom('extra-key' as const, 'not-an-object' as const, 'changed-value' as const),
  }),
  fc.record({
    field: fc.constant('missing' as const),
    key: fc.constantFrom<keyof Handle>('kind', 'version', 'buffer', 'byteOffset', 'byteLength', 'options'),
  }),
  fc.record({
    field: fc.constant('not-an-object' as const),
    value: fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer(), fc.string(), fc.boolean()),
  }),
);

/** Options that differ from `o` for the primitive's kind (a value a real handle could carry, but not this one). */
function changedOptions(name: PrimitiveName, o: Record<string, unknown>): unknown {
  switch (name) {
    case 'counter32':
      return { ...o, bits: 64 };
    case 'counter64':
      return { ...o, bits: 32 };
    case 'striped':
      return { ...o, stripes: (o.stripes as number) * 2 };
    case 'arena':
      return { ...o, byteLength: (o.byteLength as number) + 128 };
    case 'mutex':
    case 'clock':
      return { bits: 32 };
  }
}

function mutate(name: PrimitiveName, handle: Handle, m: Mutation): unknown {
  const h = { ...structuredClone(handle) } as Record<string, unknown>;
  switch (m.field) {
    case 'kind':
      if (m.value === handle.kind) return { ...h, kind: `${handle.kind}X` };
      return { ...h, kind: m.value };
    case 'version':
      return { ...h, version: m.value === handle.version ? handle.version + 1 : m.value };
    case 'buffer': {
      const length = handle.buffer.byteLength;
      if (m.value === 'array-buffer') return { ...h, buffer: new ArrayBuffer(length) };
      if (m.value === 'fresh-shared') return { ...h, buffer: new SharedArrayBuffer(length) };
      if (m.value === 'typed-array') return { ...h, buffer: new Int32Array(handle.buffer) };
      const other = primitive(name === 'mutex' ? 'clock' : 'mutex');
      return { ...h, buffer: other.handle(other.make()).buffer };
    }
    case 'byteOffset':
    case 'byteLength':
      return { ...h, [m.field]: (h[m.field] as number) + m.delta };
    case 'options':
      if (m.value === 'extra-key') return { ...h, options: { ...(h.options as object), extra: 1 } };
      if (m.value === 'not-an-object') return { ...h, options: 42 };
      return { ...h, options: changedOptions(name, h.options as Record<string, unknown>) };
    case 'missing': {
      const { [m.key]: _dropped, ...rest } = h;
      return rest;
    }
    case 'not-an-object':
      return m.value;
  }
}

type Opener = (name: PrimitiveName, handle: unknown) => unknown;
const sabreFrom: Opener = (name, handle) => primitive(name).from(handle as Handle);

const mutatedIsRefused = (open: Opener) => (name: PrimitiveName, m: Mutation) => {
  const handle = primitive(name).handle(primitive(name).make());
  let error: unknown;
  try {
    open(name, mutate(name, handle, m));
  } catch (e) {
    error = e;
  }
  expect(isSabreError(error, 'ERR_HANDLE'), `expected a HandleError, got ${String(error)}`).toBe(true);
  open(name, handle); // and the unmutated handle still opens
};

describe('handles: a mutated handle is a HandleError', () => {
  test.prop([nameArb, mutationArb], propertyParameters({ numRuns: 300, soakRuns: 20_000 }))(
    'P.from(mutated) throws ERR_HANDLE',
    mutatedIsRefused(sabreFrom),
  );

  // Expected detection: every run fails (the twin never throws a HandleError);
  // the first case is enough.
  it('meta: an opener that trusts its handle accepts mutated ones', () => {
    const details = fc.check(
      fc.property(
        nameArb,
        mutationArb,
        mutatedIsRefused((_name, handle) => uncheckedOpen(handle)),
      ),
      { numRuns: 50, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  });
});
