import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import type { Mutant } from './mutant.js';
import { KEYS, LEASE_MS, type IdempotencyShared } from './programs/idempotency.js';

/**
 * Invariant: a key is taken ('new') once: `begin`'s "is the key free?" and
 * "take it" are one compute under the key's segment lock. The mutant decides
 * inside the compute on `seen`, the lock-free read made before it, instead of
 * `r`, the record under the lock: a check, then a separate claim. Two
 * requests that both read "no record" both claim the key, the later
 * overwriting the earlier's record, and both are told to charge.
 */
export const idempotencyCheckThenBegin: Mutant<IdempotencyShared, number> = {
  id: 'idempotency-check-then-begin',
  title: 'IdempotencyStore.begin checks the key with a read, then takes it in a separate step',
  file: 'src/store/idempotency-store.ts',
  find: 'if (r !== undefined && !this.lapsed(r, now)) {\n          found = liveAnswer(r, fp, now);',
  replace: 'if (seen !== undefined && !this.lapsed(seen, now)) {\n          found = liveAnswer(seen, fp, now);',
  program: 'idempotency.ts',
  threads: [3, 3],
  setup: () => ({
    store: new IdempotencyStore({ capacity: 16, leaseMs: LEASE_MS, maxKeyBytes: 16, maxResponseBytes: 64 }).handle,
    charges: new Int32Array(new SharedArrayBuffer(4 * KEYS)),
  }),
  found: (run) => run.shared.charges.some((n) => n > 1),
};
