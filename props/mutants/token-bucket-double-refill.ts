import type { Mutant } from './mutant.js';
import { bucketSetup, exceedsBound, type Decision, type TokenBucketShared } from './programs/token-bucket.js';

/**
 * The refill is stored on its own before the take's CAS: a full bucket's word
 * (TAT in the past) is first raised to now, then the tokens are taken by a CAS
 * from that refilled word. A thread suspended between its load and its refill
 * store writes "full as of now" over the takes other threads made meanwhile:
 * the time since the old TAT is credited a second time, and the CAS that
 * follows succeeds on the word it just wrote. More than BURST + elapsed / T
 * requests are allowed.
 */
export const doubleRefill: Mutant<TokenBucketShared, number, Decision[]> = {
  id: 'token-bucket-double-refill',
  title: 'TokenBucket stores the refill, then takes tokens by a CAS from the refilled word',
  file: 'src/limit/token-bucket.ts',
  find: 'if (compareExchange64(this.words, at, w, next) === w) return this.decision(true, now, w, cost);',
  replace:
    'if (w < now2) store64(this.words, at, now2);\n        const refilled = w > now2 ? w : now2;\n        if (compareExchange64(this.words, at, refilled, next) === refilled) return this.decision(true, now, w, cost);',
  program: 'token-bucket.ts',
  threads: [4, 4, 4],
  setup: bucketSetup,
  // GCRA's bound over every interval between accepted decisions (programs/token-bucket.ts).
  found: (run) => exceedsBound(run.results.flatMap((r) => r ?? [])),
};
