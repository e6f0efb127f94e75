import { inspect } from 'node:util';
// Regressions found by review of the foundation: each failed before its fix.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { ErrorCode, isSabreError } from '../src/errors.js';
import { SharedArena } from '../src/memory/arena.js';
import { Mutex } from '../src/sync/mutex.js';
import { ThreadRegistry } from '../src/threads/registry.js';
import { thrown } from './helpers/errors.js';

describe('foundation regressions', () => {
  it('Mutex: a bad timeout is InvalidArgumentError even when the mutex is free, and nothing is taken', async () => {
    for (const bad of [NaN, -1, 'x', { timeoutMs: NaN }]) {
      const m = new Mutex();
      expect(
        isSabreError(
          thrown(() => m.lock(bad as number)),
          ErrorCode.INVALID_ARG,
        ),
        `lock(${inspect(bad)})`,
      ).toBe(true);
      expect(m.isLocked).toBe(false);
      const e = await m.lockAsync({ timeoutMs: bad as number }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isSabreError(e, ErrorCode.INVALID_ARG), `lockAsync timeout ${inspect(bad)}`).toBe(true);
      const r = await m
        .runExclusive(() => 1, { timeoutMs: bad as number })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      expect(isSabreError(r, ErrorCode.INVALID_ARG), `runExclusive timeout ${inspect(bad)}`).toBe(true);
      expect(m.isLocked).toBe(false);
    }
  });

  it('ManualClock: time never wraps past the 64-bit nanosecond range', () => {
    const clock = new ManualClock();
    expect(
      isSabreError(
        thrown(() => clock.advance(1e13)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(clock.now()).toBe(0);
    expect(
      isSabreError(
        thrown(() => clock.set(1e300)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(clock.now()).toBe(0);
    clock.set(9e12);
    expect(
      isSabreError(
        thrown(() => clock.advance(9e12)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(clock.now()).toBe(9e12);
  });

  it("ThreadRegistry.isAlive(-1) (an exited Worker's threadId) is false; a non-integer is InvalidArgumentError", () => {
    expect(ThreadRegistry.current.isAlive(-1)).toBe(false);
    expect(
      isSabreError(
        thrown(() => ThreadRegistry.current.isAlive(1.5)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
  });

  it('SharedArena.available is exactly what can still be allocated', () => {
    const arena = new SharedArena({ byteLength: 1024 });
    arena.allocate(512);
    expect(arena.available).toBe(512);
    expect(() => arena.allocate(arena.available)).not.toThrow();
    expect(arena.available).toBe(0);
    expect(
      isSabreError(
        thrown(() => arena.allocate(1)),
        ErrorCode.CAPACITY,
      ),
    ).toBe(true);
  });
});
