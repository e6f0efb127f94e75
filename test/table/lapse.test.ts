import { afterEach, describe, expect, it, vi } from 'vitest';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { ManualClock } from '../../src/clock.js';
import { until } from '../helpers/wait.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { BookingTable } from '../../src/store/booking-table.js';
import { LockManager } from '../../src/lock/lock-manager.js';
import { Cache } from '../../src/store/cache.js';
import { ErrorCode } from '../../src/errors.js';
import type { Codec } from '../../src/memory/codec.js';
import { expectCode, rejected } from '../helpers/errors.js';

interface Entry {
  readonly until: number;
  readonly owner: number;
}

/** A JSON codec that counts its decodes. */
function countingCodec(): Codec<Entry> & { decodes: number } {
  const codec = {
    decodes: 0,
    encode: (v: Entry) => new TextEncoder().encode(JSON.stringify(v)),
    decode: (b: Uint8Array): Entry => {
      codec.decodes++;
      return JSON.parse(new TextDecoder().decode(b)) as Entry;
    },
  };
  return codec;
}

function lapsing(capacity: number, now: () => number) {
  const codec = countingCodec();
  const table = new SharedHashTable<Entry>({ capacity, maxKeyBytes: 16, maxValueBytes: 64, codec });
  const lapsesAt = vi.fn((v: Entry) => v.until);
  table.setLapse({ now, lapsesAt, ownerOf: (v) => v.owner });
  return { table, codec, lapsesAt };
}

describe('one reclamation mechanism: a full table reclaims lapsed entries by their stamps', () => {
  afterEach(() => vi.restoreAllMocks());

  it('an insert into a full table reclaims the lapsed entries, keeps the rest, and refuses when none has lapsed', () => {
    let now = 0;
    const { table } = lapsing(8, () => now);
    for (let i = 0; i < 8; i++) table.set(`k${i}`, { until: 10 * (i + 1), owner: -1 });
    expectCode(() => table.set('new', { until: 1000, owner: -1 }), ErrorCode.CAPACITY, /the table is full/);
    now = 30; // k0, k1, k2 lapse
    table.set('new', { until: 1000, owner: -1 });
    expect(table.size).toBe(6);
    expect(['k0', 'k1', 'k2'].map((k) => table.has(k))).toEqual([false, false, false]);
    expect(['k3', 'k7', 'new'].map((k) => table.has(k))).toEqual([true, true, true]);
  });

  it('a refused insert decodes no value and asks the policy nothing about stored entries', () => {
    const { table, codec, lapsesAt } = lapsing(64, () => 0);
    for (let i = 0; i < 64; i++) table.set(`k${i}`, { until: 100, owner: -1 });
    codec.decodes = 0;
    lapsesAt.mockClear();
    for (let i = 0; i < 50; i++) expectCode(() => table.set(`x${i}`, { until: 5, owner: -1 }), ErrorCode.CAPACITY);
    expect(codec.decodes).toBe(0);
    expect(lapsesAt).toHaveBeenCalledTimes(50); // once per refused value, to stamp it: never per stored entry
  });

  it('a rewrite that postpones an entry leaves a stale bound, which the next sweep tightens', () => {
    let now = 0;
    const { table } = lapsing(4, () => now);
    for (let i = 0; i < 4; i++) table.set(`k${i}`, { until: 10, owner: -1 });
    for (let i = 0; i < 4; i++) table.set(`k${i}`, { until: 100, owner: -1 }); // the segment's bound still says 10
    now = 50;
    expectCode(() => table.set('new', { until: 1000, owner: -1 }), ErrorCode.CAPACITY);
    expect(table.size).toBe(4);
    now = 100;
    table.set('new', { until: 1000, owner: -1 });
    expect(table.size).toBe(1);
  });

  it("an entry owned by a thread makes room once that thread's death is recorded, not before", () => {
    const { table } = lapsing(4, () => 0);
    const ghost = 900_000 + Math.floor(Math.random() * 1000); // a threadId no worker of this run has
    table.set('held', { until: Infinity, owner: ghost });
    for (let i = 0; i < 3; i++) table.set(`k${i}`, { until: Infinity, owner: -1 });
    // Never heard of: alive, as sabre never recovers from a thread it cannot prove dead.
    expectCode(() => table.set('new', { until: Infinity, owner: -1 }), ErrorCode.CAPACITY);
    ThreadRegistry.current.markDead(ghost);
    table.set('new', { until: Infinity, owner: -1 });
    expect(table.has('held')).toBe(false);
    expect(table.size).toBe(4);
  });

  it('in a table of many segments, an insert sweeps only segments that may hold a lapsed entry', () => {
    let now = 0;
    const { table } = lapsing(4096, () => now);
    for (let i = 0; table.size < 4096; i++) {
      try {
        table.set(`k${i}`, { until: i === 7 ? 5 : 1e9, owner: -1 });
      } catch {
        break; // a segment filled first: the table is as full as it gets
      }
    }
    const full = table.size;
    const lock = vi.spyOn(Object.getPrototypeOf(table) as { lock(s: number): void }, 'lock');
    now = 10;
    const before = lock.mock.calls.length;
    table.set('new', { until: 1e9, owner: -1 });
    expect(table.has('k7')).toBe(false);
    expect(table.size).toBe(full);
    // The insert's own segment (twice: the refused try and the retry) and the one swept.
    expect(lock.mock.calls.length - before).toBeLessThanOrEqual(3);
  });

  it('after a fruitless pass, refusals read no segment until a write lowers a bound or time reaches the soonest lapse', () => {
    const epochMs = 1.7e12; // a wall-clock-like time, where a float32 step is two minutes
    let now = epochMs;
    const { table } = lapsing(2048, () => now);
    let n = 0;
    for (; table.size < 2048; n++) {
      try {
        table.set(`k${n}`, { until: epochMs + 5000 + n, owner: -1 });
      } catch {
        break;
      }
    }
    const soon = vi.spyOn(Object.getPrototypeOf(table) as { soonOf(seg: number): number }, 'soonOf');
    expectCode(() => table.set('x0', { until: Infinity, owner: -1 }), ErrorCode.CAPACITY); // the pass that closes the gate
    const afterPass = soon.mock.calls.length;
    expect(afterPass).toBeGreaterThan(0);
    for (let i = 1; i < 20; i++) expectCode(() => table.set(`x${i}`, { until: Infinity, owner: -1 }), ErrorCode.CAPACITY);
    expect(soon.mock.calls.length).toBe(afterPass); // the gate answered
    // A rewrite that makes an entry lapse sooner moves EPOCH: the next refusal looks again, and finds it.
    table.set('k3', { until: epochMs + 1, owner: -1 });
    now = epochMs + 1;
    table.set('y', { until: Infinity, owner: -1 });
    expect(table.has('k3')).toBe(false);
    // Time reaching the soonest lapse opens the gate too (the float32 bound is below it, never above).
    expectCode(() => table.set('z0', { until: Infinity, owner: -1 }), ErrorCode.CAPACITY);
    now = epochMs + 5000;
    table.set('z1', { until: Infinity, owner: -1 });
    expect(table.has('k0')).toBe(false);
  });

  it('a table without a policy refuses when full, as before', () => {
    const table = new SharedHashTable<number>({ capacity: 2, maxKeyBytes: 8, maxValueBytes: 8, codec: 'json' });
    table.set('a', 1);
    table.set('b', 2);
    expectCode(() => table.set('c', 3), ErrorCode.CAPACITY);
  });
});

describe('the keyed stores use it: a refused request copies no entries out', () => {
  const scans = () => {
    const proto = SharedHashTable.prototype as unknown as { entries(): unknown; removeWhere(): unknown };
    return [vi.spyOn(proto, 'entries'), vi.spyOn(proto, 'removeWhere')];
  };
  afterEach(() => vi.restoreAllMocks());

  it('IdempotencyStore', () => {
    const store = new IdempotencyStore({ capacity: 4, leaseMs: 100, clock: new ManualClock() });
    for (let i = 0; i < 4; i++) store.begin(`k${i}`, 'f'.repeat(64));
    const spies = scans();
    expectCode(() => store.begin('new', 'f'.repeat(64)), ErrorCode.CAPACITY);
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it('LeaseLock', () => {
    const lock = new LeaseLock({ capacity: 4, clock: new ManualClock() });
    for (let i = 0; i < 4; i++) lock.acquire(`r${i}`, { ttlMs: 100 });
    const spies = scans();
    expectCode(() => lock.acquire('new', { ttlMs: 10 }), ErrorCode.CAPACITY);
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it('BookingTable', () => {
    const table = new BookingTable({ capacity: 2, clock: new ManualClock() });
    table.book('a', 0, 1, 'x');
    table.hold('b', 0, 1, 'x', { ttlMs: 10 });
    const spies = scans();
    expectCode(() => table.book('c', 0, 1, 'x'), ErrorCode.CAPACITY);
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it('LockManager', async () => {
    const lm = new LockManager({ capacity: 1 });
    let release!: () => void;
    const held = lm.request('a', () => new Promise<void>((r) => (release = r)));
    await until(() => release !== undefined, { what: 'a granted' });
    const spies = scans();
    expectCode(await rejected(lm.request('b', () => 1)), ErrorCode.CAPACITY);
    for (const s of spies) expect(s).not.toHaveBeenCalled();
    release();
    await held;
    expect(await lm.request('b', () => 'room')).toBe('room'); // a's record is idle now: reclaimed
  });

  it('Cache single-flight', async () => {
    const cache = new Cache<string>({ capacity: 8, maxKeyBytes: 16, maxValueBytes: 16, codec: 'string', maxPendingComputes: 1 });
    let finish!: (v: string) => void;
    const first = cache.getOrCompute('a', () => new Promise<string>((r) => (finish = r)));
    await until(() => finish !== undefined, { what: 'the compute started' });
    const spies = scans();
    expectCode(await rejected(cache.getOrCompute('b', () => 'b')), ErrorCode.CAPACITY, /computations are in flight/);
    for (const s of spies) expect(s).not.toHaveBeenCalled();
    finish('a');
    await first;
  });
});
