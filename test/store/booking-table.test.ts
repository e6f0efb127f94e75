import { afterEach, describe, expect, it } from 'vitest';
import { BookingTable, type Booking, type BookingTableHandle, type Hold } from '../../src/store/booking-table.js';
import { ManualClock } from '../../src/clock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ErrorCode } from '../../src/errors.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { deprecationsDuring } from '../helpers/deprecation.js';
import { Remote } from '../threads/remote.js';

const manual = (options: { maxBookingsPerResource?: number; capacity?: number } = {}) => {
  const clock = new ManualClock({ startMs: 1000 });
  return { clock, table: new BookingTable({ capacity: options.capacity ?? 8, maxKeyBytes: 16, maxHolderBytes: 8, clock, ...options }) };
};
/** The bookings of `resource` as [start, end, holder, held?] rows: what a test compares. */
const rows = (t: BookingTable, resource: string) => t.bookings(resource).map((b) => [b.start, b.end, b.holder, 'expiresAt' in b]);

const remotes: Remote[] = [];
afterEach(async () => {
  await Promise.all(remotes.splice(0).map((r) => r.stop()));
});
const worker = async (): Promise<Remote> => {
  const r = await Remote.start('booking');
  remotes.push(r);
  return r;
};

describe('BookingTable', () => {
  it('books half-open intervals: adjacent ones fit, an overlap is ConflictError and changes nothing', () => {
    const { table } = manual();
    const a = table.book('room', 9, 10, 'ada');
    expect(a).toEqual({ id: expect.stringMatching(/^[0-9a-f]{8}-\d+:room$/), resource: 'room', start: 9, end: 10, holder: 'ada' });
    expect(table.book('room', 10, 11, 'bob').start).toBe(10); // [9, 10) and [10, 11) only touch
    expect(table.book('room', 8, 9, 'cy').end).toBe(9);
    expectCode(
      () => table.book('room', 9.5, 9.75, 'dan'),
      ErrorCode.CONFLICT,
      /\[9\.5, 9\.75\) on "room" overlaps a confirmed booking \[9, 10\)/,
    );
    expectCode(() => table.book('room', 7, 12, 'dan'), ErrorCode.CONFLICT); // covers them all
    expectCode(() => table.book('room', 9, 10, 'ada'), ErrorCode.CONFLICT); // a holder's own booking blocks it too
    expect(table.book('other', 9, 10, 'dan').resource).toBe('other'); // resources are independent
    expect(rows(table, 'room')).toEqual([
      [8, 9, 'cy', false],
      [9, 10, 'ada', false],
      [10, 11, 'bob', false],
    ]);
    expect(table.booking(a.id)).toEqual(a);
    expect(new Set([a.id, ...table.bookings('room').map((b) => b.id), ...table.bookings('other').map((b) => b.id)]).size).toBe(4);
  });

  it('a hold blocks other holders until it expires, then is free with no cleanup and cannot be confirmed', () => {
    const { clock, table } = manual();
    const h = table.hold('room', 10, 12, 'bob', { ttlMs: 100 });
    expect(h).toEqual({ id: expect.any(String), resource: 'room', start: 10, end: 12, holder: 'bob', expiresAt: 1100 });
    expectCode(
      () => table.book('room', 11, 13, 'ada'),
      ErrorCode.CONFLICT,
      /overlaps a hold of another holder on \[10, 12\), live until 1100 ms \(the clock reads 1000 ms\)/,
    );
    expectCode(() => table.hold('room', 9, 11, 'ada', { ttlMs: 5 }), ErrorCode.CONFLICT);
    clock.advance(99);
    expect(rows(table, 'room')).toEqual([[10, 12, 'bob', true]]);
    expectCode(() => table.book('room', 11, 13, 'ada'), ErrorCode.CONFLICT);
    clock.advance(1); // exactly at expiresAt: lapsed
    expect(table.bookings('room')).toEqual([]);
    expect(table.booking(h.id)).toBeUndefined();
    expectCode(
      () => table.confirm(h.id),
      ErrorCode.NOT_OWNER,
      /hold .* expired at 1100 ms \(the clock reads 1100 ms\): its interval may have been taken since/,
    );
    const taken = table.book('room', 11, 13, 'ada'); // nobody cleaned anything up
    expectCode(() => table.confirm(h.id), ErrorCode.NOT_OWNER, /is not held: it was cancelled, it expired/); // the book dropped it
    expect(table.bookings('room')).toEqual([taken]);
  });

  it('confirm turns a live hold into a booking with the same id; confirming again returns it', () => {
    const { clock, table } = manual();
    const h = table.hold('room', 10, 12, 'bob', { ttlMs: 100 });
    clock.advance(50);
    const b = table.confirm(h.id);
    expect(b).toEqual({ id: h.id, resource: 'room', start: 10, end: 12, holder: 'bob' });
    clock.advance(10_000); // a booking never expires
    expect(table.bookings('room')).toEqual([b]);
    expect(table.confirm(h.id)).toEqual(b);
    expectCode(() => table.book('room', 11, 12, 'ada'), ErrorCode.CONFLICT, /confirmed booking \[10, 12\)/);
  });

  it("a holder's own live holds do not block its bookings; confirming one that then overlaps is ConflictError", () => {
    const { table } = manual();
    const h1 = table.hold('room', 10, 12, 'bob', { ttlMs: 100 });
    const h2 = table.hold('room', 11, 13, 'bob', { ttlMs: 100 }); // the same checkout, asked twice
    table.confirm(h1.id);
    expectCode(
      () => table.confirm(h2.id),
      ErrorCode.CONFLICT,
      new RegExp(`hold ${h2.id} on "room" overlaps a confirmed booking \\[10, 12\\)`),
    );
    expect(table.booking(h2.id)).toMatchObject({ expiresAt: 1100 }); // still a hold
    const own = table.book('room', 13, 14, 'bob');
    expect(rows(table, 'room')).toEqual([
      [10, 12, 'bob', false],
      [11, 13, 'bob', true],
      [13, 14, 'bob', false],
    ]);
    expect(table.cancel(h2.id)).toBe(true);
    expect(table.bookings('room').map((b) => b.id)).toEqual([h1.id, own.id]);
  });

  it('cancel removes a booking or a live hold; an unknown, cancelled, expired or foreign id is false', () => {
    const { clock, table } = manual();
    const a = table.book('room', 1, 2, 'ada');
    const h = table.hold('room', 2, 3, 'bob', { ttlMs: 10 });
    const short = table.hold('room', 3, 4, 'cy', { ttlMs: 5 });
    expect(table.cancel(a.id)).toBe(true);
    expect(table.cancel(a.id)).toBe(false);
    expect(table.cancel(h.id)).toBe(true);
    expectCode(() => table.confirm(h.id), ErrorCode.NOT_OWNER, /is not held: it was cancelled, it expired, or it is not this table's/);
    clock.advance(5);
    expect(table.cancel(short.id)).toBe(false); // it had lapsed: nothing live to remove
    expect(table.cancel(a.id.replace(/-\d+:/, '-999:'))).toBe(false);
    expect(table.bookings('room')).toEqual([]);
    expect(table.book('room', 1, 5, 'eve').holder).toBe('eve'); // everything cancelled or lapsed is free
  });

  it("another table's id names nothing here, even one with the same number and resource", () => {
    const mine = manual().table,
      theirs = manual().table;
    const a = mine.book('room', 0, 1, 'ada');
    const b = theirs.book('room', 0, 1, 'bob');
    expect(b.id.slice(b.id.indexOf('-'))).toBe(a.id.slice(a.id.indexOf('-'))); // both booking 1 of "room"
    expect(mine.cancel(b.id)).toBe(false);
    expect(mine.booking(b.id)).toBeUndefined();
    expectCode(() => mine.confirm(b.id), ErrorCode.NOT_OWNER);
    expect(mine.bookings('room')).toEqual([a]);
  });

  it('re-opens from its handle with its clock: one table for every opener', () => {
    const { clock, table } = manual();
    const again = BookingTable.from(structuredClone(table.handle));
    const h = again.hold('room', 1, 2, 'bob', { ttlMs: 10 });
    expectCode(() => table.book('room', 1, 2, 'ada'), ErrorCode.CONFLICT);
    expect(table.confirm(h.id).id).toBe(h.id);
    clock.advance(100);
    expect(again.bookings('room')).toEqual([{ id: h.id, resource: 'room', start: 1, end: 2, holder: 'bob' }]);
    expect(BookingTable.byteLength({ capacity: 8, maxKeyBytes: 16, maxHolderBytes: 8 })).toBe(table.handle.byteLength);
  });

  it('lives in an arena', () => {
    const arena = new SharedArena({ byteLength: 2 * BookingTable.byteLength({ capacity: 4 }) + 1024 });
    const a = new BookingTable({ capacity: 4, arena });
    const b = new BookingTable({ capacity: 4, arena });
    a.book('r', 0, 1, 'x');
    expect(b.book('r', 0, 1, 'y').holder).toBe('y');
    expect(BookingTable.from(a.handle).bookings('r')).toHaveLength(1);
  });

  describe('limits: a typed error, and nothing stored is lost', () => {
    it('a resource with maxBookingsPerResource entries refuses another; lapsed holds make room', () => {
      const { clock, table } = manual({ maxBookingsPerResource: 3 });
      table.book('room', 0, 1, 'a');
      table.hold('room', 1, 2, 'b', { ttlMs: 10 });
      table.book('room', 2, 3, 'c');
      expectCode(
        () => table.book('room', 3, 4, 'd'),
        ErrorCode.CAPACITY,
        /"room" has 3 confirmed bookings and live holds, and maxBookingsPerResource is 3/,
      );
      expectCode(() => table.hold('room', 3, 4, 'd', { ttlMs: 10 }), ErrorCode.CAPACITY);
      expect(rows(table, 'room')).toEqual([
        [0, 1, 'a', false],
        [1, 2, 'b', true],
        [2, 3, 'c', false],
      ]);
      clock.advance(10);
      expect(table.book('room', 3, 4, 'd').holder).toBe('d');
      expect(rows(table, 'room')).toEqual([
        [0, 1, 'a', false],
        [2, 3, 'c', false],
        [3, 4, 'd', false],
      ]);
    });

    it('a full table refuses a new resource; records left with only lapsed holds, or emptied by cancels, make room', () => {
      const { clock, table } = manual({ capacity: 2 });
      const a = table.book('a', 0, 1, 'x');
      table.hold('b', 0, 1, 'x', { ttlMs: 10 });
      expectCode(
        () => table.book('c', 0, 1, 'x'),
        ErrorCode.CAPACITY,
        /no room for resource "c": all 2 resources of this BookingTable have bookings or live holds/,
      );
      expect(table.bookings('a')).toEqual([a]);
      clock.advance(10); // b's only entry lapses: the sweep frees its record
      expect(table.book('c', 0, 1, 'x').resource).toBe('c');
      expectCode(() => table.book('d', 0, 1, 'x'), ErrorCode.CAPACITY);
      table.cancel(a.id); // a's record empties and leaves the table
      expect(table.book('d', 0, 1, 'x').resource).toBe('d');
      expect(table.bookings('a')).toEqual([]);
    });
  });

  describe('misuse: a typed error, and no booking is taken or lost', () => {
    it.each([
      ['a NaN start', (t: BookingTable) => t.book('room', NaN, 2, 'x'), /start must be a finite number, got NaN/],
      ['an infinite end', (t: BookingTable) => t.book('room', 1, Infinity, 'x'), /end must be a finite number, got Infinity/],
      ['a start that is a string', (t: BookingTable) => t.book('room', '1' as never, 2, 'x'), /start must be a finite number, got "1"/],
      ['an empty interval', (t: BookingTable) => t.book('room', 5, 5, 'x'), /end must be greater than start .* got start 5 and end 5/],
      ['end before start', (t: BookingTable) => t.book('room', 5, 4, 'x'), /got start 5 and end 4/],
      ['a holder that is not a string', (t: BookingTable) => t.book('room', 5, 6, 7 as never), /holder must be a string, got 7/],
      [
        'a holder too long',
        (t: BookingTable) => t.book('room', 5, 6, 'x'.repeat(9)),
        /holder is too long: 9 UTF-8 bytes, and maxHolderBytes is 8/,
      ],
      [
        'a resource too long',
        (t: BookingTable) => t.book('é'.repeat(9), 5, 6, 'x'),
        /resource is too long: 18 UTF-8 bytes, and maxKeyBytes is 16/,
      ],
      ['a resource that is not a string', (t: BookingTable) => t.book(new Uint8Array(2) as never, 5, 6, 'x'), /resource must be a string/],
      ['a resource with a lone surrogate', (t: BookingTable) => t.book('r\ud800', 5, 6, 'x'), /lone surrogate/],
      [
        'a zero ttl',
        (t: BookingTable) => t.hold('room', 5, 6, 'x', { ttlMs: 0 }),
        /ttlMs must be a finite number of milliseconds > 0, got 0/,
      ],
      ['a negative ttl', (t: BookingTable) => t.hold('room', 5, 6, 'x', { ttlMs: -5 }), /got -5/],
      ['an infinite ttl', (t: BookingTable) => t.hold('room', 5, 6, 'x', { ttlMs: Infinity }), /got Infinity/],
      [
        'no hold options',
        (t: BookingTable) => t.hold('room', 5, 6, 'x', undefined as never),
        /table\.hold\(resource, start, end, holder, options\): ttlMs is required/,
      ],
      [
        'a misspelled hold option',
        (t: BookingTable) => t.hold('room', 5, 6, 'x', { ttl: 5 } as never),
        /table\.hold\(resource, start, end, holder, options\): unknown option "ttl"; did you mean "ttlMs"\?/,
      ],
      ['a bad interval in a hold', (t: BookingTable) => t.hold('room', 6, 5, 'x', { ttlMs: 5 }), /end must be greater than start/],
      ['confirm of a number', (t: BookingTable) => t.confirm(3 as never), /holdId must be a booking id \(a string\), got 3/],
      ['confirm of a malformed id', (t: BookingTable) => t.confirm('room'), /holdId must be a booking id .*, got "room"/],
      ['cancel of a malformed id', (t: BookingTable) => t.cancel('0abc-1:room'), /id must be a booking id/],
      ['cancel of an id naming a resource too long', (t: BookingTable) => t.cancel(`0000000a-1:${'x'.repeat(17)}`), /resource is too long/],
      [
        'bookings of a resource that is not a string',
        (t: BookingTable) => t.bookings(null as never),
        /resource must be a string, got null/,
      ],
    ])('%s', (_n, op, message) => {
      const { table } = manual();
      const kept = table.book('room', 0, 1, 'keep');
      const held = table.hold('room', 1, 2, 'keep', { ttlMs: 100 });
      expectCode(() => op(table), ErrorCode.INVALID_ARG, message);
      expect(table.bookings('room')).toEqual([kept, held]);
      expect(table.book('room', 5, 6, 'x').start).toBe(5); // the table still works
    });

    it.each([
      ['capacity 0', { capacity: 0 }, /capacity must be an integer in \[1, 16777216\], got 0/],
      ['a clock that cannot be shared', { capacity: 4, clock: { now: () => 0 } }, /systemClock or a ManualClock/],
      ['maxBookingsPerResource 0', { capacity: 4, maxBookingsPerResource: 0 }, /maxBookingsPerResource/],
      [
        'maxBookingsPerResource past the largest',
        { capacity: 4, maxBookingsPerResource: 4097 },
        /maxBookingsPerResource must be an integer in \[1, 4096\], got 4097/,
      ],
      ['maxHolderBytes 1.5', { capacity: 4, maxHolderBytes: 1.5 }, /maxHolderBytes/],
      ['maxKeyBytes 0', { capacity: 4, maxKeyBytes: 0 }, /maxKeyBytes must be an integer in \[1, 65535\], got 0/],
      [
        'a misspelled option',
        { capacity: 4, maxHolderByte: 8 },
        /new BookingTable\(options\): unknown option "maxHolderByte"; did you mean "maxHolderBytes"\?/,
      ],
      [
        'an old name and its new one together',
        { capacity: 4, maxResourceBytes: 8, maxKeyBytes: 8 },
        /"maxResourceBytes" is the old name of "maxKeyBytes"; give only "maxKeyBytes"/,
      ],
      ['a table too large to allocate', { capacity: 2 ** 20, maxBookingsPerResource: 4096 }, /needs \d+ bytes; the limit is/],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new BookingTable(o), ErrorCode.INVALID_ARG, message);
    });

    it("byteLength reads the constructor's options, as strictly", () => {
      expectCode(
        () => BookingTable.byteLength({ capacity: 4, maxBooking: 8 } as never),
        ErrorCode.INVALID_ARG,
        /BookingTable\.byteLength\(options\): unknown option "maxBooking"; did you mean "maxBookingsPerResource"\?/,
      );
    });

    it.each(
      forgedHandles<BookingTableHandle>('sabre.LeaseLock', [
        ['other options', (h) => ({ ...h, options: { ...h.options, maxBookingsPerResource: 7 } })],
        ['an unknown option', (h) => ({ ...h, options: { ...h.options, extra: 1 } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: 'wall' } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { table } = manual();
      expectCode(
        thrown(() => BookingTable.from(forge(table.handle) as BookingTableHandle)),
        ErrorCode.HANDLE,
      );
    });
  });

  describe('on real threads', () => {
    it('workers rushing for the same slots: each slot is booked exactly once, and the table lists exactly the winners', async () => {
      const table = new BookingTable({ capacity: 4 });
      const parties = 3,
        slots = 24;
      const line = new Int32Array(new SharedArrayBuffer(4));
      const ws = await Promise.all(Array.from({ length: parties }, () => worker()));
      const results = await Promise.all(
        ws.map((w, i) =>
          w.call<(string | null)[]>('rush', {
            table: table.handle,
            resource: 'hall',
            holder: `w${i}`,
            line,
            parties,
            slots,
            offset: i * 8,
          }),
        ),
      );
      const winners = Array.from({ length: slots }, (_, s) => results.map((r) => r[s]).filter((id) => id !== null));
      expect(
        winners.map((w) => w.length),
        'winners per slot',
      ).toEqual(new Array(slots).fill(1));
      const listed = table.bookings('hall');
      expect(listed.map((b) => b.id)).toEqual(winners.map((w) => w[0]));
      expect(listed.map((b) => b.start)).toEqual(Array.from({ length: slots }, (_, s) => s));
    });

    it('a hold made in one thread is confirmed or cancelled in another; errors keep their codes across threads', async () => {
      const clock = new ManualClock({ startMs: 0 });
      const table = new BookingTable({ capacity: 4, clock });
      const w = await worker();
      const h = await w.call<Hold>('hold', { table: table.handle, resource: 'room', start: 1, end: 3, holder: 'bob', ttlMs: 50 });
      expect(h.expiresAt).toBe(50);
      expectCode(() => table.book('room', 2, 4, 'ada'), ErrorCode.CONFLICT);
      expectCode(
        await rejected(w.call('book', { table: table.handle, resource: 'room', start: 0, end: 2, holder: 'ada' })),
        ErrorCode.CONFLICT,
        /overlaps a hold of another holder/,
      );
      expect(table.confirm(h.id)).toEqual({ id: h.id, resource: 'room', start: 1, end: 3, holder: 'bob' });
      expect(await w.call<Booking[]>('bookings', { table: table.handle, resource: 'room' })).toEqual(table.bookings('room'));
      const h2 = table.hold('room', 3, 4, 'ada', { ttlMs: 10 });
      clock.advance(10);
      expectCode(await rejected(w.call('confirm', { table: table.handle, id: h2.id })), ErrorCode.NOT_OWNER, /expired at 10 ms/);
      expect(await w.call('cancel', { table: table.handle, id: h.id })).toBe(true);
      expect(table.bookings('room')).toEqual([]);
    });

    it('a hold outlives the thread that made it: it blocks until its expiry, then the interval is free', async () => {
      const clock = new ManualClock({ startMs: 0 });
      const table = new BookingTable({ capacity: 4, clock });
      const w = await worker();
      const booked = await w.call<Booking>('book', { table: table.handle, resource: 'room', start: 0, end: 1, holder: 'ada' });
      const h = await w.call<Hold>('hold', { table: table.handle, resource: 'room', start: 1, end: 2, holder: 'bob', ttlMs: 100 });
      await w.stop();
      expectCode(() => table.book('room', 1, 2, 'cy'), ErrorCode.CONFLICT);
      expect(table.confirm(h.id).holder).toBe('bob'); // bob's next request, served by another thread
      const h2 = table.hold('room', 2, 3, 'dan', { ttlMs: 100 });
      clock.advance(100);
      expect(table.book('room', 2, 3, 'cy').holder).toBe('cy');
      const listed = table.bookings('room');
      expect(listed.map((b) => b.holder)).toEqual(['ada', 'bob', 'cy']);
      expect(listed.map((b) => b.id).slice(0, 2)).toEqual([booked.id, h.id]);
      expect(table.booking(h2.id)).toBeUndefined();
    });
  });
});

describe('BookingTable: deprecated names', () => {
  afterEach(() => resetDeprecationsForTesting());

  it('`maxResourceBytes` is `maxKeyBytes`, option and property: the same table, and one SABRE_DEP_MAX_KEY_BYTES warning', async () => {
    let old!: BookingTable;
    let limit = 0;
    const codes = await deprecationsDuring(() => {
      old = new BookingTable({ capacity: 4, maxResourceBytes: 8 });
      BookingTable.byteLength({ capacity: 4, maxResourceBytes: 8 });
      limit = old.maxResourceBytes;
    });
    expect(codes).toEqual(['SABRE_DEP_MAX_KEY_BYTES']);
    const current = new BookingTable({ capacity: 4, maxKeyBytes: 8 });
    expect(old.handle.options).toEqual(current.handle.options);
    expect(old.handle.byteLength).toBe(current.handle.byteLength);
    expect(limit).toBe(8);
    expect(old.maxKeyBytes).toBe(8);
    expect(old.book('x'.repeat(8), 0, 1, 'ada').resource).toBe('x'.repeat(8));
    expectCode(() => old.book('x'.repeat(9), 0, 1, 'ada'), ErrorCode.INVALID_ARG, /maxKeyBytes is 8/);
  });

  it('the old property warns once by itself', async () => {
    const table = new BookingTable({ capacity: 4 });
    expect(await deprecationsDuring(() => [table.maxResourceBytes, table.maxResourceBytes])).toEqual(['SABRE_DEP_MAX_KEY_BYTES']);
    expect(table.maxResourceBytes).toBe(table.maxKeyBytes);
  });
});
