/**
 * Test-only twin of IdempotencyStore: `begin` reads the key's record, decides,
 * then writes its in-flight record in a separate step (get, then set). Two
 * duplicate requests that both read "no record" are both told 'new': the
 * card is charged twice, and the two replies differ. `complete` and `abort`
 * are single steps that never throw (the last complete wins): the bug
 * shows as a double charge, not as an error.
 */
import { threadId } from 'node:worker_threads';
import { add } from '../../src/memory/atomics.js';
import type { Clock } from '../../src/clock.js';
import type { IdempotencyBegin, IdempotencyResponse, IdempotencyToken } from '../../src/store/idempotency-store.js';
import type { SharedHashTable } from '../../src/table/shared-hash-table.js';

/** A record as JSON: the response's body kind and its text (bytes in hex). */
export interface TwinRecord {
  state: 'in-flight' | 'completed';
  attempt: number;
  owner: number;
  fingerprint: string;
  expiresAt: number;
  response?: { status: number; headers?: Record<string, string>; body?: ['s', string] | ['b', string] };
}

export class CheckThenBegin {
  constructor(
    private readonly table: SharedHashTable<TwinRecord>,
    private readonly attempts: Int32Array,
    private readonly clock: Clock,
    private readonly leaseMs: number,
    private readonly retentionMs: number,
  ) {}

  begin(key: string, fingerprint: string): IdempotencyBegin {
    const r = this.table.get(key);
    const now = this.clock.now();
    if (r !== undefined && r.expiresAt > now) {
      if (r.fingerprint !== fingerprint) return { status: 'mismatch' };
      if (r.state === 'completed') return { status: 'replay', response: fromTwin(r.response!) };
      return { status: 'in-flight', retryAfterMs: r.expiresAt - now };
    }
    const attempt = add(this.attempts, 0, 1) + 1;
    // The bug: this write is not the same step as the read above.
    this.table.set(key, { state: 'in-flight', attempt, owner: threadId + 1, fingerprint, expiresAt: now + this.leaseMs });
    return { status: 'new', token: { key, attempt }, recovered: false };
  }

  complete(token: IdempotencyToken, response: IdempotencyResponse): void {
    this.table.compute(token.key, (r) => ({
      state: 'completed',
      attempt: token.attempt,
      owner: r?.owner ?? 0,
      fingerprint: r?.fingerprint ?? '',
      expiresAt: this.clock.now() + this.retentionMs,
      response: toTwin(response),
    }));
  }

  abort(token: IdempotencyToken): void {
    this.table.compute(token.key, (r) => (r?.attempt === token.attempt && r.state === 'in-flight' ? undefined : r));
  }
}

function toTwin(r: IdempotencyResponse): NonNullable<TwinRecord['response']> {
  const out: NonNullable<TwinRecord['response']> = { status: r.status };
  if (r.headers !== undefined) out.headers = { ...r.headers };
  if (typeof r.body === 'string') out.body = ['s', r.body];
  else if (r.body !== undefined) out.body = ['b', Buffer.from(r.body).toString('hex')];
  return out;
}

function fromTwin(r: NonNullable<TwinRecord['response']>): IdempotencyResponse {
  const out: { status: number; headers?: Record<string, string>; body?: string | Uint8Array } = { status: r.status };
  if (r.headers !== undefined) out.headers = r.headers;
  if (r.body !== undefined) out.body = r.body[0] === 's' ? r.body[1] : new Uint8Array(Buffer.from(r.body[1], 'hex'));
  return out;
}
