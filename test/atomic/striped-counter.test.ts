import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STRIPES, MAX_STRIPES, StripedCounter, stripeWordIndex } from '../../src/atomic/striped-counter.js';
import { SharedArena } from '../../src/memory/arena.js';
import { CACHE_LINE_BYTES } from '../../src/memory/cache-line.js';
import { HEADER_BYTES } from '../../src/memory/region.js';
import { ErrorCode } from '../../src/errors.js';
import { gate } from '../../workers/fixtures/counters.js';
import { CounterWorker } from './counter-worker.js';
import { thrown, expectCode } from '../helpers/errors.js';

/** The raw Int32 stripes and the BigInt64 base of a counter, read from its shared memory. */
function raw(c: StripedCounter): { base: bigint; stripes: number[]; words: Int32Array } {
  const { buffer, byteOffset } = c.handle;
  const body = byteOffset + HEADER_BYTES;
  const words = new Int32Array(buffer, body, (CACHE_LINE_BYTES * (1 + c.stripes)) / 4);
  const stripes = Array.from({ length: c.stripes }, (_, i) => words[stripeWordIndex(c.stripes, i)]!);
  return { base: new BigInt64Array(buffer, body, 1)[0]!, stripes, words };
}

describe('StripedCounter', () => {
  it('adds, increments, decrements and sums', () => {
    const c = new StripedCounter();
    expect(c.stripes).toBe(DEFAULT_STRIPES);
    expect(c.sum()).toBe(0);
    c.increment();
    c.add(41);
    c.decrement();
    c.add(-10);
    expect(c.sum()).toBe(31);
    expect(c.sumBigInt()).toBe(31n);
    expect(String(c)).toBe('31');
  });

  it('has a power-of-two default of at least 8 stripes, each on its own 128-byte block', () => {
    expect(DEFAULT_STRIPES).toBeGreaterThanOrEqual(8);
    expect(DEFAULT_STRIPES & (DEFAULT_STRIPES - 1)).toBe(0);
    expect(stripeWordIndex(8, 1) - stripeWordIndex(8, 0)).toBe(CACHE_LINE_BYTES / 4);
    expect(StripedCounter.byteLength({ stripes: 8 }) - StripedCounter.byteLength({ stripes: 4 })).toBe(4 * CACHE_LINE_BYTES);
  });

  it("add touches only the calling thread's stripe", () => {
    const c = new StripedCounter({ stripes: 8 });
    c.add(5);
    c.increment();
    const { base, stripes, words } = raw(c);
    expect(base).toBe(0n);
    const mine = threadId & 7;
    expect(stripes[mine]).toBe(6);
    expect(stripes.filter((_, i) => i !== mine).every((s) => s === 0)).toBe(true);
    // and nothing else in the body was written
    expect(Array.from(words).filter((w) => w !== 0)).toEqual([6]);
  });

  it('sends deltas of 2^30 or more straight to the base, exact up to 2^53', () => {
    const c = new StripedCounter({ stripes: 2 });
    c.add(2 ** 30);
    c.add(-(2 ** 31) - 7);
    expect(raw(c).stripes).toEqual([0, 0]);
    expect(c.sum()).toBe(2 ** 30 - 2 ** 31 - 7);
    c.reset();
    c.add(Number.MAX_SAFE_INTEGER - 100);
    for (let i = 0; i < 100; i++) c.increment();
    expect(c.sum()).toBe(Number.MAX_SAFE_INTEGER);
    expect(Number.isSafeInteger(c.sum())).toBe(true);
    c.add(Number.MAX_SAFE_INTEGER); // past 2^53: sumBigInt stays exact
    expect(c.sumBigInt()).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('carries a stripe into the base when its magnitude reaches 2^30, keeping the total exact', () => {
    const c = new StripedCounter({ stripes: 1 });
    const step = 2 ** 30 - 1;
    let want = 0;
    for (let i = 0; i < 2048; i++) {
      c.add(step);
      want += step;
      expect(Math.abs(raw(c).stripes[0]!)).toBeLessThan(2 ** 30);
    }
    expect(c.sum()).toBe(want); // ≈ 2^41
    expect(raw(c).base).toBeGreaterThan(0n);
    for (let i = 0; i < 4096; i++) {
      c.add(-step);
      want -= step;
    }
    expect(c.sum()).toBe(want);
    expect(Math.abs(raw(c).stripes[0]!)).toBeLessThan(2 ** 30);
  });

  it('accounts for a stripe that wrapped past Int32 before anyone carried (other adders mid-carry)', () => {
    for (const [held, delta] of [
      [2 ** 31 - 10, 100],
      [-(2 ** 31) + 10, -100],
      [2 ** 31 - 1, 2 ** 30 - 1],
      [2 ** 30 + 5, 1],
    ] as const) {
      const c = new StripedCounter({ stripes: 1 });
      const { words } = raw(c);
      words[stripeWordIndex(1, 0)] = held; // as several adders of one stripe leave it before their carries
      expect(c.sum()).toBe(held);
      c.add(delta);
      expect(c.sum(), `${held} + ${delta}`).toBe(held + delta);
      expect(Math.abs(raw(c).stripes[0]!)).toBeLessThan(2 ** 31);
      c.add(-delta);
      expect(c.sum()).toBe(held);
    }
  });

  it('reset zeroes; sumThenReset returns the total and zeroes', () => {
    const c = new StripedCounter({ stripes: 4 });
    c.add(2 ** 40);
    c.add(12);
    expect(c.sumThenReset()).toBe(2 ** 40 + 12);
    expect(c.sum()).toBe(0);
    c.add(-3);
    c.reset();
    expect(c.sum()).toBe(0);
    expect(raw(c).base).toBe(0n);
    c.increment();
    expect(c.sum()).toBe(1);
  });
});

describe('StripedCounter misuse', () => {
  const c = new StripedCounter({ stripes: 2 });
  c.add(7);
  const table: [string, () => unknown, RegExp][] = [
    ['add NaN', () => c.add(NaN), /delta must be a safe integer, got NaN/],
    ['add Infinity', () => c.add(Infinity), /got Infinity/],
    ['add -Infinity', () => c.add(-Infinity), /got -Infinity/],
    ['add 1.5', () => c.add(1.5), /got 1\.5/],
    ['add 2^53', () => c.add(2 ** 53), /got 9007199254740992/],
    ['add a bigint', () => c.add(5n as never), /got 5n/],
    ['add a string', () => c.add('5' as never), /got "5"/],
    ['stripes 3', () => new StripedCounter({ stripes: 3 }), /stripes must be a power of two in \[1, 4096\], got 3/],
    ['stripes 0', () => new StripedCounter({ stripes: 0 }), /stripes must be an integer in \[1, 4096\], got 0/],
    ['stripes too many', () => new StripedCounter({ stripes: MAX_STRIPES * 2 }), /got 8192/],
    ['stripes 2.5', () => new StripedCounter({ stripes: 2.5 }), /got 2\.5/],
    ['byteLength stripes -1', () => StripedCounter.byteLength({ stripes: -1 }), /got -1/],
    [
      'a misspelled option',
      () => new StripedCounter({ stripe: 4 } as never),
      /new StripedCounter\(options\): unknown option "stripe"; did you mean "stripes"\?/,
    ],
    ['options not an object', () => new StripedCounter(4 as never), /new StripedCounter\(options\): options must be an object, got 4/],
  ];
  it.each(table)('%s → InvalidArgumentError', (_name, fn, message) => {
    expectCode(fn, ErrorCode.INVALID_ARG, message);
  });

  it('leaves the counter unchanged and working after every refusal', () => {
    for (const [, fn] of table) thrown(fn);
    expect(c.sum()).toBe(7);
    c.increment();
    expect(c.sum()).toBe(8);
  });

  it('rejects a forged handle', () => {
    expectCode(() => StripedCounter.from({ ...c.handle, options: { stripes: 4 } }), ErrorCode.HANDLE);
    expectCode(() => StripedCounter.from({ ...c.handle, options: { stripes: 3 } }), ErrorCode.HANDLE, /power of two/);
    expectCode(() => StripedCounter.from({ ...c.handle, kind: 'sabre.AtomicCounter' } as never), ErrorCode.HANDLE);
  });
});

describe('StripedCounter handles', () => {
  it('re-open the same counter from a structured clone and in a SharedArena', () => {
    const arena = new SharedArena({ byteLength: 8192 });
    const a = new StripedCounter({ arena, stripes: 4 });
    const b = new StripedCounter({ arena, stripes: 8 });
    a.add(10);
    b.add(2 ** 35);
    const a2 = StripedCounter.from(structuredClone(a.handle));
    expect(a2.stripes).toBe(4);
    a2.add(5);
    expect(a.sum()).toBe(15);
    expect(b.sum()).toBe(2 ** 35);
    expect(a.handle.buffer).toBe(b.handle.buffer);
  });
});

describe('StripedCounter across threads', () => {
  let workers: CounterWorker[] = [];
  beforeAll(async () => {
    workers = await Promise.all([CounterWorker.start(), CounterWorker.start(), CounterWorker.start()]);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });

  // Big deltas force frequent carries (and base adds); the total stays below 2^53.
  const deltas = [2 ** 30 - 1, 2 ** 29 + 3, 5, -(2 ** 28), 2 ** 31, 1, -7];
  const N = 40_000;
  const perWorker = (() => {
    let t = 0;
    for (let i = 0; i < N; i++) t += deltas[i % deltas.length]!;
    return t;
  })();

  for (const stripes of [1, 8]) {
    it(`${stripes === 1 ? 'one shared stripe (concurrent carries on it)' : 'a stripe per thread'}: the sum is exact`, async () => {
      const c = new StripedCounter({ stripes });
      c.add(3); // the main thread's stripe takes part too
      const g = gate();
      const runs = workers.map((w) => w.call('striped', c.handle, N, deltas, g.word));
      g.open();
      const totals = await Promise.all(runs);
      for (const t of totals) expect(BigInt(t)).toBe(BigInt(perWorker));
      expect(c.sum()).toBe(3 + workers.length * perWorker);
      expect(Number.isSafeInteger(c.sum())).toBe(true);
      expect(raw(c).stripes.every((s) => Math.abs(s) < 2 ** 31)).toBe(true);
      if (stripes === 8) {
        // each thread used its own stripe
        const used = raw(c)
          .stripes.map((s, i) => (s !== 0 ? i : -1))
          .filter((i) => i >= 0);
        for (const w of workers) expect(used).toContain(w.threadId & 7);
      }
    });
  }
});
