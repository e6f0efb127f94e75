/**
 * Threads book, hold, confirm and cancel intervals of a few resources of one
 * BookingTable (or its check-then-book twin), as holder `t<thread>`, `ops`
 * times, drawing at random:
 * - book [s, e) of slots 0..SLOTS of a random resource;
 * - hold one for TTL_MIN..TTL_MAX ms of the shared ManualClock;
 * - confirm one of its own holds (refused once it lapsed: expected);
 * - cancel one of its own accepted bookings (it must still be there);
 * - move the clock on by 1..MAX_ADVANCE ms (so holds lapse mid-run).
 * Every accepted booking (a book, or a confirmed hold) goes into the shared
 * log: [resource, id number, start, end, thread, state]; state ACCEPTED, then
 * CANCELLING just before its cancel, CANCELLED after. After each accepted
 * operation the thread reads the resource's bookings and counts a VIOLATION
 * when two confirmed ones overlap, or entries of two holders overlap; a
 * cancel of its own accepted booking that finds nothing counts a MISSING.
 */
import { add } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { isSabreError } from '../../src/errors.js';
import { BookingTable, type BookingTableHandle } from '../../src/store/booking-table.js';
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenBook, type TwinEntry } from './check-then-book.js';

export const SLOTS = 8;
export const TTL_MIN = 5,
  TTL_MAX = 40,
  MAX_ADVANCE = 15;
/** `words`: VIOLATIONS, MISSING, LOG_COUNT, TWIN_SEQ (the twin's id counter), REFUSED (refusals of any kind, for reports). */
export const VIOLATIONS = 0,
  MISSING = 1,
  LOG_COUNT = 2,
  TWIN_SEQ = 3,
  REFUSED = 4,
  BOOKING_WORDS = 5;
/** Log entries the shared log holds, and the Float64 fields of one. */
export const LOG_ENTRIES = 1024;
export const RESOURCE = 0,
  SEQ = 1,
  START = 2,
  END = 3,
  THREAD = 4,
  STATE = 5,
  LOG_FIELDS = 6;
/** STATE values (0: the entry was claimed but never written, by a thread killed in between). */
export const ACCEPTED = 1,
  CANCELLING = 2,
  CANCELLED = 3;

export type BookingKind = 'table' | 'check-then-book';

export interface BookingShared {
  readonly kind: BookingKind;
  readonly table: BookingTableHandle;
  readonly clock: ManualClockHandle;
  /** For the twin: a plain table of entry lists. */
  readonly twin: SharedHashTableHandle;
  readonly words: Int32Array;
  readonly log: Float64Array;
}

export interface BookingInput {
  readonly ops: number;
  readonly resources: number;
}

/** The number in an id ("<tag>-<n>:<resource>", the twin's "twin-<n>:<resource>"). */
export const seqOf = (id: string): number => Number(id.slice(id.indexOf('-') + 1, id.indexOf(':')));

/** Why a list of bookings of one resource is wrong, or null: no two confirmed overlap, nor two holders' entries. */
export function overlapIn(list: readonly { start: number; end: number; holder: string; expiresAt?: number }[]): string | null {
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!,
        b = list[j]!;
      if (!(a.start < b.end && b.start < a.end)) continue;
      const confirmed = a.expiresAt === undefined && b.expiresAt === undefined;
      if (confirmed || a.holder !== b.holder) return `${a.holder} [${a.start}, ${a.end}) and ${b.holder} [${b.start}, ${b.end}) overlap`;
    }
  }
  return null;
}

export default defineProgram<BookingShared, BookingInput, void>(({ shared, input, random, thread }) => {
  const clock = ManualClock.from(shared.clock);
  const table =
    shared.kind === 'table'
      ? BookingTable.from(shared.table)
      : new CheckThenBook(SharedHashTable.from<TwinEntry[]>(shared.twin), clock, shared.words.subarray(TWIN_SEQ, TWIN_SEQ + 1));
  const { words, log } = shared;
  const holder = `t${thread}`;
  const pick = (n: number): number => Math.floor(random() * n);
  const holds: { id: string; r: number }[] = [];
  const accepted: { at: number; id: string }[] = []; // this thread's accepted bookings not cancelled, by log index

  const check = (r: number): void => {
    if (overlapIn(table.bookings(`r${r}`)) !== null) add(words, VIOLATIONS, 1);
  };
  const logAccepted = (r: number, b: { id: string; start: number; end: number }): void => {
    const at = add(words, LOG_COUNT, 1);
    if (at >= LOG_ENTRIES) return;
    const base = at * LOG_FIELDS;
    log[base + RESOURCE] = r;
    log[base + SEQ] = seqOf(b.id);
    log[base + START] = b.start;
    log[base + END] = b.end;
    log[base + THREAD] = thread;
    log[base + STATE] = ACCEPTED;
    accepted.push({ at, id: b.id });
  };
  const refused = (e: unknown): void => {
    if (!isSabreError(e, 'ERR_CONFLICT') && !isSabreError(e, 'ERR_NOT_OWNER') && !isSabreError(e, 'ERR_CAPACITY')) throw e;
    add(words, REFUSED, 1);
  };

  for (let i = 0; i < input.ops; i++) {
    const r = pick(input.resources);
    const start = pick(SLOTS);
    const end = Math.min(SLOTS, start + 1 + pick(3));
    const what = random();
    try {
      if (what < 0.35) {
        logAccepted(r, table.book(`r${r}`, start, end, holder));
        check(r);
      } else if (what < 0.6) {
        holds.push({ id: table.hold(`r${r}`, start, end, holder, { ttlMs: TTL_MIN + pick(TTL_MAX - TTL_MIN) }).id, r });
        check(r);
      } else if (what < 0.8) {
        if (holds.length === 0) continue;
        const h = holds.splice(pick(holds.length), 1)[0]!;
        logAccepted(h.r, table.confirm(h.id));
        check(h.r);
      } else if (what < 0.9) {
        if (accepted.length === 0) continue;
        const { at, id } = accepted.splice(pick(accepted.length), 1)[0]!;
        log[at * LOG_FIELDS + STATE] = CANCELLING;
        if (!table.cancel(id)) add(words, MISSING, 1);
        log[at * LOG_FIELDS + STATE] = CANCELLED;
      } else {
        clock.advance(1 + pick(MAX_ADVANCE));
      }
    } catch (e) {
      refused(e);
    }
  }
});
