/**
 * Piscina tasks for `examples/02-idempotency.ts`: a payments endpoint,
 * `POST /charges` with an `Idempotency-Key`, served by worker threads.
 *   - 'batch': after the start line, serve each request of `requests` in
 *     turn, through one shared `IdempotencyStore` (`idempotent()`, the HTTP
 *     mapping) or through this thread's own `Map` (what a server that keeps
 *     idempotency keys in process memory does); a charge is one add to the
 *     key's cell of the shared `ledger` (the payment provider's books);
 *   - 'hang': begin one request and stop in the middle of it, before the
 *     charge (stuck on a connection to the provider), until the example
 *     terminates this thread;
 *   - 'warm-up': nothing (each worker imports this module outside the timings).
 */
import { threadId } from 'node:worker_threads';
import { IdempotencyStore, type IdempotencyResponse, type IdempotencyStoreHandle } from '../../src/store/idempotency-store.js';
import { idempotent, type IdempotencyOutcome, type IdempotentRequest } from '../../src/store/idempotency-http.js';
import { startLine } from '../start-line.js';

/** Int32 words of the `signals` array of a 'hang' task. */
export const HANG_BEGUN = 0; // threadId + 1 once the request holds its key
export const HANG_FOREVER = 1; // never changes: the hung request sleeps on it
export const HANG_WORDS = 2;

export interface PaymentRequest {
  /** The Idempotency-Key (a UUID, as a client makes one per payment). */
  readonly key: string;
  /** The key's cell in the ledger. */
  readonly k: number;
  /** A client bug: the same key sent with another amount (a 422). */
  readonly altered: boolean;
}

export type PaymentTask =
  | { readonly kind: 'warm-up' }
  | {
      readonly kind: 'batch';
      readonly mode: 'shared' | 'map';
      /** Which run this is: a thread's `Map` starts empty for each. */
      readonly run: number;
      readonly store: IdempotencyStoreHandle;
      readonly ledger: Int32Array;
      readonly requests: readonly PaymentRequest[];
      readonly start: Int32Array;
      readonly parties: number;
      /** How long the payment provider takes to charge. */
      readonly workMs: number;
    }
  | { readonly kind: 'hang'; readonly store: IdempotencyStoreHandle; readonly request: PaymentRequest; readonly signals: Int32Array };

export interface PaymentReply {
  readonly key: string;
  readonly k: number;
  readonly altered: boolean;
  readonly status: number;
  readonly outcome: IdempotencyOutcome;
  readonly retryAfter: string | undefined;
  readonly replayed: boolean;
  readonly body: string | undefined;
  readonly threadId: number;
  /** `process.hrtime` in ms when the reply was ready. */
  readonly atMs: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const pause = new Int32Array(new SharedArrayBuffer(4));
let charges = 0;

export const bodyOf = (r: PaymentRequest): string =>
  JSON.stringify({ amount: 1_000 + r.k + (r.altered ? 1 : 0), currency: 'eur', customer: `cus_${r.k}` });
const httpRequest = (r: PaymentRequest): IdempotentRequest => ({
  method: 'POST',
  path: '/charges',
  headers: { 'idempotency-key': r.key },
  body: bodyOf(r),
});

/** The charge itself: the provider takes `workMs`, then books it. */
function charge(r: PaymentRequest, ledger: Int32Array, workMs: number): IdempotencyResponse {
  Atomics.wait(pause, 0, 0, workMs);
  Atomics.add(ledger, r.k, 1);
  const id = `ch_${threadId}_${++charges}`;
  return {
    status: 201,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, amount: 1_000 + r.k, currency: 'eur' }),
  };
}

// ---- the per-thread Map store: right on one thread, blind to the others ----
interface LocalRecord {
  readonly fingerprint: string;
  response?: IdempotencyResponse;
}
let localRun = -1;
let local = new Map<string, LocalRecord>();

function mapIdempotent(
  r: PaymentRequest,
  handler: () => IdempotencyResponse,
): { status: number; headers: Record<string, string>; body?: string | Uint8Array; outcome: IdempotencyOutcome } {
  const fingerprint = IdempotencyStore.fingerprint(httpRequest(r));
  const seen = local.get(r.key);
  if (seen !== undefined) {
    if (seen.fingerprint !== fingerprint) return { status: 422, headers: {}, outcome: 'mismatch' };
    if (seen.response === undefined) return { status: 409, headers: { 'retry-after': '1' }, outcome: 'conflict' };
    return { ...seen.response, headers: { ...seen.response.headers, 'Idempotent-Replayed': 'true' }, outcome: 'replayed' };
  }
  const record: LocalRecord = { fingerprint };
  local.set(r.key, record);
  record.response = handler();
  return { ...record.response, headers: { ...record.response.headers }, outcome: 'executed' };
}

export default async function run(task: PaymentTask): Promise<PaymentReply[] | null> {
  switch (task.kind) {
    case 'warm-up':
      return null;
    case 'hang': {
      const store = IdempotencyStore.from(task.store);
      await idempotent(store, httpRequest(task.request), () => {
        Atomics.store(task.signals, HANG_BEGUN, threadId + 1);
        Atomics.notify(task.signals, HANG_BEGUN);
        // Stuck before the charge; the example terminates this thread.
        for (;;) Atomics.wait(task.signals, HANG_FOREVER, 0);
      });
      return null;
    }
    case 'batch': {
      const store = IdempotencyStore.from(task.store);
      if (task.run !== localRun) {
        localRun = task.run;
        local = new Map();
      }
      startLine(task.start, task.parties);
      const replies: PaymentReply[] = [];
      for (const r of task.requests) {
        const handler = (): IdempotencyResponse => charge(r, task.ledger, task.workMs);
        const reply = task.mode === 'shared' ? await idempotent(store, httpRequest(r), handler) : mapIdempotent(r, handler);
        replies.push({
          key: r.key,
          k: r.k,
          altered: r.altered,
          status: reply.status,
          outcome: reply.outcome,
          retryAfter: reply.headers['retry-after'],
          replayed: reply.headers['Idempotent-Replayed'] === 'true',
          body: typeof reply.body === 'string' ? reply.body : undefined,
          threadId,
          atMs: nowMs(),
        });
      }
      return replies;
    }
  }
}
