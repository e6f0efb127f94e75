import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../src/clock.js';
import { ErrorCode, isSabreError } from '../src/errors.js';
import { Remote } from './threads/remote.js';
import { thrown } from './helpers/errors.js';
import { elapse } from './helpers/wait.js';

describe('systemClock', () => {
  it('is monotonic and moves', async () => {
    let last = systemClock.now();
    for (let i = 0; i < 10_000; i++) {
      const t = systemClock.now();
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
    }
    const before = systemClock.now();
    await elapse(15); // time itself is under test: a slow machine only lets more of it pass
    expect(systemClock.now()).toBeGreaterThan(before);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(systemClock)).toBe(true);
  });
});

describe('ManualClock', () => {
  it('starts where told and moves only when told', () => {
    expect(new ManualClock().now()).toBe(0);
    const clock = new ManualClock({ startMs: 100 });
    expect(clock.now()).toBe(100);
    expect(clock.now()).toBe(100);
    expect(clock.advance(25)).toBe(125);
    expect(clock.advance(0)).toBe(125);
    expect(clock.advance(0.5)).toBe(125.5);
    clock.set(200);
    expect(clock.now()).toBe(200);
    clock.set(200); // the same time is not backwards
    expect(clock.now()).toBe(200);
  });

  it('never goes backwards', () => {
    const clock = new ManualClock({ startMs: 50 });
    expect(
      isSabreError(
        thrown(() => clock.set(49.999)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => clock.advance(-1)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(clock.now()).toBe(50);
  });

  it('refuses bad input with InvalidArgumentError and keeps its time', () => {
    const clock = new ManualClock({ startMs: 1 });
    for (const bad of [NaN, Infinity, -Infinity, '5', undefined, null, 1n]) {
      expect(
        isSabreError(
          thrown(() => clock.advance(bad as number)),
          ErrorCode.INVALID_ARG,
        ),
        `advance(${String(bad)})`,
      ).toBe(true);
      expect(
        isSabreError(
          thrown(() => clock.set(bad as number)),
          ErrorCode.INVALID_ARG,
        ),
        `set(${String(bad)})`,
      ).toBe(true);
      if (bad !== undefined && bad !== null) {
        // absent startMs (undefined, or null as ??) means 0
        expect(
          isSabreError(
            thrown(() => new ManualClock({ startMs: bad as number })),
            ErrorCode.INVALID_ARG,
          ),
          `startMs ${String(bad)}`,
        ).toBe(true);
      }
    }
    expect(
      isSabreError(
        thrown(() => new ManualClock('x' as never)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(clock.now()).toBe(1);
  });

  it('re-opens only from a genuine handle', () => {
    const clock = new ManualClock();
    expect(
      isSabreError(
        thrown(() => ManualClock.from({ ...clock.handle, options: { startMs: 1 } })),
        ErrorCode.HANDLE,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => ManualClock.from({ ...clock.handle, version: 2 })),
        ErrorCode.HANDLE,
      ),
    ).toBe(true);
  });

  describe('shared with a worker', () => {
    let w: Remote;
    beforeAll(async () => {
      w = await Remote.start();
    });
    afterAll(() => w?.stop());

    it("one time for both threads: each sees the other's advance and set", async () => {
      const clock = new ManualClock({ startMs: 1000 });
      expect(await w.call('clockNow', { clock: clock.handle })).toBe(1000);
      clock.advance(5);
      expect(await w.call('clockNow', { clock: clock.handle })).toBe(1005);
      expect(await w.call('clockAdvance', { clock: clock.handle, ms: 20 })).toBe(1025);
      expect(clock.now()).toBe(1025);
      clock.set(2000);
      expect(await w.call('clockNow', { clock: clock.handle })).toBe(2000);
      const e = await w.call('clockAdvance', { clock: clock.handle, ms: -1 }).catch((x: unknown) => x);
      expect(isSabreError(e, ErrorCode.INVALID_ARG)).toBe(true);
      expect(clock.now()).toBe(2000);
    });

    it('concurrent advances from two threads all count', async () => {
      const clock = new ManualClock();
      const inWorker = Promise.all(Array.from({ length: 200 }, () => w.call('clockAdvance', { clock: clock.handle, ms: 1 })));
      for (let i = 0; i < 200; i++) clock.advance(1);
      await inWorker;
      expect(clock.now()).toBe(400);
    });
  });
});
