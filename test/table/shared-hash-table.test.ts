import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { SharedHashTable, MAX_TABLE_CAPACITY, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';
import { halfSipHash } from '../../src/table/hash.js';
import { SharedArena } from '../../src/memory/arena.js';
import type { Codec } from '../../src/memory/codec.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';

const small = <V = unknown>(o: Partial<ConstructorParameters<typeof SharedHashTable<V>>[0] & object> = {}) =>
  new SharedHashTable<V>({ capacity: 16, maxKeyBytes: 16, maxValueBytes: 64, ...o });

describe('SharedHashTable', () => {
  it('get, set, has, delete, size, as a Map', () => {
    const t = small<{ n: number }>();
    expect(t.get('a')).toBeUndefined();
    expect(t.has('a')).toBe(false);
    expect(t.set('a', { n: 1 })).toBe(t);
    expect(t.get('a')).toEqual({ n: 1 });
    expect(t.has('a')).toBe(true);
    t.set('a', { n: 2 });
    t.set('b', { n: 3 });
    expect(t.get('a')).toEqual({ n: 2 });
    expect(t.size).toBe(2);
    expect(t.delete('a')).toBe(true);
    expect(t.delete('a')).toBe(false);
    expect(t.get('a')).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it('setIfAbsent stores only when absent; compareAndSet swaps only on an equal encoding', () => {
    const t = small<{ v: number }>({ codec: 'json' });
    expect(t.setIfAbsent('k', { v: 1 })).toBe(true);
    expect(t.setIfAbsent('k', { v: 2 })).toBe(false);
    expect(t.get('k')).toEqual({ v: 1 });
    expect(t.compareAndSet('k', { v: 9 }, { v: 3 })).toBe(false);
    expect(t.compareAndSet('missing', { v: 1 }, { v: 3 })).toBe(false);
    expect(t.has('missing')).toBe(false);
    expect(t.compareAndSet('k', { v: 1 }, { v: 3 })).toBe(true);
    expect(t.get('k')).toEqual({ v: 3 });
  });

  it('compute reads and replaces in one step; undefined deletes; a throw changes nothing', () => {
    const t = small<number>({ codec: 'json' });
    expect(t.compute('n', (v) => (v ?? 0) + 1)).toBe(1);
    expect(t.compute('n', (v) => (v ?? 0) + 1)).toBe(2);
    expect(() =>
      t.compute('n', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(t.get('n')).toBe(2);
    expect(t.compute('n', () => undefined)).toBeUndefined();
    expect(t.has('n')).toBe(false);
    expect(t.compute('absent', () => undefined)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it('string and byte keys are distinct keys, and UTF-8 keys work', () => {
    const t = small({ codec: 'string' });
    t.set('ab', 'string key');
    t.set(new Uint8Array([0x61, 0x62]), 'bytes key');
    t.set('día€', 'utf-8');
    expect(t.get('ab')).toBe('string key');
    expect(t.get(new Uint8Array([0x61, 0x62]))).toBe('bytes key');
    expect(t.get('día€')).toBe('utf-8');
    expect(t.get(new TextEncoder().encode('día€'))).toBeUndefined();
    const keys = [...t.keys()];
    expect(keys).toHaveLength(3);
    expect(keys).toContainEqual(new Uint8Array([0x61, 0x62]));
    expect(keys).toContain('ab');
    expect(keys).toContain('día€');
  });

  it('empty keys and empty values are values like any other', () => {
    const t = small({ codec: 'string' });
    t.set('', '');
    expect(t.get('')).toBe('');
    expect(t.has('')).toBe(true);
  });

  it('entries() is a snapshot: later writes do not change it', () => {
    const t = small<number>({ codec: 'json' });
    for (let i = 0; i < 10; i++) t.set(`k${i}`, i);
    const snapshot = t.entries();
    t.clear();
    const seen = new Map([...snapshot]);
    expect(seen.size).toBe(10);
    for (let i = 0; i < 10; i++) expect(seen.get(`k${i}`)).toBe(i);
    expect([...t]).toEqual([]);
    expect(t.size).toBe(0);
  });

  it('values are private copies', () => {
    const t = small<number[]>();
    t.set('a', [1]);
    t.get('a')!.push(2);
    expect(t.get('a')).toEqual([1]);
  });

  test.prop([
    fc.array(
      fc.tuple(
        fc.constantFrom('set', 'delete', 'setIfAbsent', 'cas', 'get'),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 3 }),
      ),
      { maxLength: 400 },
    ),
  ])('behaves as a Map for any sequence of operations (a small table: collisions and backward shifts)', (ops) => {
    // A fixed hash key and a 1-segment table: many keys share probe chains.
    const t = new SharedHashTable<number>({ capacity: 48, maxKeyBytes: 8, maxValueBytes: 8, codec: 'json', hashKey: { k0: 1, k1: 2 } });
    const m = new Map<string, number>();
    for (const [op, k, v] of ops) {
      const key = `k${k}`;
      switch (op) {
        case 'set':
          t.set(key, v);
          m.set(key, v);
          break;
        case 'delete':
          expect(t.delete(key)).toBe(m.delete(key));
          break;
        case 'setIfAbsent': {
          const absent = !m.has(key);
          expect(t.setIfAbsent(key, v)).toBe(absent);
          if (absent) m.set(key, v);
          break;
        }
        case 'cas': {
          const swap = m.get(key) === v;
          expect(t.compareAndSet(key, v, v + 1)).toBe(swap);
          if (swap) m.set(key, v + 1);
          break;
        }
        case 'get':
          expect(t.get(key)).toBe(m.get(key));
          break;
      }
      expect(t.size).toBe(m.size);
    }
    expect(new Map([...t.entries()] as [string, number][])).toEqual(m);
  });

  it('holds exactly `capacity` entries in a one-segment table, then refuses new keys and overwrites nothing', () => {
    const t = small<number>({ capacity: 10, codec: 'json' });
    for (let i = 0; i < 10; i++) t.set(`k${i}`, i);
    expectCode(() => t.set('new', 1), ErrorCode.CAPACITY, /full: all 10 entries/);
    expectCode(() => t.setIfAbsent('new', 1), ErrorCode.CAPACITY);
    expectCode(() => t.compute('new', () => 1), ErrorCode.CAPACITY);
    t.set('k3', 33); // a present key still takes a new value when full
    expect(t.size).toBe(10);
    for (let i = 0; i < 10; i++) expect(t.get(`k${i}`)).toBe(i === 3 ? 33 : i);
    t.delete('k0');
    t.set('new', 1);
    expect(t.get('new')).toBe(1);
  });

  it('holds `capacity` entries in a segmented table too', () => {
    const capacity = 5000;
    const t = new SharedHashTable<number>({ capacity, maxKeyBytes: 12, maxValueBytes: 8, codec: 'json' });
    for (let i = 0; i < capacity; i++) t.set(`key:${i}`, i);
    expect(t.size).toBe(capacity);
    expectCode(() => t.set('one more', 1), ErrorCode.CAPACITY);
    for (let i = 0; i < capacity; i += 97) expect(t.get(`key:${i}`)).toBe(i);
  });

  it('reclaims deleted slots: churn of many times the capacity never fills the table', () => {
    const t = new SharedHashTable<number>({ capacity: 64, maxKeyBytes: 12, maxValueBytes: 8, codec: 'json' });
    const live: string[] = [];
    for (let i = 0; i < 64 * 200; i++) {
      const key = `c${i}`;
      t.set(key, i);
      live.push(key);
      if (live.length > 60) expect(t.delete(live.shift()!)).toBe(true);
    }
    expect(t.size).toBe(60);
    for (const key of live) expect(t.get(key)).toBe(Number(key.slice(1)));
    // Probe chains stay short: no tombstones pile up.
    expect(t.maxProbeLength()).toBeLessThanOrEqual(16);
  });

  it('seeded hashing holds against keys crafted to collide under a known hash key', () => {
    const known = { k0: 0, k1: 0 };
    const capacity = 512;
    const probe = new SharedHashTable({ capacity, maxKeyBytes: 16, maxValueBytes: 4, hashKey: known });
    // The index of a 512-entry table has 2048 positions: find keys whose known hash lands on position 0.
    const mask = 2048 - 1;
    const enc = new TextEncoder();
    const crafted: string[] = [];
    for (let i = 0; crafted.length < 300; i++) {
      const k = `user:${i}`;
      if ((halfSipHash(known, enc.encode(k)) & mask) === 0) crafted.push(k);
    }
    for (const k of crafted) probe.set(k, 1);
    expect(probe.maxProbeLength()).toBe(300); // one chain: every lookup scans it
    const seeded = new SharedHashTable({ capacity, maxKeyBytes: 16, maxValueBytes: 4 });
    for (const k of crafted) seeded.set(k, 1);
    // With a random key the crafted keys are random keys: 300 keys in 2048 positions probe a few steps.
    expect(seeded.maxProbeLength()).toBeLessThanOrEqual(12);
  });

  it('every codec, values up to maxValueBytes', () => {
    const cases: [SharedHashTable, unknown][] = [
      [small({ codec: 'string', maxValueBytes: 100 }), 'é'.repeat(50)],
      [small({ codec: 'json', maxValueBytes: 100 }), { a: [1, 'x'] }],
      [small({ codec: 'v8', maxValueBytes: 100 }), new Map([[1, new Set([2])]])],
      [small({ codec: 'bytes', maxValueBytes: 100 }), new Uint8Array(100).fill(3)],
    ];
    for (const [t, v] of cases) {
      t.set('k', v);
      expect(t.get('k')).toEqual(v);
    }
  });

  it('re-opens from its handle, in an arena, with a custom codec', () => {
    const arena = new SharedArena({ byteLength: 1 << 20 });
    const t = new SharedHashTable<string>({ capacity: 8, maxKeyBytes: 8, maxValueBytes: 8, codec: 'string', arena });
    t.set('a', 'x');
    const again = SharedHashTable.from<string>(structuredClone(t.handle));
    expect(again.get('a')).toBe('x');
    again.set('b', 'y');
    expect(t.get('b')).toBe('y');

    const upper: Codec<string> = { encode: (s) => new TextEncoder().encode(s.toUpperCase()), decode: (b) => new TextDecoder().decode(b) };
    const c = new SharedHashTable<string>({ capacity: 8, maxKeyBytes: 8, maxValueBytes: 8, codec: upper });
    c.set('k', 'abc');
    expect(SharedHashTable.from(c.handle, { codec: upper }).get('k')).toBe('ABC');
    expectCode(() => SharedHashTable.from(c.handle), ErrorCode.HANDLE, /custom codec/);
    expectCode(() => SharedHashTable.from(t.handle, { codec: upper }), ErrorCode.HANDLE, /uses the 'string' codec, got a custom codec/);
    expect(SharedHashTable.byteLength({ capacity: 8, maxKeyBytes: 8, maxValueBytes: 8 })).toBe(t.handle.byteLength);
  });

  describe('misuse: a typed error, and the table is unchanged', () => {
    const misuse: [string, (t: SharedHashTable) => unknown, ErrorCode, RegExp][] = [
      ['a key too long', (t) => t.set('x'.repeat(17), 1), ErrorCode.INVALID_ARG, /key is too long: 17 bytes, and maxKeyBytes is 16/],
      ['a UTF-8 key too long', (t) => t.get('é'.repeat(9)), ErrorCode.INVALID_ARG, /18 bytes/],
      ['a byte key too long', (t) => t.has(new Uint8Array(17)), ErrorCode.INVALID_ARG, /17 bytes/],
      [
        'a key of another type',
        (t) => t.get(42 as unknown as string),
        ErrorCode.INVALID_ARG,
        /a key must be a string or a Uint8Array, got 42/,
      ],
      ['a value too large', (t) => t.set('k', 'x'.repeat(100)), ErrorCode.INVALID_ARG, /value is too large/],
      ['a value the codec refuses', (t) => t.set('k', () => 1), ErrorCode.INVALID_ARG, /'v8' codec/],
      ['a too-large compareAndSet value', (t) => t.compareAndSet('present', 1, 'x'.repeat(100)), ErrorCode.INVALID_ARG, /too large/],
      ['a too-large compute result', (t) => t.compute('present', () => 'x'.repeat(100)), ErrorCode.INVALID_ARG, /too large/],
      ['compute without a function', (t) => t.compute('k', 1 as never), ErrorCode.INVALID_ARG, /fn must be a function/],
      ['compute that uses the table', (t) => t.compute('k', () => t.get('present')), ErrorCode.DEADLOCK, /inside its own compute/],
      ['compute that writes the table', (t) => t.compute('k', () => t.set('other', 1)), ErrorCode.DEADLOCK, /inside its own compute/],
    ];
    it.each(misuse)('%s', (_name, op, code, message) => {
      const t = small();
      t.set('present', 1);
      expectCode(() => op(t), code, message);
      expect(t.get('present')).toBe(1);
      expect(t.size).toBe(1);
      expect([...t.keys()]).toEqual(['present']);
      t.set('after', 2); // and the table still works
      expect(t.get('after')).toBe(2);
    });

    it.each([
      ['capacity 0', { capacity: 0 }, /capacity must be an integer in \[1, 16777216\], got 0/],
      ['capacity too large', { capacity: MAX_TABLE_CAPACITY + 1 }, /capacity/],
      ['a fractional maxKeyBytes', { maxKeyBytes: 1.5 }, /maxKeyBytes/],
      ['a negative maxValueBytes', { maxValueBytes: -1 }, /maxValueBytes/],
      ['an unknown codec', { codec: 'yaml' }, /codec must be one of/],
      ['a region over 2 GiB', { capacity: 1 << 20, maxValueBytes: 1 << 12 }, /needs \d+ bytes; the limit is/],
    ])('refuses %s', (_name, o, message) => {
      expectCode(
        () => new SharedHashTable({ capacity: 4, maxKeyBytes: 4, maxValueBytes: 4, ...(o as object) }),
        ErrorCode.INVALID_ARG,
        message,
      );
    });

    it.each(
      forgedHandles<SharedHashTableHandle>('sabre.Mutex', [
        ['other options', (h) => ({ ...h, options: { ...h.options, capacity: h.options.capacity + 1 } })],
        ['an unknown option', (h) => ({ ...h, options: { ...h.options, extra: 1 } })],
      ]),
    )('from() refuses %s', (_name, forge) => {
      const t = small();
      t.set('k', 1);
      const e = thrown(() => SharedHashTable.from(forge(t.handle) as SharedHashTableHandle));
      expectCode(e, ErrorCode.HANDLE);
      expect(t.get('k')).toBe(1);
    });
  });
});

describe('SharedHashTable read memo (string codec)', () => {
  it('a hot key returns the value of the latest write, never a cached older one', () => {
    const t = small<string>({ codec: 'string' });
    const other = SharedHashTable.from<string>(t.handle);
    t.set('k', 'one');
    expect(other.get('k')).toBe('one');
    expect(other.get('k')).toBe('one'); // from the memo
    expect(other.has('k')).toBe(true);
    t.set('k', 'two');
    expect(other.get('k')).toBe('two');
    t.delete('k');
    expect(other.get('k')).toBeUndefined();
    t.set('k', 'one'); // the same bytes again, a new write: still right
    expect(other.get('k')).toBe('one');
    for (let i = 0; i < 3000; i++) t.set(`x${i % 12}`, `v${i}`); // churn through every slot
    for (let i = 0; i < 12; i++) expect(other.get(`x${i}`)).toBe(`v${2988 + i}`);
    t.clear();
    expect(other.get('x0')).toBeUndefined();
    expect(other.has('x0')).toBe(false);
  });

  it('keeps string and byte keys apart, and a byte key bypasses the memo', () => {
    const t = small<string>({ codec: 'string' });
    t.set('k', 'str');
    t.set(new TextEncoder().encode('k'), 'bytes');
    expect([t.get('k'), t.get('k'), t.get(new TextEncoder().encode('k'))]).toEqual(['str', 'str', 'bytes']);
  });
});
