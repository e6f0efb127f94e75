/**
 * Test fixture: a worker that books, holds, confirms and cancels in a
 * BookingTable when asked (driven by test/store/booking-table.test.ts through
 * test/threads/remote.ts). 'rush' waits at a start line shared with the other
 * workers, then tries to book every slot in turn, so that the workers really
 * contend for the same intervals.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { BookingTable, type BookingTableHandle } from '../src/store/booking-table.js';
import { isSabreError } from '../src/errors.js';
import { startLine } from './start-line.js';

interface Arg {
  table: BookingTableHandle;
  resource: string;
  start: number;
  end: number;
  holder: string;
  ttlMs: number;
  id: string;
  line: Int32Array;
  parties: number;
  slots: number;
  offset: number;
}

const ops: Record<string, (arg: Arg) => unknown> = {
  book: ({ table, resource, start, end, holder }) => BookingTable.from(table).book(resource, start, end, holder),
  hold: ({ table, resource, start, end, holder, ttlMs }) => BookingTable.from(table).hold(resource, start, end, holder, { ttlMs }),
  confirm: ({ table, id }) => BookingTable.from(table).confirm(id),
  cancel: ({ table, id }) => BookingTable.from(table).cancel(id),
  bookings: ({ table, resource }) => BookingTable.from(table).bookings(resource),
  /**
   * Once every party is at the line, tries to book each slot [i, i + 1) for
   * i < slots, starting at `offset` and wrapping; returns the id it got per
   * slot (null: refused with ConflictError).
   */
  rush: ({ table, resource, holder, line, parties, slots, offset }) => {
    const t = BookingTable.from(table);
    startLine(line, parties);
    const got = new Array<string | null>(slots).fill(null);
    for (let k = 0; k < slots; k++) {
      const i = (offset + k) % slots;
      try {
        got[i] = t.book(resource, i, i + 1, holder).id;
      } catch (e) {
        if (!isSabreError(e, 'ERR_CONFLICT')) throw e;
      }
    }
    return got;
  },
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-booking: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
