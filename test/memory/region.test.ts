import { describe, expect, it } from 'vitest';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { createRegion, HEADER_BYTES, kindId, openRegion, regionBytes, type Handle, type RegionSpec } from '../../src/memory/region.js';
import { Mutex } from '../../src/sync/mutex.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { InvalidArgumentError } from '../../src/errors.js';

/** A test kind whose options do not change its size, so only the options hash can catch a mutation. */
interface TagOptions {
  readonly tag: string;
  readonly words: number;
}
const TAG: RegionSpec<'test.Tagged', TagOptions> = { kind: 'test.Tagged', version: 3, bodyBytes: (o) => o.words * 4 };
function checkTag(raw: unknown): TagOptions {
  const o = raw as Partial<TagOptions> | null;
  if (typeof o !== 'object' || o === null || typeof o.tag !== 'string' || !Number.isInteger(o.words)) {
    throw new InvalidArgumentError('expected { tag, words }');
  }
  return { tag: o.tag, words: o.words! };
}

function handleError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return 'no error';
}

describe('handles', () => {
  it('are plain, frozen, structured-cloneable and re-open the same shared state', () => {
    const clock = new ManualClock({ startMs: 5 });
    const h = clock.handle;
    expect(Object.keys(h).sort()).toEqual(['buffer', 'byteLength', 'byteOffset', 'kind', 'options', 'threads', 'version']);
    expect(h.threads).toBe(ThreadRegistry.current.buffer); // the creator's thread registry, which openers join
    expect(Object.isFrozen(h)).toBe(true);
    expect(h).toMatchObject({ kind: 'sabre.ManualClock', version: 1, byteOffset: 0, byteLength: ManualClock.byteLength() });
    const cloned = structuredClone(h);
    expect(cloned).not.toBe(h);
    const again = ManualClock.from(cloned); // a cloned SAB shares its memory
    again.advance(10);
    expect(clock.now()).toBe(15);
    expect(ManualClock.from(again.handle).now()).toBe(15);
  });

  it('re-open a Mutex to the same lock', () => {
    const m = new Mutex();
    const other = Mutex.from(structuredClone(m.handle));
    expect(other.handle).toEqual(m.handle);
    m.lock();
    expect(other.isLocked).toBe(true);
    other.unlock(); // same thread, same lock
    expect(m.isLocked).toBe(false);
  });

  it('createRegion/openRegion round-trip with options, and record kind, version, size and options in the header', () => {
    const r = createRegion(TAG, { tag: 'a', words: 3 });
    expect(r.handle.byteLength).toBe(regionBytes(TAG, { tag: 'a', words: 3 }));
    expect(r.handle.byteLength).toBe(HEADER_BYTES + 16); // 12 body bytes rounded up to 8
    const header = new Int32Array(r.buffer, 0, 4);
    expect(header[1]).toBe(kindId('test.Tagged'));
    expect(header[2]).toBe(3);
    expect(header[3]).toBe(r.handle.byteLength);
    const opened = openRegion(TAG, structuredClone(r.handle), checkTag);
    expect(opened.options).toEqual({ tag: 'a', words: 3 });
    opened.i32(0, 3)[2] = 7;
    expect(r.i32(0, 3)[2]).toBe(7);
    expect(r.bodyOffset % 8).toBe(0);
  });

  it('a region has one random id, the same through every clone of its handle, in every thread', () => {
    const spec: RegionSpec<'test.Id', Record<string, never>> = { kind: 'test.Id', version: 1, bodyBytes: () => 8 };
    const a = createRegion(spec, {});
    const b = createRegion(spec, {});
    const reopened = openRegion(spec, structuredClone(a.handle), () => ({}));
    expect(reopened.buffer).not.toBe(a.buffer); // a clone is another SharedArrayBuffer object...
    expect(reopened.id).toBe(a.id); // ...of the same region
    expect(b.id).not.toBe(a.id);
    expect(a.id).toMatch(/^[0-9a-z]+\.[0-9a-z]+$/);
  });

  it('byteLength(options) is what a primitive takes', () => {
    expect(new Mutex().handle.byteLength).toBe(Mutex.byteLength());
    expect(new ManualClock().handle.byteLength).toBe(ManualClock.byteLength());
    expect(new SharedArena({ byteLength: 1000 }).handle.byteLength).toBe(SharedArena.byteLength({ byteLength: 1000 }));
    expect(SharedArena.byteLength({ byteLength: 1000 })).toBeGreaterThanOrEqual(1000 + HEADER_BYTES);
    expect(SharedArena.byteLength({ byteLength: 129 })).toBe(SharedArena.byteLength({ byteLength: 256 }));
    for (const bad of [0, -1, 1.5, NaN, '8', undefined]) {
      expect(
        isSabreError(
          handleError(() => SharedArena.byteLength({ byteLength: bad as number })),
          ErrorCode.INVALID_ARG,
        ),
      ).toBe(true);
    }
  });
});

describe('forged handles are HandleError', () => {
  const m = new Mutex();
  const arena = new SharedArena({ byteLength: 1024 });
  const inArena = new Mutex({ arena });
  const tagged = createRegion(TAG, { tag: 'a', words: 2 });
  const h = m.handle;

  const forgeries: [string, () => unknown][] = [
    ['null', () => Mutex.from(null as never)],
    ['a number', () => Mutex.from(42 as never)],
    ['a string', () => Mutex.from('sabre.Mutex' as never)],
    ['a plain object', () => Mutex.from({} as never)],
    ['a handle without buffer', () => Mutex.from({ kind: h.kind, version: 1, options: {} } as never)],
    ['another kind (a clock handle)', () => Mutex.from(new ManualClock().handle as never)],
    ['another kind (a mutex handle to a clock)', () => ManualClock.from(h as never)],
    [
      'the kind renamed on a mutex region',
      () => ManualClock.from({ ...h, kind: 'sabre.ManualClock', byteLength: ManualClock.byteLength() } as never),
    ],
    ['another version', () => Mutex.from({ ...h, version: 2 })],
    ['version as a string', () => Mutex.from({ ...h, version: '1' } as never)],
    ['a non-shared ArrayBuffer', () => Mutex.from({ ...h, buffer: new ArrayBuffer(h.buffer.byteLength) } as never)],
    ['a typed array as buffer', () => Mutex.from({ ...h, buffer: new Int32Array(h.buffer) } as never)],
    ['offset past the end', () => Mutex.from({ ...h, byteOffset: h.buffer.byteLength })],
    ['negative offset', () => Mutex.from({ ...h, byteOffset: -8 })],
    ['unaligned offset', () => Mutex.from({ ...h, byteOffset: 4 })],
    ['NaN offset', () => Mutex.from({ ...h, byteOffset: NaN })],
    ['length past the end', () => Mutex.from({ ...h, byteLength: h.byteLength + 8 })],
    ['length shorter than the header', () => Mutex.from({ ...h, byteLength: 16 })],
    ['a smaller length inside the buffer', () => Mutex.from({ ...h, byteLength: h.byteLength - 8 })],
    ['wrong magic (a fresh buffer of the same size)', () => Mutex.from({ ...h, buffer: new SharedArrayBuffer(h.buffer.byteLength) })],
    [
      'wrong magic (corrupted)',
      () => {
        const copy = new SharedArrayBuffer(h.buffer.byteLength);
        new Uint8Array(copy).set(new Uint8Array(h.buffer));
        new Int32Array(copy)[0]! ^= 1;
        return Mutex.from({ ...h, buffer: copy });
      },
    ],
    ['threads that is null', () => Mutex.from({ ...h, threads: null } as never)],
    ['threads that is not a SharedArrayBuffer', () => Mutex.from({ ...h, threads: new ArrayBuffer(8) } as never)],
    [
      'threads that is a shared buffer but no thread registry',
      () => Mutex.from({ ...h, threads: new SharedArrayBuffer(h.threads!.byteLength) }),
    ],
    ['threads that is a mutex region', () => Mutex.from({ ...h, threads: h.buffer })],
    ['an arena offset with no region', () => Mutex.from({ ...inArena.handle, byteOffset: inArena.handle.byteOffset + 128 })],
    ['mutated options (extra key on a mutex)', () => Mutex.from({ ...h, options: { spin: 1 } })],
    ['mutated options (not an object)', () => Mutex.from({ ...h, options: 'x' })],
    ['mutated options (arena size)', () => SharedArena.from({ ...arena.handle, options: { byteLength: 2048 } })],
    ['mutated options (same size, other tag)', () => openRegion(TAG, { ...tagged.handle, options: { tag: 'b', words: 2 } }, checkTag)],
    ['mutated options (rejected by the kind)', () => openRegion(TAG, { ...tagged.handle, options: { tag: 1 } }, checkTag)],
  ];

  it.each(forgeries)('%s', (_what, forge) => {
    const e = handleError(forge);
    expect(isSabreError(e, ErrorCode.HANDLE), String(e)).toBe(true);
    expect((e as Error).message).not.toBe('');
  });

  it('none of them touched the genuine regions', () => {
    expect(Mutex.from(h).isLocked).toBe(false);
    expect(Mutex.from(inArena.handle).tryLock()).toBe(true);
    inArena.unlock();
    expect(openRegion(TAG, tagged.handle, checkTag).options).toEqual({ tag: 'a', words: 2 });
    const forged: Handle = { ...tagged.handle, options: { tag: 'a', words: 2 } };
    expect(() => openRegion(TAG, forged, checkTag)).not.toThrow(); // equal options are the same handle
  });

  it("a handle without threads opens (its holders are looked up in the opener's registry); a cloned registry buffer is the same registry", () => {
    const { threads: _threads, ...older } = h;
    expect(Mutex.from(older).handle.threads).toBe(ThreadRegistry.current.buffer);
    expect(Mutex.from({ ...h, threads: structuredClone(h.threads) }).isLocked).toBe(false);
  });
});
