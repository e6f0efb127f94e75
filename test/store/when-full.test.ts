import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { idempotent } from '../../src/store/idempotency-http.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { OnceRegistry } from '../../src/store/once-registry.js';
import { VoteRegistry } from '../../src/store/vote-registry.js';
import { BookingTable } from '../../src/store/booking-table.js';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode } from '../helpers/errors.js';

const FP = 'f'.repeat(64);

// Every keyed store has a documented policy for "full", and counts what it refused (table/when-full.ts).
describe('full stores: a policy by option, and a counter in stats()', () => {
  it("IdempotencyStore 'fail-closed' answers 'full' with the time until a record may lapse, and counts it", () => {
    const clock = new ManualClock();
    const store = new IdempotencyStore({ capacity: 2, leaseMs: 1000, clock, whenFull: 'fail-closed' });
    store.begin('a', FP);
    clock.advance(300);
    store.begin('b', FP);
    expect(store.begin('c', FP)).toEqual({ status: 'full', retryAfterMs: 700 });
    expect(store.stats()).toMatchObject({ keys: 2, capacity: 2, refusedWhenFull: 1 });
    expect(store.peek('c', FP).status).toBe('absent'); // nothing was written
    // The policy travels in the handle: every thread's store answers the same.
    expect(IdempotencyStore.from(store.handle).begin('d', FP).status).toBe('full');
    clock.advance(700); // 'a' lapses: room again
    expect(store.begin('c', FP).status).toBe('new');
    expect(store.stats().refusedWhenFull).toBe(2);
  });

  it("IdempotencyStore refuses 'fail-open' (a request run without its record could be charged twice); 'throw' stays the default", () => {
    expectCode(
      () => new IdempotencyStore({ capacity: 1, leaseMs: 10, whenFull: 'fail-open' as never }),
      ErrorCode.INVALID_ARG,
      /whenFull must be one of "throw", "fail-closed"/,
    );
    const store = new IdempotencyStore({ capacity: 1, leaseMs: 1000, clock: new ManualClock() });
    store.begin('a', FP);
    expectCode(() => store.begin('b', FP), ErrorCode.CAPACITY, /all 1 idempotency records are live/);
    expect(store.stats().refusedWhenFull).toBe(1);
  });

  it("the HTTP helper answers a full 'fail-closed' store with 503 and Retry-After, and runs nothing", async () => {
    const clock = new ManualClock();
    const store = new IdempotencyStore({ capacity: 1, leaseMs: 2500, clock, whenFull: 'fail-closed' });
    store.begin('held', FP);
    let ran = 0;
    const r = await idempotent(store, { method: 'POST', path: '/charges', headers: { 'idempotency-key': 'k1' } }, () => {
      ran++;
      return { status: 201 };
    });
    expect(r.status).toBe(503);
    expect(r.outcome).toBe('full');
    expect(r.headers['retry-after']).toBe('3');
    expect(ran).toBe(0);
  });

  it("LeaseLock 'fail-closed' answers a new resource as held (null), and takes it once a lease lapses", () => {
    const clock = new ManualClock();
    const lock = new LeaseLock({ capacity: 2, clock, whenFull: 'fail-closed' });
    lock.acquire('a', { ttlMs: 10 });
    lock.acquire('b', { ttlMs: 100 });
    expect(lock.acquire('c', { ttlMs: 10 })).toBeNull();
    expect(lock.stats()).toMatchObject({ keys: 2, capacity: 2, refusedWhenFull: 1 });
    expect(lock.holder('c')).toBeUndefined();
    clock.advance(10);
    expect(lock.acquire('c', { ttlMs: 10 })).not.toBeNull();
    expectCode(() => new LeaseLock({ capacity: 1, whenFull: 'fail-open' as never }), ErrorCode.INVALID_ARG, /whenFull/);
  });

  it("OnceRegistry: 'fail-closed' grants nothing, 'fail-open' grants without recording; both say full", () => {
    const closed = new OnceRegistry({ capacity: 1, whenFull: 'fail-closed' });
    expect(closed.claim('a').claimed).toBe(true);
    expect(closed.claim('b')).toMatchObject({ claimed: false, full: true, retryAfterMs: Infinity });
    expect(closed.claim('a')).toMatchObject({ claimed: false }); // a known key is decided as ever
    expect(closed.claim('a').full).toBeUndefined();
    const open = new OnceRegistry({ capacity: 1, whenFull: 'fail-open' });
    open.claim('a');
    expect(open.claim('b')).toMatchObject({ claimed: true, full: true });
    expect(open.uses('b')).toBe(0); // not recorded: a second claim is granted too
    expect(open.claim('b').claimed).toBe(true);
    expect(open.stats()).toMatchObject({ keys: 1, capacity: 1, refusedWhenFull: 2 });
  });

  it("VoteRegistry 'fail-closed' refuses a new ballot with accepted: false and changes no tally", () => {
    const votes = new VoteRegistry({ capacity: 1, choices: ['yes', 'no'], whenFull: 'fail-closed' });
    expect(votes.vote('p', 'ada', 'yes')).toEqual({ accepted: true, previous: null });
    expect(votes.vote('p', 'bob', 'no')).toEqual({ accepted: false, previous: null, full: true });
    expect(votes.tally('p')).toEqual({ yes: 1, no: 0 });
    expect(votes.vote('p', 'ada', 'no', { allowChange: true })).toEqual({ accepted: true, previous: 'yes' }); // no new ballot
    expect(votes.stats()).toMatchObject({ keys: 1, capacity: 1, refusedWhenFull: 1 });
    const throwing = new VoteRegistry({ capacity: 1, choices: ['yes'] });
    throwing.vote('p', 'ada', 'yes');
    expectCode(() => throwing.vote('p', 'bob', 'yes'), ErrorCode.CAPACITY);
    expect(throwing.stats().refusedWhenFull).toBe(1);
  });

  it('BookingTable and SharedHashTable throw, and count', () => {
    const bookings = new BookingTable({ capacity: 1, clock: new ManualClock() });
    bookings.book('a', 0, 1, 'x');
    expectCode(() => bookings.book('b', 0, 1, 'x'), ErrorCode.CAPACITY);
    expect(bookings.stats()).toMatchObject({ keys: 1, capacity: 1, refusedWhenFull: 1 });
    const table = new SharedHashTable<number>({ capacity: 1, maxKeyBytes: 8, maxValueBytes: 8, codec: 'json' });
    table.set('a', 1);
    expectCode(() => table.set('b', 2), ErrorCode.CAPACITY);
    expectCode(() => table.set('c', 3), ErrorCode.CAPACITY);
    table.set('a', 4); // a present key always has room
    expect(table.stats()).toMatchObject({ keys: 1, capacity: 1, refusedWhenFull: 2 });
    // And the heap's figures, as every keyed structure reports them.
    expect(table.stats().maxBytes).toBe(table.maxBytes);
    expect(table.stats().bytesInUse).toBe(4096);
    expect(SharedHashTable.from(table.handle, { codec: 'json' }).refusedWhenFull).toBe(2); // shared by every thread
  });
});
