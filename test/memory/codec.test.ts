import { describe, expect, it } from 'vitest';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { CODEC_NAMES, encodeInto, resolveCodec, type Codec } from '../../src/memory/codec.js';
import { thrown } from '../helpers/errors.js';

function expectInvalid(fn: () => unknown, message?: RegExp): void {
  const e = thrown(fn);
  expect(isSabreError(e, ErrorCode.INVALID_ARG), `expected ERR_INVALID_ARG, got ${String(e)}`).toBe(true);
  if (message) expect((e as Error).message).toMatch(message);
}
/** A Uint8Array over shared memory holding `bytes`. */
function shared(bytes: Uint8Array): Uint8Array {
  const u = new Uint8Array(new SharedArrayBuffer(bytes.length + 8), 4, bytes.length);
  u.set(bytes);
  return u;
}

describe('resolveCodec', () => {
  it('defaults to v8 and resolves every built-in by name', () => {
    expect(resolveCodec().name).toBe('v8');
    for (const name of CODEC_NAMES) expect(resolveCodec(name).name).toBe(name);
    expect(resolveCodec('v8').codec).toBe(resolveCodec().codec);
  });

  it("accepts a user codec as 'custom', and refuses anything else", () => {
    const upper: Codec<string> = {
      encode: (s) => new TextEncoder().encode(s.toUpperCase()),
      decode: (b) => new TextDecoder().decode(b),
    };
    const r = resolveCodec(upper);
    expect(r.name).toBe('custom');
    expect(r.codec.decode(r.codec.encode('abc'))).toBe('ABC');
    expectInvalid(() => resolveCodec('msgpack' as never), /codec must be one of 'v8', 'json', 'string', 'bytes'.*got "msgpack"/);
    expectInvalid(() => resolveCodec({ encode: () => new Uint8Array() } as never), /got an object/);
    expectInvalid(() => resolveCodec(42 as never), /got number 42/);
    expectInvalid(() => resolveCodec({ ...upper, encodeInto: 'fast' } as never), /encodeInto must be a function/);
    expectInvalid(() => resolveCodec('toString' as never));
  });
});

describe('built-in codecs round-trip', () => {
  const cases: [name: 'v8' | 'json' | 'string' | 'bytes', values: unknown[]][] = [
    [
      'v8',
      [
        undefined,
        null,
        0,
        -1.5,
        'é漢🙂',
        [1, [2]],
        { a: 1, nested: { b: [true] } },
        new Map([[1, { x: 2 }]]),
        new Date(0),
        12345678901234567890n,
        new Uint8Array([1, 2, 3]),
      ],
    ],
    ['json', [null, 0, 'é漢🙂', [1, 'two', null], { a: 1, nested: { b: [true, false] } }]],
    ['string', ['', 'plain', 'é漢🙂', 'x'.repeat(10_000)]],
    ['bytes', [new Uint8Array(0), new Uint8Array([0, 255, 7])]],
  ];
  for (const [name, values] of cases) {
    it(`${name}: encode/decode, and decode from shared memory`, () => {
      const { codec } = resolveCodec(name);
      for (const v of values) {
        const bytes = codec.encode(v);
        expect(bytes).toBeInstanceOf(Uint8Array);
        expect(codec.decode(bytes)).toEqual(v);
        expect(codec.decode(shared(bytes))).toEqual(v);
      }
    });
  }

  it('encodeInto writes the same bytes as encode, and -1 when they do not fit', () => {
    for (const [name, values] of cases) {
      const { codec } = resolveCodec(name);
      for (const v of values) {
        const want = codec.encode(v);
        const target = shared(new Uint8Array(want.length));
        expect(encodeInto(codec, v as never, target), `${name} ${String(v)}`).toBe(want.length);
        expect(Array.from(target)).toEqual(Array.from(want));
        if (want.length > 0) expect(encodeInto(codec, v as never, new Uint8Array(want.length - 1))).toBe(-1);
      }
    }
  });

  it('json and string have a native encodeInto fast path; v8 does not (it goes through encode)', () => {
    expect(typeof resolveCodec('json').codec.encodeInto).toBe('function');
    expect(typeof resolveCodec('string').codec.encodeInto).toBe('function');
    expect(typeof resolveCodec('bytes').codec.encodeInto).toBe('function');
    expect(typeof resolveCodec('v8').codec.encodeInto).toBe('undefined');
  });

  it('string encodeInto refuses a string whose UTF-8 is longer than the target even if its length fits', () => {
    const { codec } = resolveCodec('string');
    expect(codec.encodeInto!('ééé', new Uint8Array(5))).toBe(-1); // 3 code units, 6 bytes
    expect(codec.encodeInto!('ééé', new Uint8Array(6))).toBe(6);
  });
});

describe('decoding copies out of shared memory', () => {
  it('bytes decodes to a private copy that later writes to the shared bytes do not change', () => {
    const { codec } = resolveCodec('bytes');
    const src = shared(new Uint8Array([1, 2, 3]));
    const out = codec.decode(src);
    src[0] = 99;
    expect(Array.from(out)).toEqual([1, 2, 3]);
    expect(out.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('v8 decodes from shared memory into values that own no shared memory', () => {
    const { codec } = resolveCodec('v8');
    const decoded = codec.decode(shared(codec.encode({ bytes: new Uint8Array([5, 6]) }))) as { bytes: Uint8Array };
    expect(Array.from(decoded.bytes)).toEqual([5, 6]);
    expect(decoded.bytes.buffer).toBeInstanceOf(ArrayBuffer);
  });
});

describe('values a codec cannot encode are InvalidArgumentError', () => {
  const v8 = resolveCodec('v8').codec;
  const json = resolveCodec('json').codec;
  const string = resolveCodec('string').codec;
  const bytes = resolveCodec('bytes').codec;
  const table: [string, () => unknown, RegExp][] = [
    ['v8 function', () => v8.encode(() => 1), /'v8' codec.*got a function/],
    ['v8 symbol', () => v8.encode(Symbol('s')), /'v8' codec.*got a symbol/],
    ['v8 SharedArrayBuffer', () => v8.encode(new SharedArrayBuffer(8)), /'v8' codec cannot encode.*SharedArrayBuffer/],
    ['v8 nested function', () => v8.encode({ f: () => 1 }), /'v8' codec cannot encode/],
    ['json function', () => json.encode(() => 1), /'json' codec encodes JSON values, got a function/],
    ['json undefined', () => json.encode(undefined), /'json' codec encodes JSON values, got undefined/],
    ['json symbol', () => json.encode(Symbol('s')), /got a symbol/],
    ['json bigint', () => json.encode(1n), /'json' codec cannot encode.*BigInt/],
    [
      'json cycle',
      () => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return json.encode(o);
      },
      /'json' codec cannot encode/,
    ],
    ['json encodeInto function', () => json.encodeInto!(() => 1, new Uint8Array(8)), /got a function/],
    ['string number', () => string.encode(42 as never), /'string' codec encodes strings, got number 42/],
    ['string encodeInto object', () => string.encodeInto!({} as never, new Uint8Array(8)), /encodes strings, got an object/],
    ['bytes string', () => bytes.encode('abc' as never), /'bytes' codec encodes a Uint8Array, got string "abc"/],
    ['bytes Int32Array', () => bytes.encode(new Int32Array(2) as never), /got a Int32Array/],
    ['v8 decode garbage', () => v8.decode(new Uint8Array([0xff, 0x0d, 0x63])), /'v8' codec cannot decode/],
    ['json decode garbage', () => json.decode(new TextEncoder().encode('{nope')), /'json' codec cannot decode/],
    ['decode a non-Uint8Array', () => string.decode('abc' as never), /decodes a Uint8Array/],
  ];
  it.each(table)('%s', (_name, fn, message) => expectInvalid(fn, message));

  it('encodeInto refuses a user codec that reports an impossible length', () => {
    const liar: Codec<string> = { encode: () => new Uint8Array(1), decode: () => '', encodeInto: () => 99 };
    expectInvalid(() => encodeInto(liar, 'x', new Uint8Array(4)), /must return the bytes written \(0\.\.4\) or -1, got 99/);
    const notBytes = { encode: () => 'nope', decode: () => '' } as unknown as Codec<string>;
    expectInvalid(() => encodeInto(notBytes, 'x', new Uint8Array(4)), /encode must return a Uint8Array/);
  });
});

describe('string codec details', () => {
  it('round-trips a leading U+FEFF (a byte order mark is text like any other)', () => {
    const { codec } = resolveCodec('string');
    expect(codec.decode(codec.encode('\ufeffhé'))).toBe('\ufeffhé');
    expect(codec.decode(new Uint8Array([0xff, 0x61]))).toBe('\ufffda');
    const shared = new Uint8Array(new SharedArrayBuffer(8));
    shared.set(codec.encode('día'));
    expect(codec.decode(shared.subarray(0, 4))).toBe('día');
  });
});

describe('float64Record', () => {
  it('round-trips records of numbers exactly, and refuses a target too small', async () => {
    const { float64Record } = await import('../../src/memory/codec.js');
    const codec = float64Record('a', 'b');
    const r = { a: 2 ** 53 - 1, b: -0.5 };
    expect(codec.decode(codec.encode(r))).toEqual(r);
    expect(codec.encodeInto!(r, new Uint8Array(15))).toBe(-1);
    expect(codec.encodeInto!(r, new Uint8Array(16))).toBe(16);
  });
});
