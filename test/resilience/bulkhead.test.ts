import { afterEach, describe, expect, it, vi } from 'vitest';
import { Bulkhead, type BulkheadHandle } from '../../src/resilience/bulkhead.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';

/** A call that runs until `release()`; `started` resolves when it runs. */
function held() {
  let release!: () => void;
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const fn = () => {
    markStarted();
    return new Promise<string>((r) => (release = () => r('done')));
  };
  return { fn, started, release: () => release() };
}

describe('Bulkhead', () => {
  it('runs at most maxConcurrent at once, queues up to maxQueue, refuses beyond', async () => {
    const b = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const [a, c, q] = [held(), held(), held()];
    const pa = b.execute(a.fn),
      pc = b.execute(c.fn),
      pq = b.execute(q.fn);
    await Promise.all([a.started, c.started]);
    expect(b.stats()).toEqual({ running: 2, queued: 1, available: 0 });
    expectCode(await rejected(b.execute(() => 'never runs')), ErrorCode.BULKHEAD_FULL, /bulkhead full: 2 call\(s\) running and 1 waiting/);
    a.release();
    await q.started; // the queued call takes the freed slot
    expect(await pa).toBe('done');
    c.release();
    q.release();
    expect(await Promise.all([pc, pq])).toEqual(['done', 'done']);
    expect(b.stats()).toEqual({ running: 0, queued: 0, available: 2 });
  });

  it('maxQueue 0 (the default) refuses at once when every slot is taken', async () => {
    const b = new Bulkhead({ maxConcurrent: 1 });
    const h = held();
    const p = b.execute(h.fn);
    expectCode(await rejected(b.execute(() => 1)), ErrorCode.BULKHEAD_FULL);
    h.release();
    await p;
    expect(await b.execute(() => 2)).toBe(2);
  });

  it('a slot is freed when fn throws, rejects, or returns a value', async () => {
    const b = new Bulkhead({ maxConcurrent: 1 });
    expect(
      await rejected(
        b.execute(() => {
          throw 'sync';
        }),
      ),
    ).toBe('sync');
    expect(await rejected(b.execute(() => Promise.reject(undefined)))).toBeUndefined();
    expect(await b.execute(() => 3)).toBe(3);
    expect(b.stats().available).toBe(1);
  });

  it('a queued call can time out or be aborted; its queue place is given back', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const h = held();
    const p = b.execute(h.fn);
    await h.started;
    expectCode(await rejected(b.execute(() => 1, { timeoutMs: 5 })), ErrorCode.TIMEOUT);
    const ac = new AbortController();
    const queued = b.execute(() => 1, { signal: ac.signal });
    ac.abort();
    expectCode(await rejected(queued), ErrorCode.ABORTED);
    expect(b.stats()).toEqual({ running: 1, queued: 0, available: 0 });
    h.release();
    await p;
  });

  it('executeSync runs in a slot and refuses when full', async () => {
    const b = new Bulkhead({ maxConcurrent: 1 });
    expect(b.executeSync(() => 'sync')).toBe('sync');
    const h = held();
    const p = b.execute(h.fn);
    expectCode(() => b.executeSync(() => 1, 0), ErrorCode.BULKHEAD_FULL);
    h.release();
    await p;
    expectCode(() => b.executeSync(() => Promise.resolve(1) as never), ErrorCode.INVALID_ARG, /use execute/);
    expect(b.stats().available).toBe(1);
  });

  it('from(handle) shares the slots; it lives in an arena', async () => {
    const arena = new SharedArena({ byteLength: 64 * 1024 });
    const b = new Bulkhead({ maxConcurrent: 1, arena });
    expect(b.handle.buffer).toBe(arena.handle.buffer);
    expect(b.handle.byteLength).toBe(Bulkhead.byteLength({ maxConcurrent: 1 }));
    const other = Bulkhead.from(structuredClone(b.handle));
    const h = held();
    const p = other.execute(h.fn);
    expectCode(await rejected(b.execute(() => 1)), ErrorCode.BULKHEAD_FULL);
    h.release();
    await p;
  });

  describe('misuse: a typed error, and no slot is taken or lost', () => {
    it.each([
      ['maxConcurrent 0', { maxConcurrent: 0 }, /maxConcurrent must be an integer in \[1, 2147483647\], got 0/],
      ['a negative maxConcurrent', { maxConcurrent: -2 }, /got -2/],
      ['a NaN maxConcurrent', { maxConcurrent: NaN }, /got NaN/],
      ['a fractional maxQueue', { maxConcurrent: 1, maxQueue: 0.5 }, /maxQueue must be an integer/],
      ['a negative maxQueue', { maxConcurrent: 1, maxQueue: -1 }, /got -1/],
      ['maxThreads 0', { maxConcurrent: 1, maxThreads: 0 }, /maxThreads/],
      ['more than MAX_PERMITS in all', { maxConcurrent: 2 ** 31 - 1, maxQueue: 1 }, /maxConcurrent \+ maxQueue must be at most 2147483647/],
      [
        'a misspelled option',
        { maxConcurrent: 1, maxQueu: 1 },
        /new Bulkhead\(options\): unknown option "maxQueu"; did you mean "maxQueue"\?/,
      ],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new Bulkhead(o), ErrorCode.INVALID_ARG, message);
    });

    it.each([
      ['execute(a non-function)', (b: Bulkhead) => rejected(b.execute('x' as never)), /fn must be a function, got "x"/],
      ['execute with a NaN timeoutMs', (b: Bulkhead) => rejected(b.execute(() => 1, { timeoutMs: NaN })), /timeoutMs/],
      [
        'execute with a misspelled option',
        (b: Bulkhead) => rejected(b.execute(() => 1, { timeotMs: 5 } as never)),
        /unknown option "timeotMs"; did you mean "timeoutMs"\?/,
      ],
      ['executeSync with a negative timeout', (b: Bulkhead) => thrown(() => b.executeSync(() => 1, -1)), /timeoutMs/],
    ])('%s', async (_n, op, message) => {
      const b = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 });
      expectCode(await op(b), ErrorCode.INVALID_ARG, message);
      expect(b.stats()).toEqual({ running: 0, queued: 0, available: 2 });
    });

    it.each(
      forgedHandles<BulkheadHandle>('sabre.Semaphore', [
        ['other options', (h) => ({ ...h, options: { ...h.options, maxQueue: 3 } })],
        ['a missing option', (h) => ({ ...h, options: { maxConcurrent: 1, maxQueue: 0 } })],
        ['an unknown option', (h) => ({ ...h, options: { ...h.options, arena: null } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const b = new Bulkhead({ maxConcurrent: 1 });
      expectCode(
        thrown(() => Bulkhead.from(forge(b.handle) as BulkheadHandle)),
        ErrorCode.HANDLE,
      );
    });
  });

  describe('deprecated names', () => {
    afterEach(() => {
      vi.restoreAllMocks();
      resetDeprecationsForTesting();
    });

    it("execute's timeout option (now timeoutMs) still times out, and warns once", async () => {
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 2 });
      const h = held();
      const running = b.execute(h.fn);
      expectCode(await rejected(b.execute(() => 1, { timeout: 5 })), ErrorCode.TIMEOUT);
      expectCode(await rejected(b.execute(() => 1, { timeout: 5 })), ErrorCode.TIMEOUT);
      h.release();
      await running;
      expect(warn.mock.calls.map((c) => (c[1] as { code: string }).code)).toEqual(['SABRE_DEP_TIMEOUT']);
    });
  });
});
