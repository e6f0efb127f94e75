/**
 * Piscina task for part 2 of `examples/03-double-voting.ts`: one worker
 * thread's share of a rush of customers for the same meeting-room slots.
 * Each customer wants [start, start + hours) of one room and either
 *   - 'book':    books it at once;
 *   - 'hold':    holds it for `ttlMs`, pays (a few ms), confirms;
 *   - 'abandon': holds it and walks away (the hold lapses by itself);
 *   - 'stall':   holds it, stalls past the hold's TTL, then tries to confirm.
 * A customer refused because the slot is taken tries one other slot, once.
 *
 * Two versions of the same desk:
 *   - 'map': each thread keeps the bookings it made in its own `Map` (what a
 *     single-threaded server does, copied into every worker);
 *   - 'sabre': every thread books in one `BookingTable` in shared memory.
 * Both desks apply the same rules (half-open intervals, holds that expire on
 * the system clock, an expired hold cannot be confirmed).
 */
import { threadId } from 'node:worker_threads';
import { isSabreError } from '../../src/index.js';
import { BookingTable, type BookingTableHandle } from '../../src/store/booking-table.js';
import { startLine } from '../start-line.js';

export type Plan = 'book' | 'hold' | 'abandon' | 'stall';

export interface Customer {
  readonly name: string;
  readonly room: string;
  readonly start: number;
  readonly hours: number;
  readonly plan: Plan;
  /** The start of the slot tried when the first is taken. */
  readonly otherStart: number;
}

export interface BookingsTask {
  readonly version: 'map' | 'sabre';
  readonly table: BookingTableHandle;
  readonly customers: readonly Customer[];
  readonly start: Int32Array;
  readonly parties: number;
  /** How long a hold lasts. */
  readonly ttlMs: number;
  /** How long a stalling customer waits before confirming (> ttlMs). */
  readonly stallMs: number;
  /** Longest time a paying customer takes to pay (well under ttlMs). */
  readonly payMs: number;
}

/** A booking a customer was told it has. */
export interface Accepted {
  readonly id: string;
  readonly room: string;
  readonly start: number;
  readonly end: number;
  readonly holder: string;
}

export interface BookingsResult {
  threadId: number;
  accepted: Accepted[];
  /** Customers booked at once / holds confirmed / refused (every slot they tried was taken). */
  booked: number;
  confirmed: number;
  refused: number;
  /** Holds left to lapse; confirms refused because the hold had lapsed (of stalling customers, of the others); stalling customers confirmed anyway. */
  abandoned: number;
  stalledRefused: number;
  inTimeRefused: number;
  stalledConfirmed: number;
}

/** What a customer can do at the desk; `null` means the slot was taken, 'expired' that the hold lapsed first. */
interface Desk {
  book(room: string, start: number, end: number, holder: string): Accepted | null;
  hold(room: string, start: number, end: number, holder: string, ttlMs: number): string | null;
  confirm(id: string): Accepted | 'expired';
}

interface Entry {
  id: string;
  start: number;
  end: number;
  holder: string;
  expiresAt: number | null;
}

/** A single-threaded desk: correct in one thread; in many, each thread has its own. */
function mapDesk(): Desk {
  const rooms = new Map<string, Entry[]>();
  const now = (): number => Number(process.hrtime.bigint()) / 1e6;
  let next = 0;
  const live = (e: Entry, t: number): boolean => e.expiresAt === null || e.expiresAt > t;
  const take = (room: string, start: number, end: number, holder: string, expiresAt: number | null): Entry | null => {
    const t = now();
    const list = (rooms.get(room) ?? []).filter((e) => live(e, t));
    if (list.some((e) => e.start < end && start < e.end && (e.expiresAt === null || e.holder !== holder))) return null;
    const entry = { id: `${threadId}-${++next}:${room}`, start, end, holder, expiresAt };
    rooms.set(room, [...list, entry]);
    return entry;
  };
  return {
    book(room, start, end, holder) {
      const e = take(room, start, end, holder, null);
      return e === null ? null : { id: e.id, room, start, end, holder };
    },
    hold(room, start, end, holder, ttlMs) {
      return take(room, start, end, holder, now() + ttlMs)?.id ?? null;
    },
    confirm(id) {
      const room = id.slice(id.indexOf(':') + 1);
      const e = rooms.get(room)?.find((x) => x.id === id);
      if (e === undefined || !live(e, now())) return 'expired';
      e.expiresAt = null;
      return { id, room, start: e.start, end: e.end, holder: e.holder };
    },
  };
}

function sabreDesk(handle: BookingTableHandle): Desk {
  const table = BookingTable.from(handle);
  const refusal = <T>(code: 'ERR_CONFLICT' | 'ERR_NOT_OWNER', value: T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (isSabreError(e, code)) return value;
      throw e;
    }
  };
  const accepted = (b: { id: string; resource: string; start: number; end: number; holder: string }): Accepted => ({
    id: b.id,
    room: b.resource,
    start: b.start,
    end: b.end,
    holder: b.holder,
  });
  return {
    book: (room, start, end, holder) => refusal('ERR_CONFLICT', null, () => accepted(table.book(room, start, end, holder))),
    hold: (room, start, end, holder, ttlMs) => refusal('ERR_CONFLICT', null, () => table.hold(room, start, end, holder, { ttlMs }).id),
    confirm: (id) => refusal<Accepted | 'expired'>('ERR_NOT_OWNER', 'expired', () => accepted(table.confirm(id))),
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps this worker thread (a customer paying, or stalling). */
const sleep = (ms: number): void => void Atomics.wait(pause, 0, 0, ms);

export default function run(task: BookingsTask): BookingsResult {
  const desk = task.version === 'map' ? mapDesk() : sabreDesk(task.table);
  const r: BookingsResult = {
    threadId,
    accepted: [],
    booked: 0,
    confirmed: 0,
    refused: 0,
    abandoned: 0,
    stalledRefused: 0,
    stalledConfirmed: 0,
    inTimeRefused: 0,
  };
  startLine(task.start, task.parties);
  for (const c of task.customers) {
    let done = false;
    for (const start of [c.start, c.otherStart]) {
      const end = start + c.hours;
      if (c.plan === 'book') {
        const b = desk.book(c.room, start, end, c.name);
        if (b === null) continue;
        r.accepted.push(b);
        r.booked++;
        done = true;
        break;
      }
      const id = desk.hold(c.room, start, end, c.name, task.ttlMs);
      if (id === null) continue;
      done = true;
      if (c.plan === 'abandon') {
        r.abandoned++;
        break;
      }
      sleep(c.plan === 'stall' ? task.stallMs : ((c.name.length % 3) * task.payMs) / 2);
      const b = desk.confirm(id);
      if (b === 'expired') {
        if (c.plan === 'stall') r.stalledRefused++;
        else r.inTimeRefused++;
        break;
      }
      r.accepted.push(b);
      r.confirmed++;
      if (c.plan === 'stall') r.stalledConfirmed++;
      break;
    }
    if (!done) r.refused++;
  }
  return r;
}
