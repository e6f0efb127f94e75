/**
 * Test-only twin of BookingTable: `book` and `hold` read the resource's
 * bookings, check the interval is free, then append the new one in a
 * separate step (as "SELECT overlapping; if none, INSERT" without a lock).
 * Two threads that both read "free" both book: a double booking. `confirm`
 * checks a hold on one read and turns it into a booking on another step.
 */
import { add } from '../../src/memory/atomics.js';
import type { Clock } from '../../src/clock.js';
import { ConflictError, NotOwnerError } from '../../src/errors.js';
import type { SharedHashTable } from '../../src/table/shared-hash-table.js';

export interface TwinEntry {
  seq: number;
  start: number;
  end: number;
  holder: string;
  /** null for a confirmed booking. */
  expiresAt: number | null;
}
interface TwinBooking {
  id: string;
  resource: string;
  start: number;
  end: number;
  holder: string;
  expiresAt?: number;
}

const live = (e: TwinEntry, now: number): boolean => e.expiresAt === null || e.expiresAt > now;
const overlaps = (e: TwinEntry, start: number, end: number): boolean => e.start < end && start < e.end;

export class CheckThenBook {
  /** `seq`: one Int32 word counting the ids handed out. */
  constructor(
    private readonly table: SharedHashTable<TwinEntry[]>,
    private readonly clock: Clock,
    private readonly seq: Int32Array,
  ) {}

  book(resource: string, start: number, end: number, holder: string): TwinBooking {
    return this.take(resource, start, end, holder, null);
  }

  hold(resource: string, start: number, end: number, holder: string, options: { ttlMs: number }): TwinBooking {
    return this.take(resource, start, end, holder, options.ttlMs);
  }

  confirm(id: string): TwinBooking {
    const { resource, seq } = parse(id);
    const now = this.clock.now();
    const hold = this.table.get(resource)?.find((e) => e.seq === seq);
    if (hold === undefined || !live(hold, now)) throw new NotOwnerError(`hold ${id} is not held`);
    // The bug: what was checked above is not what is changed below.
    this.table.compute(resource, (current) => (current ?? []).map((e) => (e.seq === seq ? { ...e, expiresAt: null } : e)));
    return { id, resource, start: hold.start, end: hold.end, holder: hold.holder };
  }

  cancel(id: string): boolean {
    const { resource, seq } = parse(id);
    let removed = false;
    this.table.compute(resource, (current) => {
      const now = this.clock.now();
      removed = current?.some((e) => e.seq === seq && live(e, now)) ?? false;
      const rest = (current ?? []).filter((e) => e.seq !== seq && live(e, now));
      return rest.length === 0 ? undefined : rest;
    });
    return removed;
  }

  bookings(resource: string): TwinBooking[] {
    const now = this.clock.now();
    return (this.table.get(resource) ?? []).filter((e) => live(e, now)).map((e) => this.public(resource, e));
  }

  private take(resource: string, start: number, end: number, holder: string, ttl: number | null): TwinBooking {
    const now = this.clock.now();
    const clash = (this.table.get(resource) ?? []).find(
      (e) => live(e, now) && overlaps(e, start, end) && (e.expiresAt === null || e.holder !== holder),
    );
    if (clash !== undefined) throw new ConflictError(`[${start}, ${end}) on ${resource} overlaps [${clash.start}, ${clash.end})`);
    const entry: TwinEntry = { seq: add(this.seq, 0, 1) + 1, start, end, holder, expiresAt: ttl === null ? null : now + ttl };
    // The bug: the check above and this insert are two steps.
    this.table.compute(resource, (current) => [...(current ?? []).filter((e) => live(e, this.clock.now())), entry]);
    return this.public(resource, entry);
  }

  private public(resource: string, e: TwinEntry): TwinBooking {
    const b = { id: `twin-${e.seq}:${resource}`, resource, start: e.start, end: e.end, holder: e.holder };
    return e.expiresAt === null ? b : { ...b, expiresAt: e.expiresAt };
  }
}

function parse(id: string): { resource: string; seq: number } {
  const colon = id.indexOf(':');
  return { resource: id.slice(colon + 1), seq: Number(id.slice(id.indexOf('-') + 1, colon)) };
}
