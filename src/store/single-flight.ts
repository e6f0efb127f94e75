/**
 * Single-flight across threads: of all the threads that miss one key at
 * once, one computes the value and the others wait for it (Go's
 * `singleflight`, shared by every thread of the process). The Cache's
 * `getOrCompute` is built on it.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CapacityError, SabreError, TimeoutError } from '../errors.js';
import { ThreadRegistry } from '../threads/registry.js';
import { parkAsync, remaining, type Watch } from '../threads/park.js';
import type { SharedHashTable } from '../table/shared-hash-table.js';
import { KeyWaitWords } from '../table/key-wait-words.js';
import type { TableKey } from '../table/key.js';

const { add } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * A flight is a record in a small SharedHashTable (key -> FlightRecord,
 * JSON), present only while a computation runs or after one failed:
 *   running: { id, owner: threadId + 1, running: true }
 *   failed:  { id, owner: 0, running: false, failedId: id, error }
 * `begin` is one `compute` on the key's record (its linearization point):
 * no record, a failed one, or a running one whose owner thread is dead ->
 * this thread leads a new flight (a fresh id from one shared counter);
 * otherwise it joins the running flight. A new flight keeps the last
 * failure (failedId, error), so a waiter of the failed flight that wakes late
 * still reads the error it was waiting for.
 * `succeed` deletes the record, `fail` replaces it with the failure (each
 * only if the record is still its own flight), then each wakes the key's
 * wait word (one of WAIT_STRIPES: table/key-wait-words.ts).
 * A full table reclaims by itself (table/lapse.ts) failed records and
 * flights whose leader died: each record is stamped, when written, as
 * lapsed at once (a failure) or owned by its leader (a running flight).
 * Waiters read the wait word, then the record, then park on the word with
 * the value they read: an end that lands between the two is never missed.
 * A leader that dies leaves its record running with a dead owner; waiters
 * check the owner's liveness on every wake (at least every
 * LIVENESS_SLICE_MS) and then return, so that one of them leads a new flight.
 */

/** Wait words, one per stripe of keys. */
export const WAIT_STRIPES = 32;
/** Bytes of a flight record (a failure's message is cut to fit). */
export const FLIGHT_RECORD_BYTES = 1024;
const MAX_MESSAGE_CHARS = 600;

interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** A sabre error's cause (its code and details), so the waiter rebuilds the typed error. */
  readonly cause?: unknown;
}

export interface FlightRecord {
  readonly id: number;
  readonly owner: number;
  readonly running: boolean;
  readonly failedId?: number;
  readonly error?: SerializedError;
}

export interface Flight {
  readonly lead: boolean;
  readonly id: number;
}

export class Flights {
  private readonly waits: KeyWaitWords;

  constructor(
    private readonly table: SharedHashTable<FlightRecord>,
    /** WAIT_STRIPES wait words. */
    waits: Int32Array,
    /** The word at `idIndex` of `ids` numbers flights. */
    private readonly ids: Int32Array,
    private readonly idIndex: number,
  ) {
    this.waits = new KeyWaitWords(waits, WAIT_STRIPES);
    table.setLapse({
      now: () => 0,
      lapsesAt: (r) => (r.running ? Infinity : -Infinity),
      ownerOf: (r) => (r.running ? r.owner - 1 : -1),
      full: () => new CapacityError(`more than ${table.capacity} computations are in flight at once (maxPendingComputes)`),
    });
  }

  /** Leads a new flight for `key`, or joins the one running. */
  begin(key: TableKey): Flight {
    return this.tryBegin(key);
  }

  /** Ends flight `id` of `key` with success (after its value is stored). */
  succeed(key: TableKey, id: number): void {
    this.table.compute(key, (r) => (r?.id === id ? undefined : r));
    this.waits.wake(this.waits.wordOf(key));
  }

  /** Ends flight `id` of `key` with `error`, which its waiters will throw. */
  fail(key: TableKey, id: number, error: unknown): void {
    const record = (failure: SerializedError) => (r: FlightRecord | undefined) =>
      r?.id === id ? { id, owner: 0, running: false, failedId: id, error: failure } : r;
    try {
      this.table.compute(key, record(serialize(error)));
    } catch {
      // A failure too large for its record (a long multi-byte message): keep its name only.
      this.table.compute(
        key,
        record({ name: serialize(error).name.slice(0, 100), message: 'the computation failed (its message was too long to share)' }),
      );
    }
    this.waits.wake(this.waits.wordOf(key));
  }

  /**
   * Waits until flight `id` of `key` ends (or its leader dies): returns
   * normally after a success or a dead leader (the caller looks again), and
   * throws the leader's error after a failure.
   * @throws TimeoutError at `deadline` (on systemClock), AbortError on `signal`
   */
  async wait(key: TableKey, id: number, deadline: number, signal?: AbortSignal): Promise<void> {
    // The ticker's check, in place of a wake-up every slice: the flight ended or its leader died.
    const watch: Watch = () => {
      const r = this.table.get(key);
      return r?.id !== id || !r.running || !ThreadRegistry.current.isAlive(r.owner - 1);
    };
    const word = this.waits.wordOf(key);
    for (;;) {
      const seen = this.waits.epoch(word);
      const r = this.table.get(key);
      if (r === undefined) return;
      if (r.failedId === id && r.error !== undefined) throw rebuild(r.error);
      if (r.id !== id || !r.running || !ThreadRegistry.current.isAlive(r.owner - 1)) return;
      if (remaining(deadline) === 0) throw new TimeoutError(`timed out waiting for another thread's computation of this key`);
      await parkAsync(this.waits.words, word, seen, deadline, signal, undefined, watch);
    }
  }

  private tryBegin(key: TableKey): Flight {
    let flight!: Flight;
    // Linearization point of begin: this compute.
    this.table.compute(key, (r) => {
      if (r !== undefined && r.running && ThreadRegistry.current.isAlive(r.owner - 1)) {
        flight = { lead: false, id: r.id };
        return r;
      }
      const id = add(this.ids, this.idIndex, 1) + 1;
      flight = { lead: true, id };
      const kept = r?.error !== undefined ? { failedId: r.failedId, error: r.error } : {};
      return { id, owner: threadId + 1, running: true, ...kept };
    });
    return flight;
  }
}

function serialize(e: unknown): SerializedError {
  const cut = (s: string) => (s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s);
  if (e instanceof Error) {
    const cause = (e as { cause?: { sabre?: unknown } }).cause;
    const sabreCause =
      typeof cause === 'object' && cause !== null && cause.sabre === true ? { cause: JSON.parse(JSON.stringify(cause)) as unknown } : {};
    return { name: e.name, message: cut(e.message), ...sabreCause };
  }
  return { name: 'Error', message: cut(`non-Error thrown: ${String(e)}`) };
}

/** An error like the leader's: a sabre error is rebuilt with its class and code, any other keeps its name and message. */
function rebuild(s: SerializedError): Error {
  const e = new Error(s.message, s.cause !== undefined ? { cause: s.cause } : undefined);
  e.name = s.name;
  return SabreError.from(e) as Error;
}
