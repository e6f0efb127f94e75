import { afterAll, afterEach, assert, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_SEQLOCK_BYTES, SeqLock } from '../../src/atomic/seqlock.js';
import { SharedArena } from '../../src/memory/arena.js';
import type { Codec } from '../../src/memory/codec.js';
import { ErrorCode } from '../../src/errors.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { reopen } from '../../src/integrations/kinds.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { checkLinearizable, closeThreads, registerModel, runThreads, warmThreads } from '../../src/testing/index.js';
import { HOLD_STEPS, RELEASE, SHARED_WORDS, STRIDE, TORN, type SeqLockInput, type SeqLockShared } from '../../props/seqlock/program.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { until } from '../helpers/wait.js';

describe('SeqLock', () => {
  it('reads the initial value and every write replaces it', () => {
    const lock = new SeqLock<{ n: number; tags: string[] }>({ maxBytes: 128, initial: { n: 1, tags: ['a'] } });
    expect(lock.read()).toEqual({ n: 1, tags: ['a'] });
    lock.write({ n: 2, tags: [] });
    expect(lock.read()).toEqual({ n: 2, tags: [] });
    lock.write({ n: 3, tags: ['b', 'c'] });
    expect(lock.read()).toEqual({ n: 3, tags: ['b', 'c'] });
    expect(lock.writes).toBe(2);
    expect(lock.isWriting).toBe(false);
  });

  it('holds undefined when no initial value is given', () => {
    const lock = new SeqLock<string | undefined>({ maxBytes: 16, codec: 'string' });
    expect(lock.read()).toBeUndefined();
    lock.write('');
    expect(lock.read()).toBe('');
  });

  it('returns private copies: changing a read value changes nothing shared', () => {
    const lock = new SeqLock({ maxBytes: 64, initial: { list: [1, 2] } });
    lock.read().list.push(3);
    expect(lock.read()).toEqual({ list: [1, 2] });
    const bytes = new SeqLock({ maxBytes: 8, codec: 'bytes', initial: new Uint8Array([1, 2]) });
    const b = bytes.read();
    b[0] = 9;
    expect(Array.from(bytes.read())).toEqual([1, 2]);
  });

  it('works with every built-in codec, and values up to maxBytes, in both buffers', () => {
    const big = 'é'.repeat(500); // 1000 bytes of UTF-8
    const cases: [SeqLock, unknown, unknown][] = [
      [new SeqLock({ maxBytes: 1000, codec: 'string', initial: 'x' }), 'x', big],
      [new SeqLock({ maxBytes: 1002, codec: 'json', initial: { a: 1 } }), { a: 1 }, big],
      [new SeqLock({ maxBytes: 2000, codec: 'v8', initial: new Map([[1, 2]]) }), new Map([[1, 2]]), new Set([big])],
      [new SeqLock({ maxBytes: 1000, codec: 'bytes', initial: new Uint8Array([1]) }), new Uint8Array([1]), new Uint8Array(1000).fill(7)],
    ];
    for (const [lock, first, next] of cases) {
      expect(lock.read()).toEqual(first);
      lock.write(next);
      expect(lock.read()).toEqual(next);
      expect(lock.tryWrite(first)).toBe(true);
      expect(lock.read()).toEqual(first);
    }
  });

  it('writeFrom/readInto store float64 records and say how many numbers they hold', () => {
    const quote = new SeqLock({ maxBytes: 32 });
    const out = new Float64Array(4);
    expect(quote.readInto(out)).toBe(0); // nothing written yet
    quote.writeFrom([101.5, 1_700_000_000_123]);
    expect(quote.readInto(out)).toBe(2);
    expect(Array.from(out.subarray(0, 2))).toEqual([101.5, 1_700_000_000_123]);
    quote.writeFrom(new Float64Array([-0, NaN, Infinity, 2 ** -1074]));
    expect(quote.readInto(out)).toBe(4);
    expect(Object.is(out[0], -0)).toBe(true);
    expect(out[1]).toBeNaN();
    expect(out.slice(2)).toEqual(new Float64Array([Infinity, 2 ** -1074]));
    quote.writeFrom([]);
    out.fill(7);
    expect(quote.readInto(out)).toBe(0);
    expect(out[0]).toBe(7); // untouched
  });

  it('a value is read back in the form it was written', () => {
    const lock = new SeqLock<number[]>({ maxBytes: 64, codec: 'json', initial: [1] });
    expectCode(() => lock.readInto(new Float64Array(2)), ErrorCode.INVALID_ARG, /written by write: read it with read\(\)/);
    lock.writeFrom([1, 2]);
    expectCode(() => lock.read(), ErrorCode.INVALID_ARG, /written by writeFrom: read it with readInto/);
    expectCode(() => lock.readInto(new Float64Array(1)), ErrorCode.INVALID_ARG, /the record has 2 numbers, got a target of length 1/);
    lock.write([3]);
    expect(lock.read()).toEqual([3]);
  });

  it('a user codec whose encodeInto throws, or that re-enters write, leaves the value unchanged', () => {
    let fail = true;
    const codec: Codec<string> = {
      encode: (s) => new TextEncoder().encode(s),
      decode: (b) => new TextDecoder().decode(b),
      encodeInto(s, target) {
        if (fail) throw new RangeError('codec failure');
        if (s === 'again') lock.write('inner');
        return new TextEncoder().encodeInto(s, target).written;
      },
    };
    const lock = new SeqLock({ maxBytes: 16, codec, initial: 'a' });
    expect(thrown(() => lock.write('b'))).toBeInstanceOf(RangeError);
    expect(lock.read()).toBe('a');
    fail = false;
    expectCode(() => lock.write('again'), ErrorCode.DEADLOCK, /re-entered/);
    expect(lock.read()).toBe('a');
    expect(lock.isWriting).toBe(false);
    lock.write('b');
    expect(lock.read()).toBe('b');
  });
});

describe('SeqLock misuse', () => {
  const lock = new SeqLock<unknown>({ maxBytes: 32, initial: 'keep' });
  const json = new SeqLock<unknown>({ maxBytes: 16, codec: 'json', initial: 'keep' });
  const str = new SeqLock<unknown>({ maxBytes: 4, codec: 'string', initial: 'keep' });
  const table: [string, () => unknown, RegExp][] = [
    ['maxBytes negative', () => new SeqLock({ maxBytes: -1 }), /maxBytes must be an integer in \[1, 536870912\], got -1/],
    ['maxBytes 0', () => new SeqLock({ maxBytes: 0 }), /got 0/],
    ['maxBytes 1.5', () => new SeqLock({ maxBytes: 1.5 }), /got 1\.5/],
    ['maxBytes NaN', () => new SeqLock({ maxBytes: NaN }), /got NaN/],
    ['maxBytes too large', () => new SeqLock({ maxBytes: MAX_SEQLOCK_BYTES + 1 }), /got 536870913/],
    ['maxBytes missing', () => new SeqLock({} as never), /new SeqLock\(options\): maxBytes is required/],
    ['options not an object', () => new SeqLock(5 as never), /new SeqLock\(options\): options must be an object, got 5/],
    [
      'initial too large',
      () => new SeqLock({ maxBytes: 4, initial: 'much too long' }),
      /value needs \d+ bytes encoded, more than maxBytes 4/,
    ],
    ['unknown codec', () => new SeqLock({ maxBytes: 4, codec: 'yaml' as never }), /codec must be one of/],
    ['v8 value too large', () => lock.write('x'.repeat(100)), /more than maxBytes 32/],
    ['json value too large', () => json.write('x'.repeat(100)), /does not fit in maxBytes 16 \(it needs 102\)/],
    ['string value too large', () => str.tryWrite('ééé'), /does not fit in maxBytes 4 \(it needs 6\)/],
    ['v8 function', () => lock.write(() => 1), /'v8' codec/],
    ['json undefined', () => json.write(undefined), /'json' codec encodes JSON values, got undefined/],
    ['string number', () => str.write(42), /'string' codec encodes strings, got number 42/],
    [
      'write timeoutMs negative',
      () => lock.write('x', { timeoutMs: -1 }),
      /timeoutMs must be a number of milliseconds >= 0 \(or Infinity\), got -1/,
    ],
    ['write timeoutMs NaN', () => lock.write('x', { timeoutMs: NaN }), /got NaN/],
    ['writeFrom record too long', () => lock.writeFrom([1, 2, 3, 4, 5]), /5 numbers need 40 bytes, more than maxBytes 32/],
    ['writeFrom a string', () => lock.writeFrom('12' as never), /values must be a Float64Array or an array of numbers, got "12"/],
    ['writeFrom a non-number', () => lock.writeFrom([1, '2' as never]), /values\[1\] must be a number, got "2"/],
    ['writeFrom timeoutMs negative', () => lock.writeFrom([1], { timeoutMs: -5 }), /got -5/],
    [
      'a misspelled option',
      () => new SeqLock({ maxBytes: 8, codc: 'json' } as never),
      /new SeqLock\(options\): unknown option "codc"; did you mean "codec"\?/,
    ],
    [
      'byteLength with a misspelled option',
      () => SeqLock.byteLength({ maxByte: 8 } as never),
      /SeqLock\.byteLength\(options\): unknown option "maxByte"; did you mean "maxBytes"\?/,
    ],
    [
      'from with a misspelled option',
      () => SeqLock.from(json.handle, { codex: 'json' } as never),
      /SeqLock\.from\(handle, options\): unknown option "codex"; did you mean "codec"\?/,
    ],
    [
      'from with a handle option',
      () => SeqLock.from(json.handle, { maxBytes: 16 } as never),
      /option "maxBytes" comes from the handle and cannot be given again/,
    ],
    [
      'write with a misspelled option',
      () => lock.write('x', { timeoutMS: 5 } as never),
      /seqLock\.write\(value, options\): unknown option "timeoutMS"; did you mean "timeoutMs"\?/,
    ],
    [
      'writeFrom with a misspelled option',
      () => lock.writeFrom([1], { timout: 5 } as never),
      /seqLock\.writeFrom\(values, options\): unknown option "timout"; did you mean "timeoutMs"\?/,
    ],
    [
      'write with both timeout names',
      () => lock.write('x', { timeout: 5, timeoutMs: 5 }),
      /"timeout" is the old name of "timeoutMs"; give only "timeoutMs"/,
    ],
    ['readInto a plain array', () => lock.readInto([0, 0] as never), /target must be a Float64Array, got an array/],
  ];
  it.each(table)('%s → InvalidArgumentError', (_name, fn, message) => {
    expectCode(fn, ErrorCode.INVALID_ARG, message);
  });

  it('leaves every lock unchanged and writable after every refusal', () => {
    for (const [, fn] of table) thrown(fn);
    for (const l of [lock, json, str]) {
      expect(l.read()).toBe('keep');
      expect(l.isWriting).toBe(false);
      l.write('ok');
      expect(l.read()).toBe('ok');
    }
  });
});

describe('SeqLock deprecated names', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    resetDeprecationsForTesting();
  });

  it('write and writeFrom still take `timeout`, with the same result as `timeoutMs`, and warn once (SABRE_DEP_TIMEOUT)', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const lock = new SeqLock<string>({ maxBytes: 32, initial: 'a' });
    lock.write('b', { timeout: 0 });
    expect(lock.read()).toBe('b');
    lock._abandonWriteForTesting(); // this thread holds the claim, as a live writer would: waiting is a deadlock
    expectCode(() => lock.write('c', { timeout: 0 }), ErrorCode.DEADLOCK);
    expectCode(() => lock.write('c', { timeoutMs: 0 }), ErrorCode.DEADLOCK);
    const other = new SeqLock({ maxBytes: 16 });
    other.writeFrom([1, 2], { timeout: 10 });
    const got = new Float64Array(2);
    expect(other.readInto(got)).toBe(2);
    expect(Array.from(got)).toEqual([1, 2]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toEqual({ type: 'DeprecationWarning', code: 'SABRE_DEP_TIMEOUT' });
    expect(String(warn.mock.calls[0]![0])).toMatch(/timeoutMs.*seqLock\.write\(value, options\)/);
  });
});

describe('SeqLock handles', () => {
  it('re-open the same lock from a structured clone, in a SharedArena, and through the kind table', () => {
    const arena = new SharedArena({ byteLength: 8192 });
    const a = new SeqLock({ arena, maxBytes: 200, initial: { id: 'a' } });
    const b = new SeqLock({ arena, maxBytes: 200, codec: 'json', initial: { id: 'b' } });
    expect(a.handle.buffer).toBe(b.handle.buffer);
    expect(a.handle.options).toEqual({ maxBytes: 200, codec: 'v8' });
    expect(SeqLock.byteLength({ maxBytes: 200 })).toBe(a.handle.byteLength);
    const a2 = SeqLock.from<{ id: string }>(structuredClone(a.handle));
    a2.write({ id: 'a2' });
    expect(a.read()).toEqual({ id: 'a2' });
    expect(SeqLock.from(structuredClone(b.handle), { codec: 'json' }).read()).toEqual({ id: 'b' });
    const again = reopen(structuredClone(b.handle));
    assert(again instanceof SeqLock);
    expect(again.read()).toEqual({ id: 'b' });
  });

  it("records a user codec as 'custom' and needs it again to re-open", () => {
    const rev: Codec<string> = {
      encode: (s) => new TextEncoder().encode(s).reverse(), // UTF-8 bytes reversed: a codec of its own
      decode: (b) => new TextDecoder().decode(b.slice().reverse()),
    };
    const lock = new SeqLock({ maxBytes: 32, codec: rev, initial: 'hello' });
    expect(lock.handle.options.codec).toBe('custom');
    const h = structuredClone(lock.handle);
    expectCode(() => SeqLock.from(h), ErrorCode.HANDLE, /custom codec.*SeqLock\.from\(handle, \{ codec \}\)/);
    expect(SeqLock.from(h, { codec: rev }).read()).toBe('hello');
    const json = new SeqLock({ maxBytes: 32, codec: 'json' });
    expectCode(() => SeqLock.from(json.handle, { codec: 'v8' }), ErrorCode.HANDLE, /uses the 'json' codec, got 'v8'/);
    expectCode(
      () => SeqLock.from({ ...json.handle, options: { maxBytes: 32, codec: 'json', extra: 1 } } as never),
      ErrorCode.HANDLE,
      /unknown option "extra"/,
    );
    expectCode(() => SeqLock.from({ ...json.handle, kind: 'sabre.VersionedCell' } as never), ErrorCode.HANDLE);
  });
});

describe('SeqLock across threads', () => {
  const program = new URL('../../props/seqlock/program.ts', import.meta.url);
  const words = (): Int32Array => new Int32Array(new SharedArrayBuffer(4 * SHARED_WORDS));
  beforeAll(() => warmThreads(3));
  afterAll(closeThreads);

  for (const kind of ['float64', 'json'] as const) {
    it(`${kind}: readers never see a torn [n, 2n, 3n] record while a writer replaces it, and the history is linearizable`, async () => {
      const lock =
        kind === 'float64'
          ? new SeqLock({ maxBytes: 24 })
          : new SeqLock({ maxBytes: 64, codec: 'json', initial: { n: 0, double: 0, triple: 0 } });
      const { shared, history } = await runThreads<SeqLockShared, SeqLockInput>({
        threads: [
          { role: 'writer', ops: 400 },
          { role: 'reader', ops: 400 },
          { role: 'reader', ops: 400 },
        ],
        program,
        shared: { target: { kind, lock: lock.handle }, words: words() },
        seed: 7,
        yields: { probability: 0.05, maxDelayMs: 0.02 },
      });
      expect(Atomics.load(shared.words, TORN)).toBe(0);
      const verdict = checkLinearizable(history, registerModel(0), { timeoutMs: 20_000 });
      expect(verdict.result, verdict.summary).toBe('ok');
      const last = 400; // writer thread 0: n = 0 * STRIDE + i
      if (kind === 'float64') {
        const out = new Float64Array(3);
        expect(lock.readInto(out)).toBe(3);
        expect(Array.from(out)).toEqual([last, 2 * last, 3 * last]);
      } else {
        expect(lock.read()).toEqual({ n: last, double: 2 * last, triple: 3 * last });
      }
    });
  }

  it('a live writer mid-write: tryWrite says false, write times out, readers read on', async () => {
    const lock = new SeqLock({ maxBytes: 24 });
    lock.writeFrom([1, 2, 3]);
    const shared: SeqLockShared = { target: { kind: 'float64', lock: lock.handle }, words: words() };
    const run = runThreads<SeqLockShared, SeqLockInput>({ threads: [{ role: 'hold', ops: 0 }], program, shared, seed: 1 });
    await until(() => lock.isWriting);
    const out = new Float64Array(3);
    expect(lock.readInto(out)).toBe(3);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    expect(lock.tryWrite([9] as never)).toBe(false);
    expectCode(() => lock.writeFrom([9, 9, 9], { timeoutMs: 30 }), ErrorCode.TIMEOUT, /waiting for thread \d+ to finish writing/);
    expect(lock.readInto(out)).toBe(3);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    Atomics.store(shared.words, RELEASE, 1);
    await run;
  });

  it('a writer killed mid-write leaves the previous record readable, and the next write takes over', async () => {
    const lock = new SeqLock({ maxBytes: 24 });
    lock.writeFrom([1, 2, 3]);
    const { killed, threads } = await runThreads<SeqLockShared, SeqLockInput>({
      threads: [{ role: 'hold', ops: 0 }],
      program,
      shared: { target: { kind: 'float64', lock: lock.handle }, words: words() },
      seed: 2,
      kill: { thread: 0, atStep: HOLD_STEPS + 1 },
    });
    expect(killed).toBe(0);
    expect(ThreadRegistry.current.isAlive(threads[0]!.threadId)).toBe(false);
    expect(lock.isWriting).toBe(true); // the claim is still the dead thread's
    const out = new Float64Array(3);
    expect(lock.readInto(out)).toBe(3);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    expect(lock.tryWrite([4] as never)).toBe(true); // a dead holder is replaced at once
    expect(lock.isWriting).toBe(false);
    lock.writeFrom([5, 10, 15]);
    expect(lock.readInto(out)).toBe(3);
    expect(Array.from(out)).toEqual([5, 10, 15]);
  });

  it('a writer thread waiting behind a writer that dies takes over, and readers finish untorn', async () => {
    const lock = new SeqLock({ maxBytes: 24 });
    lock.writeFrom([0, 0, 0]);
    const shared: SeqLockShared = { target: { kind: 'float64', lock: lock.handle }, words: words() };
    const { killed } = await runThreads<SeqLockShared, SeqLockInput>({
      threads: [
        { role: 'hold', ops: 0 },
        { role: 'writer', ops: 50 },
        { role: 'reader', ops: 200 },
      ],
      program,
      shared,
      seed: 3,
      kill: { thread: 0, atStep: HOLD_STEPS + 1 },
      timeoutMs: 5000,
    });
    expect(killed).toBe(0);
    expect(Atomics.load(shared.words, TORN)).toBe(0);
    const out = new Float64Array(3);
    lock.readInto(out);
    const last = STRIDE + 50; // writer thread 1's last write
    expect(Array.from(out)).toEqual([last, 2 * last, 3 * last]);
    // Whoever holds the claim now (the dead thread, if it got it last), this thread's write goes through.
    lock.writeFrom([1, 2, 3], { timeoutMs: 5000 });
    lock.readInto(out);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });
});
