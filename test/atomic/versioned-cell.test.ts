import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UPDATE_RETRIES, MAX_CELL_BYTES, VersionedCell } from '../../src/atomic/versioned-cell.js';
import { SharedArena } from '../../src/memory/arena.js';
import type { Codec } from '../../src/memory/codec.js';
import { ConflictError, ErrorCode } from '../../src/errors.js';
import { gate, tallyAt, type Tally } from '../../workers/fixtures/counters.js';
import { CounterWorker } from './counter-worker.js';
import { thrown, expectCode } from '../helpers/errors.js';

describe('VersionedCell', () => {
  it('reads the initial value at version 0 and bumps the version on each write', () => {
    const cell = new VersionedCell<{ n: number; tags: string[] }>({ maxBytes: 128, initial: { n: 1, tags: ['a'] } });
    expect(cell.read()).toEqual({ value: { n: 1, tags: ['a'] }, version: 0 });
    expect(cell.write({ n: 2, tags: [] }, 0)).toBe(1);
    expect(cell.write({ n: 3, tags: ['b', 'c'] }, 1)).toBe(2);
    expect(cell.read()).toEqual({ value: { n: 3, tags: ['b', 'c'] }, version: 2 });
    expect(cell.version).toBe(2);
  });

  it('holds undefined at version 0 when no initial value is given', () => {
    const cell = new VersionedCell<string | undefined>({ maxBytes: 16, codec: 'string' });
    expect(cell.read()).toEqual({ value: undefined, version: 0 });
    cell.write('', 0);
    expect(cell.read()).toEqual({ value: '', version: 1 });
  });

  it('returns private copies: changing a read value changes nothing shared', () => {
    const cell = new VersionedCell({ maxBytes: 64, initial: { list: [1, 2] } });
    const r = cell.read();
    r.value.list.push(3);
    expect(cell.read().value).toEqual({ list: [1, 2] });
    const bytes = new VersionedCell({ maxBytes: 8, codec: 'bytes', initial: new Uint8Array([1, 2]) });
    const b = bytes.read().value;
    b[0] = 9;
    expect(Array.from(bytes.read().value)).toEqual([1, 2]);
    expect(b.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('throws ConflictError with expected and actual versions on a stale (or future) write, changing nothing', () => {
    const cell = new VersionedCell({ maxBytes: 64, codec: 'json', initial: 'a' });
    cell.write('b', 0);
    const e = expectCode(() => cell.write('stale', 0), ErrorCode.CONFLICT, /expected version 0, the cell is at version 1/) as ConflictError;
    expect(e).toBeInstanceOf(ConflictError);
    expect(e.details).toEqual({ expectedVersion: 0, actualVersion: 1 });
    expect((e.cause as { details: unknown }).details).toEqual({ expectedVersion: 0, actualVersion: 1 }); // survives postMessage
    expectCode(() => cell.write('future', 5), ErrorCode.CONFLICT, /expected version 5/);
    expect(cell.read()).toEqual({ value: 'b', version: 1 });
    expect(cell.write('c', 1)).toBe(2);
  });

  it('works with every built-in codec, and large values up to maxBytes', () => {
    const big = 'é'.repeat(500); // 1000 bytes of UTF-8
    const cases: [VersionedCell, unknown, unknown][] = [
      [new VersionedCell({ maxBytes: 1000, codec: 'string', initial: 'x' }), 'x', big],
      [new VersionedCell({ maxBytes: 1002, codec: 'json', initial: { a: 1 } }), { a: 1 }, big],
      [new VersionedCell({ maxBytes: 2000, codec: 'v8', initial: new Map([[1, 2]]) }), new Map([[1, 2]]), new Set([big])],
      [
        new VersionedCell({ maxBytes: 1000, codec: 'bytes', initial: new Uint8Array([1]) }),
        new Uint8Array([1]),
        new Uint8Array(1000).fill(7),
      ],
    ];
    for (const [cell, first, next] of cases) {
      expect(cell.read().value).toEqual(first);
      cell.write(next, 0);
      expect(cell.read()).toEqual({ value: next, version: 1 });
      cell.write(first, 1);
      expect(cell.read()).toEqual({ value: first, version: 2 }); // the other buffer
    }
  });
});

describe('VersionedCell.update', () => {
  it('applies fn to the current value and returns value, version and attempts', () => {
    const cell = new VersionedCell({ maxBytes: 64, initial: { hits: 0 } });
    const r = cell.update((v, version) => ({ hits: v.hits + 1 + version }));
    expect(r).toEqual({ value: { hits: 1 }, version: 1, attempts: 1 });
    expect(cell.update((v) => ({ hits: v.hits * 10 })).value).toEqual({ hits: 10 });
  });

  it('retries a conflict (another writer got in between) and counts the attempts', () => {
    const cell = new VersionedCell({ maxBytes: 64, codec: 'json', initial: 0 });
    let calls = 0;
    const r = cell.update((v, version) => {
      if (calls++ < 2) cell.write(100 + calls, version); // someone else writes first, twice
      return v + 1;
    });
    expect(r).toEqual({ value: 103, version: 3, attempts: 3 });
    expect(cell.read()).toEqual({ value: 103, version: 3 });
  });

  it("throws the last ConflictError once retries are spent, leaving the other writers' value", () => {
    const cell = new VersionedCell({ maxBytes: 64, codec: 'json', initial: 0 });
    let calls = 0;
    const e = expectCode(
      () =>
        cell.update(
          (v, version) => {
            calls++;
            cell.write(-calls, version);
            return 1;
          },
          { retries: 2 },
        ),
      ErrorCode.CONFLICT,
    );
    expect(calls).toBe(3);
    expect((e as ConflictError).details).toEqual({ expectedVersion: 2, actualVersion: 3 });
    expect(cell.read()).toEqual({ value: -3, version: 3 });
    let defaultCalls = 0;
    expectCode(
      () =>
        cell.update((_v, version) => {
          defaultCalls++;
          cell.write(0, version);
          return 1;
        }),
      ErrorCode.CONFLICT,
    );
    expect(defaultCalls).toBe(DEFAULT_UPDATE_RETRIES + 1);
  });

  it('writes nothing when fn throws, and refuses an async fn', () => {
    const cell = new VersionedCell({ maxBytes: 64, initial: 1 });
    expect(
      thrown(() =>
        cell.update(() => {
          throw new Error('boom');
        }),
      ),
    ).toHaveProperty('message', 'boom');
    expectCode(() => cell.update((async () => 2) as never), ErrorCode.INVALID_ARG, /returned a promise/);
    expect(cell.read()).toEqual({ value: 1, version: 0 });
  });
});

describe('VersionedCell misuse', () => {
  const cell = new VersionedCell<unknown>({ maxBytes: 32, initial: 'keep' });
  const json = new VersionedCell<unknown>({ maxBytes: 16, codec: 'json', initial: 'keep' });
  const str = new VersionedCell<unknown>({ maxBytes: 4, codec: 'string', initial: 'keep' });
  const table: [string, () => unknown, RegExp][] = [
    ['maxBytes negative', () => new VersionedCell({ maxBytes: -1 }), /maxBytes must be an integer in \[1, 536870912\], got -1/],
    ['maxBytes 0', () => new VersionedCell({ maxBytes: 0 }), /got 0/],
    ['maxBytes 1.5', () => new VersionedCell({ maxBytes: 1.5 }), /got 1\.5/],
    ['maxBytes NaN', () => new VersionedCell({ maxBytes: NaN }), /got NaN/],
    ['maxBytes Infinity', () => new VersionedCell({ maxBytes: Infinity }), /got Infinity/],
    ['maxBytes too large', () => new VersionedCell({ maxBytes: MAX_CELL_BYTES + 1 }), /got 536870913/],
    ['maxBytes missing', () => new VersionedCell({} as never), /new VersionedCell\(options\): maxBytes is required/],
    [
      'initial too large',
      () => new VersionedCell({ maxBytes: 4, initial: 'much too long' }),
      /value needs \d+ bytes encoded, more than maxBytes 4/,
    ],
    ['unknown codec', () => new VersionedCell({ maxBytes: 4, codec: 'yaml' as never }), /codec must be one of/],
    ['v8 value too large', () => cell.write('x'.repeat(100), 0), /more than maxBytes 32/],
    ['json value too large', () => json.write('x'.repeat(100), 0), /does not fit in maxBytes 16 \(it needs 102\)/],
    ['string value too large', () => str.write('ééé', 0), /does not fit in maxBytes 4 \(it needs 6\)/],
    ['v8 function', () => cell.write(() => 1, 0), /'v8' codec/],
    ['v8 SharedArrayBuffer', () => cell.write(new SharedArrayBuffer(4), 0), /'v8' codec cannot encode/],
    ['json undefined', () => json.write(undefined, 0), /'json' codec encodes JSON values, got undefined/],
    ['string number', () => str.write(42, 0), /'string' codec encodes strings, got number 42/],
    ['expectedVersion -1', () => cell.write('x', -1), /expectedVersion must be an integer >= 0, got -1/],
    ['expectedVersion 1.5', () => cell.write('x', 1.5), /got 1\.5/],
    ['expectedVersion NaN', () => cell.write('x', NaN), /got NaN/],
    ['expectedVersion Infinity', () => cell.write('x', Infinity), /got Infinity/],
    ['retries -1', () => cell.update((v) => v, { retries: -1 }), /retries must be an integer >= 0, got -1/],
    ['retries NaN', () => cell.update((v) => v, { retries: NaN }), /got NaN/],
    ['update fn missing', () => cell.update(undefined as never), /fn must be a function/],
    [
      'update with a misspelled option',
      () => cell.update((v) => v, { retires: 3 } as never),
      /versionedCell\.update\(fn, options\): unknown option "retires"; did you mean "retries"\?/,
    ],
    [
      'update options not an object',
      () => cell.update((v) => v, 3 as never),
      /versionedCell\.update\(fn, options\): options must be an object, got 3/,
    ],
    [
      'a misspelled option',
      () => new VersionedCell({ maxBytes: 8, inital: 'x' } as never),
      /new VersionedCell\(options\): unknown option "inital"; did you mean "initial"\?/,
    ],
    [
      'byteLength with a misspelled option',
      () => VersionedCell.byteLength({ maxbytes: 8 } as never),
      /VersionedCell\.byteLength\(options\): unknown option "maxbytes"; did you mean "maxBytes"\?/,
    ],
    [
      'from with a misspelled option',
      () => VersionedCell.from(json.handle, { Codec: 'json' } as never),
      /VersionedCell\.from\(handle, options\): unknown option "Codec"; did you mean "codec"\?/,
    ],
  ];
  it.each(table)('%s → InvalidArgumentError', (_name, fn, message) => {
    expectCode(fn, ErrorCode.INVALID_ARG, message);
  });

  it('leaves every cell unchanged and writable after every refusal', () => {
    for (const [, fn] of table) thrown(fn);
    for (const c of [cell, json, str]) {
      expect(c.read()).toEqual({ value: 'keep', version: 0 });
      expect(c.write('ok', 0)).toBe(1);
      expect(c.read()).toEqual({ value: 'ok', version: 1 });
    }
  });

  it('a user codec whose encodeInto throws leaves the cell unchanged', () => {
    let fail = true;
    const flaky: Codec<string> = {
      encode: (s) => new TextEncoder().encode(s),
      decode: (b) => new TextDecoder().decode(b),
      encodeInto(s, target) {
        if (fail) throw new RangeError('codec failure');
        return new TextEncoder().encodeInto(s, target).written;
      },
    };
    const c = new VersionedCell({ maxBytes: 16, codec: flaky, initial: 'a' });
    expect(thrown(() => c.write('b', 0))).toBeInstanceOf(RangeError);
    expect(c.read()).toEqual({ value: 'a', version: 0 });
    fail = false;
    expect(c.write('b', 0)).toBe(1);
    expect(c.read()).toEqual({ value: 'b', version: 1 });
  });

  it('a codec that writes back into the cell it is encoding for is a DeadlockError, not a hang', () => {
    const reentrant: Codec<string> = {
      encode: (s) => new TextEncoder().encode(s),
      decode: (b) => new TextDecoder().decode(b),
      encodeInto(s, target) {
        if (s === 'again') cell.write('inner', 0);
        return new TextEncoder().encodeInto(s, target).written;
      },
    };
    const cell = new VersionedCell({ maxBytes: 16, codec: reentrant, initial: 'a' });
    expectCode(() => cell.write('again', 0), ErrorCode.DEADLOCK);
    expect(cell.read()).toEqual({ value: 'a', version: 0 });
    expect(cell.write('b', 0)).toBe(1);
  });
});

describe('VersionedCell handles', () => {
  it('re-open the same cell from a structured clone, and in a SharedArena', () => {
    const arena = new SharedArena({ byteLength: 8192 });
    const a = new VersionedCell({ arena, maxBytes: 200, initial: { id: 'a' } });
    const b = new VersionedCell({ arena, maxBytes: 200, codec: 'json', initial: { id: 'b' } });
    expect(a.handle.buffer).toBe(b.handle.buffer);
    expect(a.handle.options).toEqual({ maxBytes: 200, codec: 'v8' });
    expect(VersionedCell.byteLength({ maxBytes: 200 })).toBe(a.handle.byteLength);
    const a2 = VersionedCell.from<{ id: string }>(structuredClone(a.handle));
    const b2 = VersionedCell.from(structuredClone(b.handle), { codec: 'json' });
    a2.write({ id: 'a2' }, 0);
    expect(a.read()).toEqual({ value: { id: 'a2' }, version: 1 });
    expect(b2.read()).toEqual({ value: { id: 'b' }, version: 0 });
  });

  it("records a user codec as 'custom' and needs it again to re-open", () => {
    const rev: Codec<string> = {
      encode: (s) => new TextEncoder().encode(s).reverse(), // UTF-8 bytes reversed: a codec of its own
      decode: (b) => new TextDecoder().decode(b.slice().reverse()),
    };
    const cell = new VersionedCell({ maxBytes: 32, codec: rev, initial: 'hello' });
    expect(cell.handle.options.codec).toBe('custom');
    const h = structuredClone(cell.handle);
    expectCode(() => VersionedCell.from(h), ErrorCode.HANDLE, /custom codec.*VersionedCell\.from\(handle, \{ codec \}\)/);
    expectCode(() => VersionedCell.from(h, { codec: 'v8' }), ErrorCode.HANDLE, /custom codec/);
    expect(VersionedCell.from(h, { codec: rev }).read()).toEqual({ value: 'hello', version: 0 });
    const json = new VersionedCell({ maxBytes: 32, codec: 'json' });
    expectCode(() => VersionedCell.from(json.handle, { codec: 'v8' }), ErrorCode.HANDLE, /uses the 'json' codec, got 'v8'/);
    expectCode(() => VersionedCell.from(json.handle, { codec: rev as never }), ErrorCode.HANDLE, /got a custom codec/);
    expectCode(() => VersionedCell.from({ ...json.handle, options: { maxBytes: 32, codec: 'yaml' } } as never), ErrorCode.HANDLE);
    expectCode(() => VersionedCell.from({ ...json.handle, options: { maxBytes: 64, codec: 'json' } } as never), ErrorCode.HANDLE);
  });
});

describe('VersionedCell across threads', () => {
  let workers: CounterWorker[] = [];
  beforeAll(async () => {
    workers = await Promise.all([CounterWorker.start(), CounterWorker.start(), CounterWorker.start(), CounterWorker.start()]);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });

  for (const codec of ['v8', 'json'] as const) {
    it(`${codec}: three workers' updates are exact, with conflicts retried, and a reader never sees a torn value`, async () => {
      const N = 1500;
      const cell = new VersionedCell<Tally>({ maxBytes: 256, codec, initial: tallyAt(0) });
      const g = gate();
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const [reader, ...writers] = workers;
      const reads = reader!.call('cellReadUntil', cell.handle, codec, g.word, stop);
      const runs = writers.map((w) => w.call('cellIncrement', cell.handle, N, codec, g.word));
      g.open();
      const attempts = await Promise.all(runs);
      Atomics.store(stop, 0, 1);
      expect(await reads).toBeGreaterThan(0);
      const { value, version } = cell.read();
      expect(version).toBe(writers.length * N);
      expect(value.count).toBe(writers.length * N);
      expect(value.pad).toBe(tallyAt(value.count).pad);
      const total = attempts.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThanOrEqual(writers.length * N); // attempts − N per worker = conflicts retried
      expect(new Set(value.by).size).toBeGreaterThan(0);
    });
  }

  it('a writer that dies mid-write leaves the old value, blocks no reader, and the next write takes over', async () => {
    const doomed = await CounterWorker.start();
    const cell = new VersionedCell<Tally>({ maxBytes: 128, initial: tallyAt(0) });
    cell.write(tallyAt(1), 0);
    await doomed.abandonWrite(cell.handle, 1);
    // The claim is held (the inactive buffer scribbled over), yet reads go on, untorn.
    expect(cell.read()).toEqual({ value: tallyAt(1), version: 1 });
    // Another thread's update waits for the live holder...
    const waiting = workers[0]!.call('cellIncrement', cell.handle, 1, 'v8', gate().word.fill(1));
    // ...and a stale write fails at once, without waiting.
    expectCode(() => cell.write(tallyAt(9), 0), ErrorCode.CONFLICT);
    await doomed.stop();
    // The waiter takes over from the dead holder (its liveness slices see the death).
    const attempts = await Promise.race([
      waiting,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('update still blocked 5 s after the holder died')), 5000)),
    ]);
    expect(attempts).toBe(1);
    expect(cell.read()).toEqual({ value: { ...tallyAt(2), by: [workers[0]!.threadId] }, version: 2 });
    expect(cell.write(tallyAt(3), 2)).toBe(3);
  });

  it('a dead holder found by a write in this thread is replaced at once', async () => {
    const doomed = await CounterWorker.start();
    const cell = new VersionedCell<Tally>({ maxBytes: 128, initial: tallyAt(0) });
    await doomed.abandonWrite(cell.handle, 0);
    await doomed.stop();
    expect(cell.read()).toEqual({ value: tallyAt(0), version: 0 });
    expect(cell.write(tallyAt(1), 0)).toBe(1);
    expect(cell.read()).toEqual({ value: tallyAt(1), version: 1 });
    expect(cell.update((t) => tallyAt(t.count + 1)).version).toBe(2);
  });
});
