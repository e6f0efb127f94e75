import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { AtomicCounter } from '../../src/atomic/counter.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ErrorCode } from '../../src/errors.js';
import { gate } from '../../workers/fixtures/counters.js';
import { CounterWorker } from './counter-worker.js';
import { thrown, expectCode } from '../helpers/errors.js';

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

describe('AtomicCounter types', () => {
  it('picks number or bigint from bits', () => {
    expectTypeOf(new AtomicCounter().get()).toEqualTypeOf<number>();
    expectTypeOf(new AtomicCounter({ bits: 32 }).increment()).toEqualTypeOf<number>();
    expectTypeOf(new AtomicCounter({ bits: 64 }).get()).toEqualTypeOf<bigint>();
    expectTypeOf(new AtomicCounter({ bits: 64 }).add(1n)).toEqualTypeOf<bigint>();
    expectTypeOf(AtomicCounter.from(new AtomicCounter({ bits: 64 }).handle).get()).toEqualTypeOf<bigint>();
    expectTypeOf(AtomicCounter.from(new AtomicCounter().handle).get()).toEqualTypeOf<number>();
    // @ts-expect-error a 32-bit counter takes numbers only
    expect(thrown(() => new AtomicCounter().add(1n))).not.toBeUndefined();
  });
});

describe('AtomicCounter (32-bit)', () => {
  it('starts at 0 (or initial) and returns new values, as addAndGet', () => {
    const c = new AtomicCounter();
    expect(c.bits).toBe(32);
    expect(c.get()).toBe(0);
    expect(c.increment()).toBe(1);
    expect(c.add(41)).toBe(42);
    expect(c.add(-2)).toBe(40);
    expect(c.decrement()).toBe(39);
    expect(c.get()).toBe(39);
    c.set(-7);
    expect(c.get()).toBe(-7);
    expect(c.getAndSet(5)).toBe(-7);
    expect(new AtomicCounter({ initial: -3 }).get()).toBe(-3);
    expect(String(c)).toBe('5');
  });

  it('compareAndSet swaps only on the expected value', () => {
    const c = new AtomicCounter({ initial: 10 });
    expect(c.compareAndSet(9, 20)).toBe(false);
    expect(c.get()).toBe(10);
    expect(c.compareAndSet(10, 20)).toBe(true);
    expect(c.get()).toBe(20);
    expect(c.update((v) => v * 2)).toBe(40);
  });

  it('wraps like Int32 (as Java AtomicInteger)', () => {
    const c = new AtomicCounter({ initial: INT32_MAX });
    expect(c.increment()).toBe(INT32_MIN);
    expect(c.decrement()).toBe(INT32_MAX);
    expect(c.add(2 ** 32 + 5)).toBe(INT32_MIN + 4); // the delta is reduced modulo 2^32 as well
    expect(c.get()).toBe(INT32_MIN + 4);
    expect(c.add(-(2 ** 40))).toBe(INT32_MIN + 4); // 2^40 ≡ 0 (mod 2^32)
    expect(c.add(Number.MAX_SAFE_INTEGER)).toBe(Number(BigInt.asIntN(32, BigInt(INT32_MIN + 4) + BigInt(Number.MAX_SAFE_INTEGER))));
  });
});

describe('AtomicCounter (64-bit)', () => {
  it('holds bigints beyond 2^53 exactly, takes safe-integer numbers too', () => {
    const big = 2n ** 60n + 3n;
    const c = new AtomicCounter({ bits: 64, initial: big });
    expect(c.bits).toBe(64);
    expect(c.get()).toBe(big);
    expect(c.increment()).toBe(big + 1n);
    expect(c.add(5)).toBe(big + 6n);
    expect(c.add(-6n)).toBe(big);
    expect(c.decrement()).toBe(big - 1n);
    expect(c.compareAndSet(big, 0n)).toBe(false);
    expect(c.compareAndSet(big - 1n, 7)).toBe(true);
    expect(c.get()).toBe(7n);
    expect(c.update((v) => v * 3n)).toBe(21n);
    c.set(-1);
    expect(c.get()).toBe(-1n);
    expect(new AtomicCounter({ bits: 64 }).get()).toBe(0n);
  });

  it('wraps like Int64 (as Java AtomicLong)', () => {
    const c = new AtomicCounter({ bits: 64, initial: 2n ** 63n - 1n });
    expect(c.increment()).toBe(-(2n ** 63n));
    expect(c.decrement()).toBe(2n ** 63n - 1n);
  });
});

describe('AtomicCounter misuse', () => {
  const c32 = new AtomicCounter({ initial: 5 });
  const c64 = new AtomicCounter({ bits: 64, initial: 5n });
  const table: [string, () => unknown, RegExp][] = [
    ['add NaN', () => c32.add(NaN), /delta must be a safe integer, got NaN/],
    ['add Infinity', () => c32.add(Infinity), /got Infinity/],
    ['add 1.5', () => c32.add(1.5), /got 1\.5/],
    ['add a string', () => c32.add('1' as never), /got "1"/],
    ['set 1.5', () => c32.set(1.5), /value must be an integer in \[-2147483648, 2147483647\], got 1\.5/],
    ['set beyond Int32', () => c32.set(2 ** 31), /got 2147483648/],
    ['CAS NaN', () => c32.compareAndSet(NaN, 1), /expected must be an integer/],
    ['CAS next Infinity', () => c32.compareAndSet(5, -Infinity), /next must be an integer/],
    ['64 add 1.5', () => c64.add(1.5), /delta must be a bigint or a safe integer, got 1\.5/],
    ['64 add NaN', () => c64.add(NaN), /got NaN/],
    ['64 set beyond Int64', () => c64.set(2n ** 63n), /value must fit in a signed 64-bit integer/],
    ['64 CAS Infinity', () => c64.compareAndSet(Infinity, 1n), /expected must be a bigint or a safe integer, got Infinity/],
    ['bits 16', () => new AtomicCounter({ bits: 16 as never }), /bits must be one of 32, 64, got 16/],
    ['initial 1.5', () => new AtomicCounter({ initial: 1.5 }), /initial must be an integer/],
    ['initial 2^31', () => new AtomicCounter({ initial: 2 ** 31 }), /initial must be an integer/],
    ['64 initial NaN', () => new AtomicCounter({ bits: 64, initial: NaN }), /initial must be a bigint or a safe integer/],
    ['options not an object', () => new AtomicCounter(5 as never), /new AtomicCounter\(options\): options must be an object, got 5/],
    [
      'a misspelled option',
      () => new AtomicCounter({ inital: 5 } as never),
      /new AtomicCounter\(options\): unknown option "inital"; did you mean "initial"\?/,
    ],
    [
      'a bigint initial for 32 bits',
      () => new AtomicCounter({ initial: 5n } as never),
      /initial must be an integer in \[-2147483648, 2147483647\], got 5n/,
    ],
    [
      'byteLength with a misspelled option',
      () => AtomicCounter.byteLength({ bit: 64 } as never),
      /AtomicCounter\.byteLength\(options\): unknown option "bit"; did you mean "bits"\?/,
    ],
    ['update not a function', () => c32.update(5 as never), /fn must be a function/],
  ];
  it.each(table)('%s → InvalidArgumentError', (_name, fn, message) => {
    expectCode(fn, ErrorCode.INVALID_ARG, message);
  });

  it('leaves the counters unchanged and working after every refusal', () => {
    for (const [, fn] of table) thrown(fn);
    expect(c32.get()).toBe(5);
    expect(c64.get()).toBe(5n);
    expect(c32.increment()).toBe(6);
    expect(c64.increment()).toBe(6n);
  });

  it('rejects foreign or forged handles with HandleError', () => {
    const c = new AtomicCounter();
    expectCode(
      () => AtomicCounter.from({ ...c.handle, kind: 'sabre.Mutex' } as never),
      ErrorCode.HANDLE,
      /expected a sabre\.AtomicCounter handle/,
    );
    expectCode(() => AtomicCounter.from({ ...c.handle, options: { bits: 64 } } as never), ErrorCode.HANDLE);
    expectCode(() => AtomicCounter.from({ ...c.handle, options: { bits: 48 } } as never), ErrorCode.HANDLE, /bits must be one of 32, 64/);
    expectCode(() => AtomicCounter.from({ ...c.handle, buffer: new ArrayBuffer(64) } as never), ErrorCode.HANDLE, /non-shared ArrayBuffer/);
    expect(c.increment()).toBe(1);
  });
});

describe('AtomicCounter handles', () => {
  it('re-open the same counter from a structured clone', () => {
    const c32 = new AtomicCounter({ initial: 3 });
    const c64 = new AtomicCounter({ bits: 64, initial: 3n });
    const o32 = AtomicCounter.from(structuredClone(c32.handle));
    const o64 = AtomicCounter.from(structuredClone(c64.handle));
    expect(o32.increment()).toBe(4);
    expect(c32.get()).toBe(4);
    expect(o64.bits).toBe(64);
    expect(o64.add(10n)).toBe(13n);
    expect(c64.get()).toBe(13n);
  });

  it('live side by side in a SharedArena without disturbing each other', () => {
    const arena = new SharedArena({ byteLength: 4096 });
    const a = new AtomicCounter({ arena, initial: -1 });
    const b = new AtomicCounter({ arena, bits: 64, initial: 2n ** 40n });
    const c = new AtomicCounter({ arena });
    expect(a.handle.buffer).toBe(arena.handle.buffer);
    expect(b.handle.byteOffset - a.handle.byteOffset).toBeGreaterThanOrEqual(128);
    expect(AtomicCounter.byteLength()).toBe(AtomicCounter.byteLength({ bits: 64 }));
    for (let i = 0; i < 100; i++) {
      a.decrement();
      b.increment();
      c.add(3);
    }
    expect([a.get(), b.get(), c.get()]).toEqual([-101, 2n ** 40n + 100n, 300]);
    const reopened = AtomicCounter.from(structuredClone(b.handle));
    expect(reopened.get()).toBe(2n ** 40n + 100n);
  });
});

describe('AtomicCounter across threads', () => {
  let workers: CounterWorker[] = [];
  beforeAll(async () => {
    workers = await Promise.all([CounterWorker.start(), CounterWorker.start(), CounterWorker.start()]);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });

  const N = 50_000;
  const PER_WORKER = 2 * N + N / 10; // N × (inc, add 2, dec) + N/10 CAS increments

  it('32-bit: three workers lose no update, and the total wraps as Int32', async () => {
    const start = INT32_MAX - 100_000; // 3 × 105 000 more: wraps past 2^31 - 1
    const c = new AtomicCounter({ initial: start });
    const g = gate();
    const runs = workers.map((w) => w.call('atomic', c.handle, N, g.word));
    g.open();
    await Promise.all(runs);
    expect(c.get()).toBe((start + workers.length * PER_WORKER) | 0);
    expect(c.get()).toBeLessThan(0); // it did wrap
  });

  it('64-bit: three workers lose no update above 2^53', async () => {
    const start = 2n ** 53n + 1n;
    const c = new AtomicCounter({ bits: 64, initial: start });
    const g = gate();
    const runs = workers.map((w) => w.call('atomic', c.handle, N, g.word));
    g.open();
    await Promise.all(runs);
    expect(c.get()).toBe(start + BigInt(workers.length * PER_WORKER));
  });

  it('handles reopened in a worker (and in a SharedArena) are the same counters', async () => {
    const arena = new SharedArena({ byteLength: 8192 });
    const { StripedCounter } = await import('../../src/atomic/striped-counter.js');
    const { VersionedCell } = await import('../../src/atomic/versioned-cell.js');
    const a32 = new AtomicCounter({ arena, initial: 41 });
    const a64 = new AtomicCounter({ arena, bits: 64, initial: 2n ** 62n });
    const striped = new StripedCounter({ arena, stripes: 4 });
    striped.add(1_000_000_000);
    const cell = new VersionedCell<string>({ arena, maxBytes: 64, codec: 'string', initial: 'main' });
    const seen = await workers[0]!.call('reopen', { a32: a32.handle, a64: a64.handle, striped: striped.handle, cell: cell.handle });
    expect(seen).toEqual({ a32: 41, a64: 2n ** 62n, striped: 1_000_000_000, cell: { value: 'main', version: 0 } });
    expect(a32.get()).toBe(42);
    expect(a64.get()).toBe(2n ** 62n + 1n);
    expect(striped.sum()).toBe(1_000_000_001);
    expect(cell.read()).toEqual({ value: 'main+worker', version: 1 });
  });
});
