/**
 * BookingTable: bookings of intervals of named resources (rooms, seats,
 * appointment slots), never two overlapping confirmed ones, across every
 * thread; with holds that expire.
 */
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import type { Codec } from '../memory/codec.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { CapacityError, ConflictError, InvalidArgumentError, NotOwnerError } from '../errors.js';
import { deprecated } from '../options/deprecate.js';
import { duration, integer } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import { SharedHashTable } from '../table/shared-hash-table.js';
import type { KeyedStats } from '../table/when-full.js';
import { describeValue, wellFormed } from '../validate.js';

const { add64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body:
 *   byte 0    TAG     Int32: a random number drawn when the table is made,
 *                     part of every id, so an id of another table is unknown
 *                     here (never someone else's booking); written before the
 *                     region is published and never again, so read plainly
 *   byte 8    SEQ     BigInt64: the last booking number handed out
 *   byte 128  the records: a SharedHashTable (nested region) from resource
 *             name to its list of entries, each [flags (HELD), seq, start,
 *             end, expiresAt, holder] (codec below; at most
 *             maxBookingsPerResource entries)
 *
 * An id is "<tag>-<seq>:<resource>": it names its resource, so `confirm` and
 * `cancel` are one step on that resource's record like `book` and `hold`,
 * and no second table (id -> resource) has to be kept in step with the first.
 *
 * Every operation is one `compute` on the resource's record, under its table
 * segment's lock: it reads the clock, decides against the entries that are
 * live (confirmed bookings, and holds with expiresAt > now) and writes the new
 * list. That compute is the linearization point of book, hold, confirm and
 * cancel; so "is [start, end) free?" and "take it" cannot be separated by
 * another thread (the check-then-book race that double-books a room). Every
 * write drops the expired holds it finds; a refusal writes nothing.
 * `bookings` and `booking` are one lock-free table read (its first SEQ load),
 * judged against one clock reading taken after it.
 *
 * Expiry, as LeaseLock's: a hold is free at expiresAt (expiresAt <= now) with
 * no cleanup step; the clock is injected (a ManualClock for tests). Unlike a
 * lease, a hold is not freed when the thread that made it dies: a hold
 * belongs to its holder (a customer in a checkout), whose confirm may come
 * from any thread, so it lasts its TTL whichever thread served the request.
 *
 * Owner death: a thread dying inside the compute leaves the segment lock
 * poisoned; the next user of the segment rebuilds it from its live slots (see
 * SharedHashTable), so the step happened whole or not at all. Dying after
 * it: a booking stands (it is its holder's, not the thread's), a hold lapses
 * at its expiry, and a number drawn from SEQ but never written (also when
 * compute re-runs its function after a recount) is simply skipped.
 *
 * Capacity: a resource whose record empties (cancels, expired holds dropped)
 * leaves the table. A record lapses when its last hold expires and it has
 * no booking (recordLapsesAt); a new resource that finds the table full
 * has the table reclaim lapsed records (table/lapse.ts) before it refuses.
 */

const TAG = 0; // Int32 word
const SEQ = 1; // BigInt64 word (byte 8)
const TABLE_AT = CACHE_LINE_BYTES;

/** Entry flags. */
const HELD = 1; // a hold (else a confirmed booking)

/*
 * Record encoding (little-endian): a 2-byte entry count, then each entry:
 * flags u8, holder length u16, seq f64, start f64, end f64, expiresAt f64,
 * the holder's UTF-8 bytes.
 */
const COUNT_BYTES = 2;
const ENTRY_FIXED_BYTES = 35;

/** Default most entries (confirmed bookings and live holds) one resource may have. */
export const DEFAULT_MAX_BOOKINGS_PER_RESOURCE = 32;
/** Largest `maxBookingsPerResource` (a record is rewritten whole at every step). */
export const MAX_BOOKINGS_PER_RESOURCE = 4096;
/** Default `maxKeyBytes`: the longest resource name, in UTF-8 bytes. */
export const DEFAULT_MAX_BOOKING_KEY_BYTES = 256;
/** Default longest holder, in UTF-8 bytes. */
export const DEFAULT_MAX_HOLDER_BYTES = 64;
/** Largest `maxHolderBytes`. */
export const MAX_HOLDER_BYTES = 4096;

export interface BookingTableOptions {
  /** Resources with bookings or holds at once. */
  readonly capacity: number;
  /** The clock holds expire on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  /** Longest resource name (the table's key) in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** Most confirmed bookings and live holds one resource may have (default 32, at most 4096). */
  readonly maxBookingsPerResource?: number;
  /** Longest holder in UTF-8 bytes (default 64). */
  readonly maxHolderBytes?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
  /** @deprecated Use `maxKeyBytes` (`SABRE_DEP_MAX_KEY_BYTES`). */
  readonly maxResourceBytes?: number;
}

/** A confirmed booking of [start, end) of `resource`. */
export interface Booking {
  /** This table's id for it (the hold's id, if it was confirmed from a hold). */
  readonly id: string;
  readonly resource: string;
  readonly start: number;
  readonly end: number;
  readonly holder: string;
}

/** A hold on [start, end) of `resource`, until `expiresAt` (on the table's clock). */
export interface Hold extends Booking {
  /** When the hold lapses, in ms of the table's clock. */
  readonly expiresAt: number;
}

export interface HoldOptions {
  /** How long the hold lasts, in ms of the table's clock (> 0, finite). */
  readonly ttlMs: number;
}

interface Entry {
  readonly flags: number;
  readonly seq: number;
  readonly start: number;
  readonly end: number;
  readonly expiresAt: number;
  readonly holder: string;
}
type Entries = readonly Entry[];

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

const recordCodec: Codec<Entries> = {
  encode(entries) {
    const out = new Uint8Array(COUNT_BYTES + entries.reduce((n, e) => n + ENTRY_FIXED_BYTES + Buffer.byteLength(e.holder), 0));
    recordCodec.encodeInto!(entries, out);
    return out;
  },
  encodeInto(entries, target) {
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    if (target.length < COUNT_BYTES) return -1;
    view.setUint16(0, entries.length, true);
    let at = COUNT_BYTES;
    for (const e of entries) {
      if (at + ENTRY_FIXED_BYTES > target.length) return -1;
      const { read, written } = encoder.encodeInto(e.holder, target.subarray(at + ENTRY_FIXED_BYTES));
      if (read !== e.holder.length) return -1;
      view.setUint8(at, e.flags);
      view.setUint16(at + 1, written, true);
      view.setFloat64(at + 3, e.seq, true);
      view.setFloat64(at + 11, e.start, true);
      view.setFloat64(at + 19, e.end, true);
      view.setFloat64(at + 27, e.expiresAt, true);
      at += ENTRY_FIXED_BYTES + written;
    }
    return at;
  },
  decode(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const entries: Entry[] = [];
    for (let i = 0, n = view.getUint16(0, true), at = COUNT_BYTES; i < n; i++) {
      const len = view.getUint16(at + 1, true);
      entries.push({
        flags: view.getUint8(at),
        seq: view.getFloat64(at + 3, true),
        start: view.getFloat64(at + 11, true),
        end: view.getFloat64(at + 19, true),
        expiresAt: view.getFloat64(at + 27, true),
        holder: decoder.decode(bytes.subarray(at + ENTRY_FIXED_BYTES, at + ENTRY_FIXED_BYTES + len)),
      });
      at += ENTRY_FIXED_BYTES + len;
    }
    return entries;
  },
};

const tableSizes = (o: {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  readonly maxBookingsPerResource: number;
  readonly maxHolderBytes: number;
}) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: COUNT_BYTES + o.maxBookingsPerResource * (ENTRY_FIXED_BYTES + o.maxHolderBytes),
});

const DEF = definePrimitive(
  'BookingTable',
  1,
  {
    capacity: integer({ max: 2 ** 24 }),
    maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_BOOKING_KEY_BYTES }),
    maxBookingsPerResource: integer({ max: MAX_BOOKINGS_PER_RESOURCE, default: DEFAULT_MAX_BOOKINGS_PER_RESOURCE }),
    maxHolderBytes: integer({ max: MAX_HOLDER_BYTES, default: DEFAULT_MAX_HOLDER_BYTES }),
    clock: clock(),
  },
  {
    renamed: { maxResourceBytes: { to: 'maxKeyBytes', code: 'SABRE_DEP_MAX_KEY_BYTES' } },
    check: (o) => {
      SharedHashTable.byteLength(tableSizes(o)); // refuses a table too large to allocate
    },
    bodyBytes: (o) => TABLE_AT + SharedHashTable.byteLength(tableSizes(o)),
  },
);
export type BookingTableHandle = HandleOf<typeof DEF>;

const HOLD_OPTIONS = defineOptions('table.hold(resource, start, end, holder, options)', {
  ttlMs: duration({ positive: true, infinite: false }),
});

function finite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new InvalidArgumentError(`${name} must be a finite number, got ${describeValue(v)}`);
  return v;
}

function interval(start: unknown, end: unknown): void {
  const s = finite('start', start),
    e = finite('end', end);
  if (e <= s)
    throw new InvalidArgumentError(
      `end must be greater than start (a booking is the half-open interval [start, end)), got start ${s} and end ${e}`,
    );
}

/** A string of at most `maxBytes` UTF-8 bytes with a UTF-8 form (no lone surrogate). */
function text(name: string, v: unknown, maxBytes: number, option: string): string {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${name} must be a string, got ${describeValue(v)}`);
  // Every UTF-16 code unit takes at most 3 UTF-8 bytes: measure only strings that may not fit.
  if (v.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(v, 'utf8');
    if (bytes > maxBytes) throw new InvalidArgumentError(`${name} is too long: ${bytes} UTF-8 bytes, and ${option} is ${maxBytes}`);
  }
  return wellFormed(name, v);
}

const ID = /^([0-9a-f]{8})-([1-9][0-9]{0,15}):/;

const isHeld = (e: Entry): boolean => (e.flags & HELD) !== 0;
const isLive = (e: Entry, now: number): boolean => !isHeld(e) || e.expiresAt > now;

/** When a record stops mattering: never while it has a booking, else when its last hold expires (at once if empty). */
function recordLapsesAt(entries: readonly Entry[]): number {
  let at = -Infinity;
  for (const e of entries) at = isHeld(e) ? Math.max(at, e.expiresAt) : Infinity;
  return at;
}
const overlaps = (e: Entry, start: number, end: number): boolean => e.start < end && start < e.end;

/** What one step decided (set inside the compute, acted on after it). */
type Outcome =
  | { readonly kind: 'done'; readonly entry: Entry }
  | { readonly kind: 'conflict'; readonly with: Entry; readonly now: number }
  | { readonly kind: 'too-many'; readonly count: number }
  | { readonly kind: 'expired'; readonly entry: Entry; readonly now: number }
  | { readonly kind: 'unknown' };

/**
 * Bookings of intervals of named resources, shared by every thread: never
 * two overlapping confirmed bookings of a resource, whichever threads book.
 *
 * `book(resource, start, end, holder)` books the half-open interval
 * [start, end) (adjacent bookings do not overlap; start and end are any
 * finite numbers: ms timestamps, slot numbers) or throws `ConflictError`
 * when it overlaps a confirmed booking, or a live hold of another holder.
 * `hold(...)` blocks an interval for `ttlMs` on the table's clock (a
 * checkout); `confirm(holdId)` turns a live hold into a booking with the same
 * id; an expired hold is free for anyone at once, with no cleanup, and can no
 * longer be confirmed. `cancel(id)` removes a booking or a live hold.
 * `bookings(resource)` lists the confirmed bookings and live holds (a hold
 * has `expiresAt`). Each operation is one atomic step on the resource.
 *
 * A holder's own live holds do not block its `book` or `hold` (they lapse,
 * or are confirmed, on their own); its confirmed bookings do, like anyone's.
 * Holds outlive the thread that made them (see the notes): any thread may
 * confirm or cancel one by its id.
 *
 * Memory synchronization: a `book`, `hold`, `confirm` or `cancel`
 * happens-before every later operation on the resource that sees its effect.
 *
 * @throws ConflictError (`ERR_CONFLICT`) from `book`/`hold`/`confirm` when the
 *   interval overlaps a confirmed booking or another holder's live hold
 * @throws NotOwnerError (`ERR_NOT_OWNER`) from `confirm` of a hold that
 *   expired, was cancelled, or is not this table's
 * @throws CapacityError (`ERR_CAPACITY`) when the resource has
 *   `maxBookingsPerResource` entries, or a new resource finds the table full
 *   (after reclaiming the records left with only expired holds). This is the
 *   one "full" policy: a booking is an answer the caller must act on, so
 *   there is no fail-open (a booking not recorded is a double booking) and
 *   no quiet fail-closed (a refusal must not read as a conflict).
 *   `stats().refusedWhenFull` counts the refusals.
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for start or end not
 *   finite, end <= start, a ttlMs that is not finite and > 0, a resource or
 *   holder that is not a string or is too long, a malformed id, a bad or
 *   unknown option (named, with the one likely meant)
 *
 * `cancel` of an id that is not booked or held (cancelled already, an
 * expired hold, another table's) returns `false`: cancelling is idempotent.
 * `confirm` of a hold already confirmed returns its booking again.
 *
 * @example
 * ```ts
 * const rooms = new BookingTable({ capacity: 1000 });
 * rooms.book('room:7', 9, 10, 'ada');                          // { id, resource: 'room:7', start: 9, end: 10, holder: 'ada' }
 * rooms.book('room:7', 9.5, 11, 'bob');                        // throws ConflictError
 * const hold = rooms.hold('room:7', 10, 11, 'bob', { ttlMs: 5 * 60_000 }); // checkout starts
 * rooms.confirm(hold.id);                                      // paid in time: booked
 * rooms.bookings('room:7');                                    // [ada's 9-10, bob's 10-11]
 * ```
 * @remarks Since 0.1
 */
export class BookingTable {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: BookingTableHandle;
  readonly clock: Clock;
  /** Resources with bookings or holds it holds at once. */
  readonly capacity: number;
  /** Longest resource name, in UTF-8 bytes. */
  readonly maxKeyBytes: number;
  readonly maxBookingsPerResource: number;
  readonly maxHolderBytes: number;
  private readonly tag: string;
  private readonly seq: BigInt64Array;
  private readonly table: SharedHashTable<Entries>;

  constructor(options: BookingTableOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    // Before publication: a plain store, ordered before any other thread's
    // first read by the postMessage that carries the handle.
    if (created) region.i32(0, 1)[TAG] = crypto.getRandomValues(new Int32Array(1))[0]!;
    this.handle = region.handle;
    ({
      capacity: this.capacity,
      maxKeyBytes: this.maxKeyBytes,
      maxBookingsPerResource: this.maxBookingsPerResource,
      maxHolderBytes: this.maxHolderBytes,
    } = o);
    this.tag = (region.i32(0, 1)[TAG]! >>> 0).toString(16).padStart(8, '0');
    this.seq = region.i64(0, 2);
    this.table = SharedHashTable.nested(region, TABLE_AT, tableSizes(o), recordCodec, created ? 'create' : 'open');
    this.table.setLapse({ now: () => this.clock.now(), lapsesAt: recordLapsesAt, full: (r) => this.full(r as string) });
  }

  /** Resources with records, capacity, and new resources refused because the table was full. */
  stats(): KeyedStats {
    return this.table.stats();
  }

  /** Re-opens a table from its handle, in any thread. @throws HandleError */
  static from(handle: BookingTableHandle): BookingTable {
    return new BookingTable(DEF.open(handle));
  }

  /** Bytes a table of these options takes. */
  static byteLength(options: BookingTableOptions): number {
    return DEF.byteLength(options);
  }

  /** @deprecated Use `maxKeyBytes` (`SABRE_DEP_MAX_KEY_BYTES`). */
  get maxResourceBytes(): number {
    deprecated('SABRE_DEP_MAX_KEY_BYTES', 'BookingTable#maxResourceBytes');
    return this.maxKeyBytes;
  }

  /**
   * Books [start, end) of `resource` for `holder`.
   * @throws ConflictError if it overlaps a confirmed booking or another holder's live hold (nothing changes)
   */
  book(resource: string, start: number, end: number, holder: string): Booking {
    return this.public(resource, this.take(resource, start, end, holder, 0));
  }

  /**
   * Holds [start, end) of `resource` for `holder` for `ttlMs` on the table's
   * clock; `confirm(hold.id)` before `hold.expiresAt` books it.
   * @throws ConflictError if it overlaps a confirmed booking or another holder's live hold (nothing changes)
   */
  hold(resource: string, start: number, end: number, holder: string, options: HoldOptions): Hold {
    const { ttlMs } = HOLD_OPTIONS.parse(options);
    return this.public(resource, this.take(resource, start, end, holder, ttlMs)) as Hold;
  }

  /**
   * Turns a live hold into a confirmed booking (same id); a hold confirmed
   * already returns its booking again.
   * @throws NotOwnerError if the hold expired (its interval may have been taken since), was cancelled, or is unknown
   * @throws ConflictError if the holder has booked an overlapping interval since
   */
  confirm(holdId: string): Booking {
    const { resource, seq } = this.parse('holdId', holdId);
    let outcome: Outcome = { kind: 'unknown' };
    // Linearization point: this compute.
    this.table.compute(resource, (current) => {
      const now = this.clock.now();
      const hold = current?.find((e) => e.seq === seq);
      if (hold === undefined) {
        outcome = { kind: 'unknown' };
        return current;
      }
      if (!isHeld(hold)) {
        outcome = { kind: 'done', entry: hold };
        return current;
      }
      if (hold.expiresAt <= now) {
        outcome = { kind: 'expired', entry: hold, now };
        return current;
      }
      const live = current!.filter((e) => isLive(e, now));
      // Another holder's live hold cannot overlap a live hold (neither could
      // have been made), but the step checks what it relies on.
      const clash = live.find((e) => e.seq !== seq && overlaps(e, hold.start, hold.end) && (!isHeld(e) || e.holder !== hold.holder));
      if (clash !== undefined) {
        outcome = { kind: 'conflict', with: clash, now };
        return current;
      }
      const booked: Entry = { ...hold, flags: hold.flags & ~HELD, expiresAt: 0 };
      outcome = { kind: 'done', entry: booked };
      return live.map((e) => (e.seq === seq ? booked : e));
    });
    return this.public(resource, this.settle(resource, outcome, holdId));
  }

  /**
   * Removes a confirmed booking or a live hold. Returns false, changing
   * nothing, if `id` is neither (cancelled already, an expired hold, unknown).
   */
  cancel(id: string): boolean {
    const { resource, seq } = this.parse('id', id);
    let removed = false;
    // Linearization point: this compute.
    this.table.compute(resource, (current) => {
      const now = this.clock.now();
      const entry = current?.find((e) => e.seq === seq);
      removed = entry !== undefined && isLive(entry, now);
      if (!removed) return current;
      const rest = current!.filter((e) => e.seq !== seq && isLive(e, now));
      return rest.length === 0 ? undefined : rest;
    });
    return removed;
  }

  /** The confirmed bookings and live holds of `resource` (a hold has `expiresAt`), by start: a snapshot. */
  bookings(resource: string): (Booking | Hold)[] {
    const r = this.checkResource(resource);
    const entries = this.table.get(r);
    if (entries === undefined) return [];
    const now = this.clock.now();
    return entries
      .filter((e) => isLive(e, now))
      .sort((a, b) => a.start - b.start || a.seq - b.seq)
      .map((e) => this.public(r, e));
  }

  /** The confirmed booking or live hold `id`, or undefined (a snapshot). */
  booking(id: string): Booking | Hold | undefined {
    const { resource, seq } = this.parse('id', id);
    const entry = this.table.get(resource)?.find((e) => e.seq === seq);
    return entry !== undefined && isLive(entry, this.clock.now()) ? this.public(resource, entry) : undefined;
  }

  // ---- internals ----------------------------------------------------------

  /** book (ttl 0) and hold: one compute that checks the interval and takes it. */
  private take(resource: string, start: number, end: number, holder: string, ttl: number): Entry {
    const r = this.checkResource(resource);
    interval(start, end);
    const h = text('holder', holder, this.maxHolderBytes, 'maxHolderBytes');
    let outcome: Outcome = { kind: 'unknown' };
    const decide = (current: Entries | undefined): Entries | undefined => {
      const now = this.clock.now();
      const live = current === undefined ? [] : current.filter((e) => isLive(e, now));
      const clash = live.find((e) => overlaps(e, start, end) && (!isHeld(e) || e.holder !== h));
      if (clash !== undefined) {
        outcome = { kind: 'conflict', with: clash, now };
        return current;
      }
      if (live.length >= this.maxBookingsPerResource) {
        outcome = { kind: 'too-many', count: live.length };
        return current;
      }
      const seq = Number(add64(this.seq, SEQ, 1n) + 1n);
      const entry: Entry = { flags: ttl > 0 ? HELD : 0, seq, start, end, expiresAt: ttl > 0 ? now + ttl : 0, holder: h };
      outcome = { kind: 'done', entry };
      return [...live, entry];
    };
    // Linearization point: this compute. A full table reclaims records of expired holds first (setLapse).
    this.table.compute(r, decide);
    return this.settle(r, outcome, undefined, start, end);
  }

  /** The entry a step produced, or the error it stands for. */
  private settle(resource: string, outcome: Outcome, holdId?: string, start?: number, end?: number): Entry {
    const where = `on ${JSON.stringify(resource)}`;
    switch (outcome.kind) {
      case 'done':
        return outcome.entry;
      case 'conflict': {
        const c = outcome.with;
        const asked = holdId !== undefined ? `hold ${holdId}` : `[${start}, ${end})`;
        const what = isHeld(c)
          ? `a hold of another holder on [${c.start}, ${c.end}), live until ${c.expiresAt} ms (the clock reads ${outcome.now} ms)`
          : `a confirmed booking [${c.start}, ${c.end})`;
        return fail(new ConflictError(`${asked} ${where} overlaps ${what}`));
      }
      case 'too-many':
        return fail(
          new CapacityError(
            `${JSON.stringify(resource)} has ${outcome.count} confirmed bookings and live holds, and maxBookingsPerResource is ${this.maxBookingsPerResource}; cancel some, or create the table with a larger maxBookingsPerResource`,
          ),
        );
      case 'expired':
        return fail(
          new NotOwnerError(
            `hold ${holdId} expired at ${outcome.entry.expiresAt} ms (the clock reads ${outcome.now} ms): its interval may have been taken since; hold it again`,
          ),
        );
      case 'unknown':
        return fail(
          new NotOwnerError(`hold ${holdId} is not held: it was cancelled, it expired, or it is not this table's; hold the interval again`),
        );
    }
  }

  private public(resource: string, e: Entry): Booking | Hold {
    const booking = { id: `${this.tag}-${e.seq}:${resource}`, resource, start: e.start, end: e.end, holder: e.holder };
    return isHeld(e) ? { ...booking, expiresAt: e.expiresAt } : booking;
  }

  private checkResource(resource: unknown): string {
    return text('resource', resource, this.maxKeyBytes, 'maxKeyBytes');
  }

  /** The resource and number of an id this table made. @throws InvalidArgumentError for anything that is not one */
  private parse(name: string, id: unknown): { resource: string; seq: number } {
    if (typeof id !== 'string') throw new InvalidArgumentError(`${name} must be a booking id (a string), got ${describeValue(id)}`);
    const m = ID.exec(id);
    if (m === null)
      throw new InvalidArgumentError(
        `${name} must be a booking id ("<tag>-<number>:<resource>", as book and hold return), got ${JSON.stringify(id)}`,
      );
    const resource = this.checkResource(id.slice(m[0].length));
    // Another table's id names no entry here: its number is compared with none.
    return { resource, seq: m[1] === this.tag ? Number(m[2]) : -1 };
  }

  private full(resource: string): CapacityError {
    return new CapacityError(
      `no room for resource ${JSON.stringify(resource)}: all ${this.capacity} resources of this BookingTable have bookings or live holds; cancel some, or create it with a larger capacity`,
    );
  }
}

function fail(e: Error): never {
  throw e;
}
