import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cache, WINDOW_FRACTION, type CacheHandle } from '../../src/store/cache.js';
import { ManualClock } from '../../src/clock.js';
import { AtomicCounter } from '../../src/atomic/counter.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { deprecationsDuring } from '../helpers/deprecation.js';
import { forgedHandles } from '../helpers/handles.js';
import { Remote } from '../threads/remote.js';
import { START_WORDS, startLine } from '../../workers/start-line.js';
import { until } from '../helpers/wait.js';

const small = (extra: object = {}) => new Cache<string>({ capacity: 100, maxKeyBytes: 32, maxValueBytes: 64, codec: 'string', ...extra });

describe('Cache: a map with a capacity', () => {
  it('gets, sets, overwrites, deletes and clears, with every codec', () => {
    const values = { string: 'v', json: { a: [1, 'x'] }, v8: new Map([[1, 2]]), bytes: new Uint8Array([1, 2, 3]) } as const;
    for (const [codec, value] of Object.entries(values)) {
      const c = new Cache<unknown>({ capacity: 10, maxKeyBytes: 8, maxValueBytes: 64, codec: codec as 'string' });
      expect(c.get('k')).toBeUndefined();
      c.set('k', value);
      expect(c.get('k')).toEqual(value);
      expect(c.has('k')).toBe(true);
      expect(c.size).toBe(1);
      c.set('k', value);
      expect(c.size).toBe(1);
      expect(c.delete('k')).toBe(true);
      expect(c.delete('k')).toBe(false);
      c.set('a', value).set('b', value);
      c.clear();
      expect(c.size).toBe(0);
      expect(c.get('a')).toBeUndefined();
    }
  });

  it('returns a fresh copy of mutable values', () => {
    const c = new Cache<{ n: number }>({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 64, codec: 'json' });
    c.set('k', { n: 1 });
    c.get('k')!.n = 99;
    expect(c.get('k')).toEqual({ n: 1 });
  });

  it('counts hits and misses, summed over threads', () => {
    const c = small();
    c.set('a', '1');
    c.get('a');
    c.get('a');
    c.get('b');
    expect(c.stats()).toMatchObject({ hits: 2, misses: 1, hitRate: 2 / 3, size: 1, capacity: 100 });
    c.resetStats();
    expect(c.stats()).toMatchObject({ hits: 0, misses: 0, hitRate: 0 });
  });

  it('never holds more than its capacity, and counts its evictions', () => {
    for (const policy of ['lru', 'lfu'] as const) {
      const c = small({ policy });
      for (let i = 0; i < 1000; i++) {
        c.set(`k${i}`, `${i}`);
        expect(c.size).toBeLessThanOrEqual(100);
      }
      expect(c.size).toBe(100);
      expect(c.stats().evictions).toBe(900);
      // Whatever survived holds its own value.
      let present = 0;
      for (let i = 0; i < 1000; i++) {
        const v = c.get(`k${i}`);
        if (v !== undefined) {
          present++;
          expect(v).toBe(`${i}`);
        }
      }
      expect(present).toBe(100);
    }
  });

  it('evicts across segments of a large cache', () => {
    const c = new Cache<string>({ capacity: 5000, maxKeyBytes: 16, maxValueBytes: 8, codec: 'string' });
    for (let i = 0; i < 20_000; i++) c.set(`k${i}`, 'v');
    expect(c.size).toBe(5000);
  });
});

describe('Cache: LRU and LFU', () => {
  it('LRU keeps what is read often while new keys stream through', () => {
    const c = small({ policy: 'lru' });
    const hot = Array.from({ length: 10 }, (_, i) => `hot${i}`);
    for (const k of hot) c.set(k, k);
    for (let i = 0; i < 2000; i++) {
      c.set(`cold${i}`, 'x');
      for (const k of hot) c.get(k);
    }
    expect(hot.filter((k) => c.get(k) === k)).toHaveLength(10);
  });

  it('LFU keeps a popular working set through a scan, where LRU loses it', () => {
    const survivors = (policy: 'lru' | 'lfu') => {
      const c = small({ policy });
      const hot = Array.from({ length: 50 }, (_, i) => `hot${i}`);
      for (let round = 0; round < 20; round++) for (const k of hot) if (c.get(k) === undefined) c.set(k, k);
      for (let i = 0; i < 1000; i++) if (c.get(`scan${i}`) === undefined) c.set(`scan${i}`, 'x'); // each key once
      return hot.filter((k) => c.has(k)).length;
    };
    expect(survivors('lfu')).toBeGreaterThanOrEqual(40); // measured 45-49 of 50 in 40 runs; LRU: 0
    expect(survivors('lru')).toBeLessThanOrEqual(5);
  });

  it('LFU admits new keys through its window', () => {
    const c = small({ policy: 'lfu' });
    expect(WINDOW_FRACTION).toBeGreaterThan(0);
    for (let i = 0; i < 500; i++) c.set(`k${i}`, 'v');
    // The last key inserted is in the window: never the victim of the next inserts' samples alone.
    expect(c.get('k499')).toBe('v');
  });
});

describe('Cache: TTL on the cache clock', () => {
  it('expires entries after their TTL, per cache and per entry', () => {
    const clock = new ManualClock();
    const c = small({ clock, ttlMs: 100 });
    c.set('a', '1');
    c.set('b', '2', { ttlMs: 300 });
    c.set('c', '3', { ttlMs: Infinity });
    clock.advance(99);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual(['1', '2', '3']);
    clock.advance(1);
    expect(c.get('a')).toBeUndefined();
    expect(c.has('a')).toBe(false);
    expect(c.get('b')).toBe('2');
    clock.advance(200);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('c')).toBe('3');
    const s = c.stats();
    expect(s.expirations).toBe(2);
    expect(s.size).toBe(1); // the reads removed what they found expired
  });

  it('evicts expired entries before live ones', () => {
    const clock = new ManualClock();
    const c = new Cache<string>({ capacity: 8, maxKeyBytes: 8, maxValueBytes: 8, codec: 'string', clock });
    for (let i = 0; i < 4; i++) c.set(`old${i}`, 'v', { ttlMs: 10 });
    for (let i = 0; i < 4; i++) c.set(`live${i}`, 'v');
    clock.advance(10);
    for (let i = 0; i < 4; i++) c.set(`new${i}`, 'v');
    for (let i = 0; i < 4; i++) expect(c.get(`live${i}`)).toBe('v');
    expect(c.stats()).toMatchObject({ expirations: 4, evictions: 0 });
  });
});

describe('Cache: invalidation', () => {
  it('by prefix (string prefixes match string keys, bytes match bytes)', () => {
    const c = small();
    c.set('user:1:a', 'x').set('user:1:b', 'x').set('user:2:a', 'x').set(new TextEncoder().encode('user:1:c'), 'x');
    expect(c.invalidatePrefix('user:1:')).toBe(2);
    expect([c.has('user:1:a'), c.has('user:1:b'), c.has('user:2:a')]).toEqual([false, false, true]);
    expect(c.invalidatePrefix(new TextEncoder().encode('user:1'))).toBe(1);
    expect(c.size).toBe(1);
  });

  it('by tag', () => {
    const c = small({ maxTagBytes: 32 });
    c.set('a', '1', { tags: ['user:1', 'report'] });
    c.set('b', '2', { tags: ['user:2'] });
    c.set('c', '3');
    expect(c.invalidateTag('user:1')).toBe(1);
    expect(c.invalidateTag('user')).toBe(0); // a tag is matched whole, not as a prefix
    expect([c.has('a'), c.has('b'), c.has('c')]).toEqual([false, true, true]);
    c.set('b', '2b'); // rewritten without tags
    expect(c.invalidateTag('user:2')).toBe(0);
    expect(c.get('b')).toBe('2b');
  });
});

describe('Cache: getOrCompute', () => {
  it('computes a miss once and returns hits after', async () => {
    const c = small();
    let runs = 0;
    const fn = async () => `v${++runs}`;
    expect(await c.getOrCompute('k', fn)).toBe('v1');
    expect(await c.getOrCompute('k', fn)).toBe('v1');
    expect(runs).toBe(1);
    expect(c.stats()).toMatchObject({ loads: 1, hits: 1, misses: 1 });
  });

  it('is single-flight: concurrent calls share one computation', async () => {
    const c = small();
    let runs = 0;
    let finish!: (v: string) => void;
    const fn = () => {
      runs++;
      return new Promise<string>((r) => (finish = r));
    };
    const calls = [c.getOrCompute('k', fn), c.getOrCompute('k', fn), c.getOrCompute('k', fn)];
    await until(() => runs > 0, { what: 'the computation started' });
    finish('done');
    expect(await Promise.all(calls)).toEqual(['done', 'done', 'done']);
    expect(runs).toBe(1);
    expect(c.stats()).toMatchObject({ joins: 2, misses: 3, hits: 0, loads: 1 }); // one miss per call
  });

  it('gives a failure to every waiter, and the next call computes again', async () => {
    const c = small();
    let runs = 0;
    let fail!: (e: Error) => void;
    const failing = () => {
      runs++;
      return new Promise<string>((_, reject) => (fail = reject));
    };
    const calls = [c.getOrCompute('k', failing), c.getOrCompute('k', failing)].map((p) => rejected(p));
    await until(() => runs > 0, { what: 'the computation started' });
    fail(new RangeError('upstream down'));
    for (const e of await Promise.all(calls)) expect(e).toMatchObject({ name: 'RangeError', message: 'upstream down' });
    expect(runs).toBe(1);
    expect(c.has('k')).toBe(false);
    expect(await c.getOrCompute('k', async () => 'ok')).toBe('ok');
    expect(c.stats()).toMatchObject({ loadFailures: 1, loads: 1 });
  });

  it('serves a stale value while one call refreshes it', async () => {
    const clock = new ManualClock();
    const c = small({ clock, ttlMs: 100, staleWhileRevalidateMs: 50 });
    c.set('k', 'old');
    clock.advance(120);
    let runs = 0;
    let finish!: (v: string) => void;
    const refresh = () => {
      runs++;
      return new Promise<string>((r) => (finish = r));
    };
    expect(await c.getOrCompute('k', refresh)).toBe('old');
    expect(await c.getOrCompute('k', refresh)).toBe('old'); // the refresh is still running
    expect(runs).toBe(1);
    finish('new');
    await until(() => c.get('k') === 'new');
    expect(c.get('k')).toBe('new');
    expect(c.stats().stale).toBe(2);
    clock.advance(200); // past the stale window: computed again, and awaited
    expect(await c.getOrCompute('k', async () => 'newer')).toBe('newer');
  });

  it('times out and aborts a wait for another call’s computation', async () => {
    const c = small();
    let finish!: (v: string) => void;
    const leader = c.getOrCompute('k', () => new Promise<string>((r) => (finish = r)));
    expectCode(await rejected(c.getOrCompute('k', async () => 'x', { timeoutMs: 30 })), 'ERR_TIMEOUT');
    const ac = new AbortController();
    const aborted = rejected(c.getOrCompute('k', async () => 'x', { signal: ac.signal }));
    ac.abort();
    expectCode(await aborted, 'ERR_ABORTED');
    finish('v');
    expect(await leader).toBe('v');
  });
});

describe('Cache: across threads', () => {
  const workers: Remote[] = [];
  afterAll(async () => {
    for (const w of workers) await w.stop();
  });
  const start = async () => {
    const w = await Remote.start('cache');
    workers.push(w);
    return w;
  };

  it('is one cache for every thread', async () => {
    const c = small();
    const w = await start();
    c.set('k', 'from main');
    expect(await w.call('get', { cache: c.handle, key: 'k' })).toBe('from main');
    await w.call('set', { cache: c.handle, key: 'w', value: 'from worker' });
    expect(c.get('w')).toBe('from worker');
  });

  it('runs one computation for a key missed by several threads at once', async () => {
    const c = small();
    const computations = new AtomicCounter();
    const ws = [await start(), await start()];
    const calls = [
      ...ws.map((w) => w.call('getOrCompute', { cache: c.handle, key: 'report', value: 'R', computations: computations.handle, ms: 50 })),
      c.getOrCompute('report', async () => {
        computations.increment();
        return 'R';
      }),
    ];
    expect(await Promise.all(calls)).toEqual(['R', 'R', 'R']);
    expect(computations.get()).toBe(1);
  });

  it('hands a worker’s failure to a waiter in another thread', async () => {
    const c = small();
    const computations = new AtomicCounter();
    const w = await start();
    const gate = new Int32Array(new SharedArrayBuffer(4 * START_WORDS));
    const leader = rejected(
      w.call('getOrCompute', { cache: c.handle, key: 'k', computations: computations.handle, compute: 'throw', gate }),
    );
    await until(() => computations.get() === 1); // the worker leads, and waits at the gate
    const waiter = c.getOrCompute('k', async () => 'main');
    expect(c.stats().joins).toBe(1); // main joined the worker's flight (synchronously, before any await)
    startLine(gate, 2); // now the worker's computation throws
    const e = await rejected(waiter);
    expect(e).toMatchObject({ name: 'RangeError', message: 'no value for k' });
    expect(await leader).toMatchObject({ message: 'no value for k' });
    expect(await c.getOrCompute('k', async () => 'main')).toBe('main');
  });

  it('takes over a computation whose thread died', async () => {
    const c = small();
    const computations = new AtomicCounter();
    const w = await start();
    void w.call('getOrCompute', { cache: c.handle, key: 'k', computations: computations.handle, compute: 'hang' }).catch(() => {});
    await until(() => computations.get() === 1);
    const waiting = c.getOrCompute('k', async () => 'recovered');
    expect(c.stats().joins).toBe(1); // main waits on the worker's computation (it joined synchronously)
    await w.stop();
    expect(await waiting).toBe('recovered');
  });
});

describe('Cache: bad input', () => {
  const c = small({ maxTagBytes: 8 });
  const cases: [string, () => unknown, RegExp][] = [
    ['capacity 0', () => small({ capacity: 0 }), /capacity/],
    ['a policy that does not exist', () => small({ policy: 'fifo' }), /policy/],
    ['a negative ttlMs', () => small({ ttlMs: -1 }), /ttlMs/],
    ['a NaN staleWhileRevalidateMs', () => small({ staleWhileRevalidateMs: NaN }), /staleWhileRevalidateMs/],
    ['an unshared clock', () => small({ clock: { now: () => 0 } }), /clock/],
    ['a key too long', () => c.set('k'.repeat(33), 'v'), /key is too long/],
    ['a value too large', () => c.set('k', 'v'.repeat(65)), /too large/],
    ['a value of the wrong type', () => c.set('k', 42 as unknown as string), /string/],
    ['a zero ttl on set', () => c.set('k', 'v', { ttlMs: 0 }), /ttlMs/],
    ['tags beyond maxTagBytes', () => c.set('k', 'v', { tags: ['a-long-tag'] }), /maxTagBytes/],
    ['a tag that is not a string', () => c.set('k', 'v', { tags: [1 as unknown as string] }), /tag/],
    ['an empty tag', () => c.invalidateTag(''), /tag/],
    ['a prefix that is not a key', () => c.invalidatePrefix(7 as unknown as string), /prefix/],
  ];
  it.each(cases)('refuses %s, and keeps what it held', (_name, fn, message) => {
    c.set('kept', 'yes');
    expectCode(thrown(fn), 'ERR_INVALID_ARG', message);
    expect(c.get('kept')).toBe('yes');
    expect(c.has('k')).toBe(false);
  });

  it('refuses a getOrCompute function that is not one, and a negative timeoutMs', async () => {
    expectCode(await rejected(c.getOrCompute('k', 'nope' as never)), 'ERR_INVALID_ARG');
    expectCode(
      await rejected(c.getOrCompute('k', async () => 'v', { timeoutMs: -1 })),
      'ERR_INVALID_ARG',
      /timeoutMs must be a number of milliseconds >= 0/,
    );
    expectCode(
      await rejected(c.getOrCompute('k', async () => 'v', { tags: 'a' as never })),
      'ERR_INVALID_ARG',
      /tags must be an array of strings, got "a"/,
    );
    expect(c.has('k')).toBe(false);
  });

  it.each([
    ['the constructor', () => small({ ttl: 1000 }), /new Cache\(options\): unknown option "ttl"; did you mean "ttlMs"\?/],
    ['the constructor (a slip inside a name)', () => small({ maxTagByte: 8 }), /unknown option "maxTagByte"; did you mean "maxTagBytes"\?/],
    [
      'from(handle, options)',
      () => Cache.from(small().handle, { codex: 'string' } as never),
      /Cache\.from\(handle, options\): unknown option "codex"; did you mean "codec"\?/,
    ],
    [
      'from(handle, options) given what the handle carries',
      () => Cache.from(small().handle, { capacity: 5 } as never),
      /option "capacity" comes from the handle/,
    ],
    ['set', () => c.set('k', 'v', { ttl: 5 } as never), /cache\.set\(key, value, options\): unknown option "ttl"; did you mean "ttlMs"\?/],
    [
      'byteLength',
      () => Cache.byteLength({ capacity: 4, maxKeyBytes: 4, maxValueBytes: 4, polcy: 'lfu' } as never),
      /Cache\.byteLength\(options\): unknown option "polcy"; did you mean "policy"\?/,
    ],
  ])('refuses a misspelled option of %s, naming the option meant', (_name, fn, message) => {
    expectCode(thrown(fn), 'ERR_INVALID_ARG', message);
  });

  it('refuses a misspelled option of getOrCompute before computing anything', async () => {
    let computed = 0;
    const compute = async () => String(++computed);
    expectCode(
      await rejected(c.getOrCompute('k', compute, { timeoutMS: 5 } as never)),
      'ERR_INVALID_ARG',
      /cache\.getOrCompute\(key, fn, options\): unknown option "timeoutMS"; did you mean "timeoutMs"\?/,
    );
    expectCode(
      await rejected(c.getOrCompute('k', compute, { tag: ['a'] } as never)),
      'ERR_INVALID_ARG',
      /unknown option "tag"; did you mean "tags"\?/,
    );
    expect(computed).toBe(0);
  });

  it('refuses a value fn returns that cannot be stored, and the next call computes again', async () => {
    const e = await rejected(c.getOrCompute('k', async () => 'v'.repeat(100)));
    expectCode(e, 'ERR_INVALID_ARG', /too large/);
    expect(await c.getOrCompute('k', async () => 'fits')).toBe('fits');
  });

  it.each(
    forgedHandles<CacheHandle>('sabre.SharedHashTable', [
      ['a policy that does not exist', (h) => ({ ...h, options: { ...h.options, policy: 'fifo' } })],
      ['a larger capacity', (h) => ({ ...h, options: { ...h.options, capacity: 10_000 } })],
      ['an unknown option', (h) => ({ ...h, options: { ...h.options, extra: 1 } })],
    ]),
  )('from() refuses %s', (_name, forge) => {
    expectCode(
      thrown(() => Cache.from(forge(small().handle) as CacheHandle)),
      'ERR_HANDLE',
    );
  });

  it('re-opens from its handle, with a custom codec passed again', () => {
    const codec = { encode: (v: number) => new Uint8Array([v]), decode: (b: Uint8Array) => b[0]! };
    const c = new Cache<number>({ capacity: 4, maxKeyBytes: 4, maxValueBytes: 4, codec });
    c.set('k', 7);
    expect(Cache.from<number>(c.handle, { codec }).get('k')).toBe(7);
    expectCode(
      thrown(() => Cache.from(c.handle)),
      'ERR_HANDLE',
    );
    expect(Cache.byteLength({ capacity: 4, maxKeyBytes: 4, maxValueBytes: 4 })).toBe(c.handle.byteLength);
  });
});

describe('Cache: deprecated names', () => {
  afterEach(() => resetDeprecationsForTesting());

  it('getOrCompute takes `timeout` for `timeoutMs`: the same wait, and one SABRE_DEP_TIMEOUT warning', async () => {
    const c = small();
    let finish!: (v: string) => void;
    const leader = c.getOrCompute('k', () => new Promise<string>((r) => (finish = r)));
    const codes = await deprecationsDuring(async () => {
      expectCode(await rejected(c.getOrCompute('k', async () => 'x', { timeout: 20 })), 'ERR_TIMEOUT');
      expectCode(await rejected(c.getOrCompute('k', async () => 'x', { timeout: 0 })), 'ERR_TIMEOUT');
    });
    expect(codes).toEqual(['SABRE_DEP_TIMEOUT']);
    expectCode(await rejected(c.getOrCompute('k', async () => 'x', { timeoutMs: 0 })), 'ERR_TIMEOUT');
    finish('v');
    expect(await leader).toBe('v');
    expect(await c.getOrCompute('k', async () => 'x', { timeout: 5 })).toBe('v');
    expectCode(
      await rejected(c.getOrCompute('k', async () => 'x', { timeout: 5, timeoutMs: 5 })),
      'ERR_INVALID_ARG',
      /"timeout" is the old name of "timeoutMs"/,
    );
  });
});
