import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { defineOptions } from '../../src/options/schema.js';
import { boolean, duration, fn, integer, local, number, oneOf, signal, timeout, withDefault } from '../../src/options/field.js';
import { closest, editDistance } from '../../src/options/suggest.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { expectCode } from '../helpers/errors.js';

const schema = defineOptions(
  'new Thing(options)',
  {
    capacity: integer({ max: 100 }),
    ttlMs: duration({ positive: true, default: Infinity }),
    timeoutMs: timeout(),
    policy: oneOf(['lru', 'lfu'] as const, 'lru'),
    ratio: number({ above: 0, max: 1, default: 0.5 }),
    strict: boolean(),
    onEvict: fn(),
    signal: signal(),
    note: local(withDefault(integer({ min: 0 }), 7)),
  },
  {
    renamed: { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } },
    positional: 'capacity',
    check: (o) => {
      if (o.strict && o.policy === 'lfu') throw new RangeError('strict lfu is not a thing');
    },
  },
);

describe('option schemas', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    resetDeprecationsForTesting();
  });

  it('fills in defaults and keeps given values', () => {
    const o = schema.parse({ capacity: 10, ttlMs: 5 });
    expect(o).toMatchObject({
      capacity: 10,
      ttlMs: 5,
      timeoutMs: Infinity,
      policy: 'lru',
      ratio: 0.5,
      strict: false,
      onEvict: undefined,
      signal: undefined,
      note: 7,
    });
  });

  it('takes the positional number, alone or with options', () => {
    expect(schema.parse(3).capacity).toBe(3);
    expect(schema.parseWith(3, { ttlMs: 1 })).toMatchObject({ capacity: 3, ttlMs: 1 });
    expectCode(() => schema.parseWith(3, { capacity: 4 }), ErrorCode.INVALID_ARG, /capacity was given twice/);
    expectCode(() => schema.parseWith({ capacity: 3 }, { ttlMs: 1 }), ErrorCode.INVALID_ARG, /expected one options object/);
  });

  it.each([
    ['a misspelled name', { capacity: 1, ttl: 5 }, /new Thing\(options\): unknown option "ttl"; did you mean "ttlMs"\?/],
    ['a case slip', { Capacity: 1 }, /unknown option "Capacity"; did you mean "capacity"\?/],
    ['a transposition', { capacity: 1, polciy: 'lru' }, /unknown option "polciy"; did you mean "policy"\?/],
    ['a name far from every option', { capacity: 1, zzz: 1 }, /unknown option "zzz" \(the options are "capacity", "ttlMs"/],
    ['a missing required option', {}, /new Thing\(options\): capacity is required/],
    ['a value out of range', { capacity: 101 }, /capacity must be an integer in \[1, 100\], got 101/],
    ['a NaN duration', { capacity: 1, ttlMs: NaN }, /ttlMs must be a number of milliseconds > 0 \(or Infinity\), got NaN/],
    ['a zero TTL', { capacity: 1, ttlMs: 0 }, /ttlMs must be .*> 0.*got 0/],
    ['an infinite ratio', { capacity: 1, ratio: Infinity }, /ratio must be a finite number > 0 and <= 1, got Infinity/],
    ['a negative infinity', { capacity: 1, timeoutMs: -Infinity }, /timeoutMs must be .*got -Infinity/],
    ['a negative timeout', { capacity: 1, timeoutMs: -1 }, /timeoutMs must be a number of milliseconds >= 0 \(or Infinity\), got -1/],
    ['a string boolean', { capacity: 1, strict: 'yes' }, /strict must be true or false, got "yes"/],
    ['a value not in the list', { capacity: 1, policy: 'fifo' }, /policy must be one of "lru", "lfu", got "fifo"/],
    ['a function that is not one', { capacity: 1, onEvict: 5 }, /onEvict must be a function, got 5/],
    ['a signal that is not one', { capacity: 1, signal: {} }, /signal must be an AbortSignal/],
    ['options that are not an object', 'big', /options must be an object, got "big"/],
    ['an array', [1], /options must be an object, got an array/],
    [
      'the old and new name together',
      { capacity: 1, timeout: 1, timeoutMs: 2 },
      /"timeout" is the old name of "timeoutMs"; give only "timeoutMs"/,
    ],
  ])('refuses %s with a message that names it', (_name, raw, message) => {
    expectCode(() => schema.parse(raw), ErrorCode.INVALID_ARG, message);
  });

  it('takes Infinity where a field allows it, even under a finite maximum', () => {
    const bounded = defineOptions('f', { t: duration({ positive: true, max: 100, default: Infinity }) });
    expect(bounded.parse({ t: Infinity }).t).toBe(Infinity);
    expect(bounded.parse({ t: 100 }).t).toBe(100);
    expectCode(
      () => bounded.parse({ t: 101 }),
      ErrorCode.INVALID_ARG,
      /t must be a number of milliseconds > 0 and <= 100 \(or Infinity\), got 101/,
    );
  });

  it('runs the cross-option check after the fields', () => {
    expect(() => schema.parse({ capacity: 1, strict: true, policy: 'lfu' })).toThrow(/strict lfu/);
  });

  it('a renamed option works and warns once per process, with its code', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    expect(schema.parse({ capacity: 1, timeout: 20 }).timeoutMs).toBe(20);
    expect(schema.parse({ capacity: 1, timeout: 30 }).timeoutMs).toBe(30);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toEqual({ type: 'DeprecationWarning', code: 'SABRE_DEP_TIMEOUT' });
    expect(String(warn.mock.calls[0]![0])).toMatch(/timeoutMs.*new Thing\(options\)/);
  });

  it('records handle fields only, checks them back strictly, and revives local ones from `from`', () => {
    const o = schema.parse({ capacity: 5, onEvict: () => {} });
    const stored = schema.toHandle(o);
    expect(stored).toEqual({ capacity: 5, ttlMs: Infinity, timeoutMs: Infinity, policy: 'lru', ratio: 0.5, strict: false });
    expect(schema.fromHandle(stored)).toEqual(stored);
    expectCode(() => schema.fromHandle({ ...stored, note: 1 }), ErrorCode.INVALID_ARG, /unknown option "note"/);
    expectCode(() => schema.fromHandle({ ...stored, capacity: 0 }), ErrorCode.INVALID_ARG, /capacity must be/);
    const { capacity: _c, ...missing } = stored;
    expectCode(() => schema.fromHandle(missing), ErrorCode.INVALID_ARG, /capacity is missing/);
    expect(schema.revive(stored, undefined, 'Thing.from(handle, options)')).toMatchObject({ capacity: 5, note: 7 });
    expectCode(
      () => schema.revive(stored, { capacity: 2 }, 'Thing.from(handle, options)'),
      ErrorCode.INVALID_ARG,
      /option "capacity" comes from the handle/,
    );
    expectCode(
      () => schema.revive(stored, { codec: 'v8' }, 'Thing.from(handle, options)'),
      ErrorCode.INVALID_ARG,
      /Thing.from\(handle, options\): unknown option "codec" \(it takes no options\)/,
    );
  });

  it('an options object passed again is answered from a memo, but any change of a known value is checked again', () => {
    const o: Record<string, unknown> = { capacity: 5, ttlMs: 10 };
    const first = schema.parse(o);
    expect(schema.parse(o)).toBe(first);
    o.ttlMs = 20;
    expect(schema.parse(o).ttlMs).toBe(20);
    o.ttlMs = -1;
    expectCode(() => schema.parse(o), ErrorCode.INVALID_ARG, /ttlMs must be/);
    expect(schema.parse({ capacity: 5, ttlMs: 10 })).not.toBe(first); // another object: checked whole
    expectCode(() => schema.parse({ capacity: 5, ttl: 10 }), ErrorCode.INVALID_ARG, /unknown option "ttl"/);
  });

  it('a positional number passed again is answered from a memo; another number is checked', () => {
    const first = schema.parse(5);
    expect(schema.parse(5)).toBe(first);
    expect(schema.parse(6).capacity).toBe(6);
    expectCode(() => schema.parse(0), ErrorCode.INVALID_ARG, /capacity must be an integer in \[1, 100\], got 0/);
    expectCode(() => schema.parse(NaN), ErrorCode.INVALID_ARG, /got NaN/);
  });

  it('suggests by edit distance, prefix and case', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(closest('ttl', ['ttlMs', 'capacity'])).toBe('ttlMs');
    expect(closest('timeoutMS', ['timeoutMs'])).toBe('timeoutMs');
    expect(closest('xyz', ['capacity'])).toBeUndefined();
  });
});
