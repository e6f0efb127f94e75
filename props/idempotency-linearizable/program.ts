/**
 * Threads send requests with a few idempotency keys (`pay-<k>`), now and
 * then with another fingerprint, to one IdempotencyStore (or its
 * check-then-begin twin): each `begin` is recorded with its answer in the
 * plain form `idempotencyModel` reads; on 'new' the thread completes with a
 * body naming itself, or (with chance `abortShare`) aborts. The ManualClock
 * never moves: no lease lapses.
 */
import { defineProgram } from '../../src/testing/index.js';
import type { IdempotencyBegin, IdempotencyToken } from '../../src/store/idempotency-store.js';
import { openPayments, type PaymentShared } from '../charged-once/program.js';

export interface RequestInput {
  readonly ops: number;
  readonly keys: number;
  readonly abortShare: number;
}

const plain = (b: IdempotencyBegin): unknown =>
  b.status === 'replay' ? { status: 'replay', body: b.response.body } : { status: b.status };

export default defineProgram<PaymentShared, RequestInput, void>((ctx) => {
  const store = openPayments(ctx.shared);
  for (let i = 0; i < ctx.input.ops; i++) {
    const key = `pay-${Math.floor(ctx.random() * ctx.input.keys)}`;
    const fingerprint = ctx.random() < 0.2 ? 'other' : 'same';
    let token: IdempotencyToken | undefined;
    ctx.record('begin', { key, fingerprint }, () => {
      const b = store.begin(key, fingerprint);
      if (b.status === 'new') token = b.token;
      return plain(b);
    });
    if (token === undefined) continue;
    const owned = token;
    if (ctx.random() < ctx.input.abortShare) ctx.record('abort', { key }, () => store.abort(owned));
    else {
      const body = `t${ctx.thread}-${i}`;
      ctx.record('complete', { key, body }, () => store.complete(owned, { status: 201, body }));
    }
  }
});
