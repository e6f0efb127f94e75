/**
 * Threads send duplicate payment requests: `ops` times, pick one of `keys`
 * idempotency keys (`pay-<k>`), sometimes with an altered body (another
 * amount: another fingerprint, so a 422), and `begin` it on one
 * IdempotencyStore (or its check-then-begin twin). On 'new' the thread
 * charges (one atomic add to its own cell CHARGES[thread][k], so the step
 * a killed thread died after is known), does a little more work, and
 * completes with a response naming itself; with chance `abortShare` it
 * aborts instead, before charging (a declined validation). A reply (its
 * own response, or a replay) is returned as [k, digest].
 *
 * The shared ManualClock moves at most ~1 ms per op, far below LEASE_MS,
 * so no live request's lease lapses during a run.
 */
import { add, load, sleepSync } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { IdempotencyStore, type IdempotencyResponse, type IdempotencyStoreHandle } from '../../src/store/idempotency-store.js';
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenBegin, type TwinRecord } from './check-then-begin.js';

export const MAX_KEYS = 4;
/** Charge rows: one per harness thread (at most 4), then one for the main thread's retries. */
export const MAIN_ROW = 4;
/** `words`: CHARGES[row * MAX_KEYS + k], then counters, then the twin's attempt counter. */
export const CHARGES = 0,
  NEW = (MAIN_ROW + 1) * MAX_KEYS,
  REPLAYS = NEW + 1,
  CONFLICTS = NEW + 2,
  MISMATCHES = NEW + 3,
  ABORTS = NEW + 4,
  TWIN_ATTEMPTS = NEW + 5;
export const PAYMENT_WORDS = TWIN_ATTEMPTS + 1;
export const LEASE_MS = 60_000;
/** Seam steps of work between a charge and its `complete`: the window where a crash leaves a charge unrecorded. */
export const WORK_STEPS = 4;
export const RETENTION_MS = 3_600_000;

/** 'store', the same with `reclaimOnOwnerDeath` (made so by the setup), or the twin. */
export type PaymentKind = 'store' | 'reclaim-at-death' | 'check-then-begin';

export interface PaymentShared {
  readonly kind: PaymentKind;
  readonly store: IdempotencyStoreHandle;
  /** The twin's records. */
  readonly table: SharedHashTableHandle;
  readonly clock: ManualClockHandle;
  readonly words: Int32Array;
}

export interface PaymentInput {
  readonly ops: number;
  readonly keys: number;
  readonly alterShare: number;
  readonly abortShare: number;
  /** Milliseconds to wait before the first request (a client that comes later). */
  readonly waitMs?: number;
}

/** [key index, digest of the reply] */
export type Reply = [number, string];

export interface Payments {
  begin: IdempotencyStore['begin'];
  complete: IdempotencyStore['complete'];
  abort: IdempotencyStore['abort'];
}

/** The shared value of a run: a store (or, for the twin, its table and counter) on a ManualClock at 0. */
export function paymentShared(kind: PaymentKind): PaymentShared {
  const clock = new ManualClock({ startMs: 0 });
  return {
    kind,
    clock: clock.handle,
    store: new IdempotencyStore({
      capacity: 16,
      leaseMs: LEASE_MS,
      retentionMs: RETENTION_MS,
      maxKeyBytes: 16,
      maxResponseBytes: 256,
      clock,
      reclaimOnOwnerDeath: kind === 'reclaim-at-death',
    }).handle,
    table: new SharedHashTable({ capacity: 16, maxKeyBytes: 16, maxValueBytes: 1024, codec: 'json' }).handle,
    words: new Int32Array(new SharedArrayBuffer(4 * PAYMENT_WORDS)),
  };
}

export function openPayments(shared: PaymentShared): Payments {
  if (shared.kind !== 'check-then-begin') return IdempotencyStore.from(shared.store);
  const attempts = shared.words.subarray(TWIN_ATTEMPTS, TWIN_ATTEMPTS + 1);
  return new CheckThenBegin(
    SharedHashTable.from<TwinRecord>(shared.table),
    attempts,
    ManualClock.from(shared.clock),
    LEASE_MS,
    RETENTION_MS,
  );
}

export const keyOf = (k: number): string => `pay-${k}`;
/** The request body of key k: the altered one asks for another amount. */
export const bodyOf = (k: number, altered: boolean): string =>
  JSON.stringify({ customer: `cus_${k}`, amount: 100 + k + (altered ? 1000 : 0) });
export const fingerprintOf = (k: number, altered: boolean): string =>
  IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: bodyOf(k, altered) });

/** A reply as comparable text: status, headers in order, and the body with its kind. */
export function digest(r: IdempotencyResponse): string {
  const body = r.body === undefined ? null : typeof r.body === 'string' ? ['s', r.body] : ['b', Buffer.from(r.body).toString('hex')];
  return JSON.stringify([r.status, r.headers === undefined ? null : Object.entries(r.headers), body]);
}

/** The response of a charge made by `who` (a thread index, or 'main') in its op `op`. */
export function chargeResponse(who: number | 'main', op: number, k: number, asBytes: boolean): IdempotencyResponse {
  const text = JSON.stringify({ id: `ch_${who}_${op}`, key: keyOf(k), amount: 100 + k });
  return {
    status: 201,
    headers: { 'content-type': 'application/json', 'x-charged-by': String(who) },
    body: asBytes ? new TextEncoder().encode(text) : text,
  };
}

export default defineProgram<PaymentShared, PaymentInput, Reply[]>(({ shared, input, random, thread }) => {
  const payments = openPayments(shared);
  const clock = ManualClock.from(shared.clock);
  const { words } = shared;
  const replies: Reply[] = [];
  if (input.waitMs !== undefined) sleepSync(input.waitMs);
  for (let i = 0; i < input.ops; i++) {
    const k = Math.floor(random() * input.keys);
    const altered = random() < input.alterShare;
    const b = payments.begin(keyOf(k), fingerprintOf(k, altered));
    switch (b.status) {
      case 'new': {
        add(words, NEW, 1);
        if (random() < input.abortShare) {
          add(words, ABORTS, 1);
          payments.abort(b.token);
          break;
        }
        add(words, CHARGES + thread * MAX_KEYS + k, 1); // the side effect
        for (let w = 0; w < WORK_STEPS; w++) load(words, NEW); // more work between the charge and its record, where yields (and kills) fall
        if (random() < 0.3) clock.advance(random());
        const response = chargeResponse(thread, i, k, random() < 0.5);
        payments.complete(b.token, response);
        replies.push([k, digest(response)]);
        break;
      }
      case 'replay':
        add(words, REPLAYS, 1);
        replies.push([k, digest(b.response)]);
        break;
      case 'in-flight':
        add(words, CONFLICTS, 1);
        break;
      case 'mismatch':
        add(words, MISMATCHES, 1);
        break;
    }
  }
  return replies;
});
