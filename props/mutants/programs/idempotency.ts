/**
 * Duplicate payment requests: each thread sends `input` requests, each for
 * one of KEYS idempotency keys drawn at random, and `begin`s them on one
 * IdempotencyStore. Told 'new', it charges: one add to CHARGES[k]. Nobody
 * completes or aborts, and the lease outlasts the run, so every later begin
 * of a taken key must answer 'in-flight': a key is charged at most once.
 */
import { IdempotencyStore, type IdempotencyStoreHandle } from '../../../src/store/idempotency-store.js';
import { defineProgram } from '../../../src/testing/index.js';

export const KEYS = 2;
/** Far beyond a run: no lease lapses, so no retry may take a key over. */
export const LEASE_MS = 600_000;

export interface IdempotencyShared {
  readonly store: IdempotencyStoreHandle;
  /** CHARGES[k]: the times key k was charged (answered 'new'). */
  readonly charges: Int32Array;
}

export default defineProgram<IdempotencyShared, number, void>(({ shared, input, random }) => {
  const store = IdempotencyStore.from(shared.store);
  for (let i = 0; i < input; i++) {
    const k = Math.floor(random() * KEYS);
    // The side effect is counted with a plain Atomics.add: not a seam step, so it adds no schedule points.
    if (store.begin(`pay-${k}`, 'fp').status === 'new') Atomics.add(shared.charges, k, 1);
  }
});
