/**
 * The seeded bugs of the mutation suite, one per primitive (props/README.md
 * has the table of how many runs each strategy took to find each).
 */
import { breakerTransitionWithoutCas } from './breaker-transition-without-cas.js';
import { idempotencyCheckThenBegin } from './idempotency-check-then-begin.js';
import { leaseExpiryOffByOne } from './lease-expiry-off-by-one.js';
import type { Mutant } from './mutant.js';
import { semaphoreLostNotify } from './semaphore-lost-notify.js';
import { slidingWindowUnlockBeforeHead } from './sliding-window-unlock-before-head.js';
import { tableTornDelete } from './table-torn-delete.js';
import { doubleRefill } from './token-bucket-double-refill.js';
import { versionOutsideCas } from './versioned-cell-version-outside-cas.js';

export const MUTANTS: readonly Mutant[] = [
  slidingWindowUnlockBeforeHead,
  semaphoreLostNotify,
  leaseExpiryOffByOne,
  versionOutsideCas,
  breakerTransitionWithoutCas,
  doubleRefill,
  tableTornDelete,
  idempotencyCheckThenBegin,
] as Mutant[];
