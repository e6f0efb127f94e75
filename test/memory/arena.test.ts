import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { CACHE_LINE_BYTES } from '../../src/memory/cache-line.js';
import { Mutex } from '../../src/sync/mutex.js';
import { Remote } from '../threads/remote.js';
import { expectCode, thrown } from '../helpers/errors.js';

/** Asserts that [offset, offset + size) ranges do not overlap. */
function expectDisjoint(blocks: { offset: number; size: number }[]): void {
  const sorted = [...blocks].sort((x, y) => x.offset - y.offset);
  for (let i = 1; i < sorted.length; i++) {
    expect(sorted[i]!.offset, `block at ${sorted[i]!.offset} overlaps the one at ${sorted[i - 1]!.offset}`).toBeGreaterThanOrEqual(
      sorted[i - 1]!.offset + sorted[i - 1]!.size,
    );
  }
}

describe('SharedArena', () => {
  it('allocates 128-byte aligned, disjoint blocks past its own header', () => {
    const arena = new SharedArena({ byteLength: 4096 });
    const sizes = [1, 8, 127, 128, 129, 300, 64];
    const blocks = sizes.map((size) => ({ offset: arena.allocate(size).byteOffset, size }));
    for (const { offset } of blocks) {
      expect(offset % CACHE_LINE_BYTES).toBe(0);
      expect(offset).toBeGreaterThanOrEqual(128); // never inside the arena's own header and control word
    }
    expectDisjoint(blocks);
    // Each block takes whole cache lines, so two blocks never share one.
    expectDisjoint(blocks.map(({ offset, size }) => ({ offset, size: Math.ceil(size / 128) * 128 })));
    expect(arena.allocate(1).buffer).toBe(arena.handle.buffer);
  });

  it('throws CapacityError when full, takes nothing, and still serves smaller allocations', () => {
    const arena = new SharedArena({ byteLength: 1024 });
    expect(arena.available).toBeGreaterThanOrEqual(1024);
    // byteLength 1024 promises 8 whole blocks.
    arena.allocate(512);
    const before = arena.available;
    const e = thrown(() => arena.allocate(513));
    expect(isSabreError(e, ErrorCode.CAPACITY)).toBe(true);
    expect((e as Error).message).toMatch(/640 bytes requested/);
    expect(arena.available).toBe(before);
    const small = arena.allocate(512); // exactly what is left still fits
    expect(small.byteOffset % 128).toBe(0);
    expect(
      isSabreError(
        thrown(() => arena.allocate(1)),
        ErrorCode.CAPACITY,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => new Mutex({ arena })),
        ErrorCode.CAPACITY,
      ),
    ).toBe(true);
  });

  it('refuses bad sizes with InvalidArgumentError', () => {
    const arena = new SharedArena({ byteLength: 1024 });
    for (const bad of [0, -1, 1.5, NaN, Infinity, '8']) {
      expect(
        isSabreError(
          thrown(() => arena.allocate(bad as number)),
          ErrorCode.INVALID_ARG,
        ),
        String(bad),
      ).toBe(true);
    }
    for (const bad of [0, -128, 2 ** 31, 'x']) {
      expect(
        isSabreError(
          thrown(() => new SharedArena({ byteLength: bad as number })),
          ErrorCode.INVALID_ARG,
        ),
        String(bad),
      ).toBe(true);
    }
  });

  it('refuses a misspelled or missing option, naming it', () => {
    expectCode(
      () => new SharedArena({ bytelength: 1024 } as never),
      ErrorCode.INVALID_ARG,
      /new SharedArena\(options\): unknown option "bytelength"; did you mean "byteLength"\?/,
    );
    expectCode(() => new SharedArena({} as never), ErrorCode.INVALID_ARG, /new SharedArena\(options\): byteLength is required/);
    expectCode(
      () => SharedArena.byteLength({ byteLength: 0 }),
      ErrorCode.INVALID_ARG,
      /byteLength must be an integer in \[1, \d+\], got 0/,
    );
    expectCode(
      () => SharedArena.from({ ...new SharedArena({ byteLength: 256 }).handle, options: { byteLength: 256, extra: 1 } } as never),
      ErrorCode.HANDLE,
      /unknown option "extra"/,
    );
  });

  it('takes `arena` as every primitive does: an arena inside another, allocating from its own part of the buffer', () => {
    const outer = new SharedArena({ byteLength: 4096 });
    const inner = new SharedArena({ byteLength: 1024, arena: outer });
    expect(inner.handle.buffer).toBe(outer.handle.buffer);
    expect(outer.available).toBe(4096 - Math.ceil(SharedArena.byteLength({ byteLength: 1024 }) / 128) * 128); // whole blocks
    const start = inner.handle.byteOffset,
      end = start + inner.handle.byteLength;
    const blocks = Array.from({ length: 8 }, () => inner.allocate(128).byteOffset);
    for (const at of blocks) {
      expect(at).toBeGreaterThan(start);
      expect(at + 128).toBeLessThanOrEqual(end);
    }
    expect(
      isSabreError(
        thrown(() => inner.allocate(1)),
        ErrorCode.CAPACITY,
      ),
    ).toBe(true);
    expect(SharedArena.from(structuredClone(inner.handle)).available).toBe(0);
    const after = outer.allocate(128).byteOffset; // the outer arena goes on past the inner one
    expect(after).toBeGreaterThanOrEqual(end);
  });

  it('hosts primitives: each in its own lines of the one buffer, each re-openable', () => {
    const arena = new SharedArena({ byteLength: 2048 });
    const m1 = new Mutex({ arena });
    const m2 = new Mutex({ arena });
    const clock = new ManualClock({ arena, startMs: 3 });
    const handles = [m1.handle, m2.handle, clock.handle];
    for (const h of handles) {
      expect(h.buffer).toBe(arena.handle.buffer);
      expect(h.byteOffset % 128).toBe(0);
    }
    expectDisjoint(handles.map((h) => ({ offset: h.byteOffset, size: h.byteLength })));
    m1.lock();
    expect(Mutex.from(m1.handle).isLocked).toBe(true);
    expect(Mutex.from(m2.handle).isLocked).toBe(false);
    m1.unlock();
    expect(ManualClock.from(clock.handle).now()).toBe(3);
    // The arena re-opened from its handle continues after them.
    const next = SharedArena.from(structuredClone(arena.handle)).allocate(1).byteOffset;
    expect(next).toBeGreaterThanOrEqual(Math.max(...handles.map((h) => h.byteOffset + h.byteLength)));
  });

  describe('across threads', () => {
    let w: Remote;
    beforeAll(async () => {
      w = await Remote.start();
    });
    afterAll(() => w?.stop());

    it('an arena re-opened in a worker allocates concurrently with main, without overlap', async () => {
      const arena = new SharedArena({ byteLength: 128 * 1200 });
      const workerSizes = Array.from({ length: 150 }, (_, i) => 1 + ((i * 37) % 300));
      const inWorker = w.call<number[]>('allocate', { arena: arena.handle, sizes: workerSizes });
      const mainBlocks: { offset: number; size: number }[] = [];
      for (let i = 0; i < 150; i++) {
        const size = 1 + ((i * 53) % 200);
        mainBlocks.push({ offset: arena.allocate(size).byteOffset, size });
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      const workerOffsets = await inWorker;
      const all = [...mainBlocks, ...workerOffsets.map((offset, i) => ({ offset, size: workerSizes[i]! }))];
      for (const { offset } of all) expect(offset % 128).toBe(0);
      expectDisjoint(all);
      // Full in every thread alike.
      const rest = arena.available;
      expect(
        isSabreError(await w.call('allocate', { arena: arena.handle, sizes: [rest + 1] }).catch((e: unknown) => e), ErrorCode.CAPACITY),
      ).toBe(true);
    });

    it('a forged arena handle is a HandleError in the worker too', async () => {
      const arena = new SharedArena({ byteLength: 1024 });
      const e = await w.call('allocate', { arena: { ...arena.handle, version: 7 }, sizes: [8] }).catch((x: unknown) => x);
      expect(isSabreError(e, ErrorCode.HANDLE)).toBe(true);
    });
  });

  it('byteLengthFor tells what an arena needs: 1,000 Mutexes fit exactly, and the next one is a CapacityError', () => {
    const n = 1000;
    expect(Mutex.byteLength()).toBeLessThan(CACHE_LINE_BYTES); // the lie this guards against: n × byteLength is too small
    const arena = new SharedArena({ byteLength: SharedArena.byteLengthFor(Array<number>(n).fill(Mutex.byteLength())) });
    const mutexes = Array.from({ length: n }, () => new Mutex({ arena }));
    expect(mutexes.every((m) => m.tryLock())).toBe(true);
    expect(arena.available).toBe(0);
    expectCode(() => new Mutex({ arena }), ErrorCode.CAPACITY, /arena is full/);
    expect(SharedArena.byteLengthFor([1, 128, 129])).toBe(128 + 128 + 256);
    expectCode(() => SharedArena.byteLengthFor([0]), ErrorCode.INVALID_ARG, /each byte length/);
    expectCode(() => SharedArena.byteLengthFor(48 as never), ErrorCode.INVALID_ARG, /must be an array/);
  });
});
