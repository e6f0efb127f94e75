/**
 * Threads claim a few keys of one OnceRegistry (or its check-then-claim twin).
 *
 * Mode 'uses': `ops` times, `claim(c<k>, { maxUses })` on a random key k;
 * count ATTEMPTS and SUCCESSES per key.
 * Mode 'window': `ops` times, `claimWithin(w<k>, WINDOW_MS)` on a random key,
 * then sometimes move the shared ManualClock on by up to half a window; log
 * each accepted claim's key and decision time in `log` (LOG_COUNT entries).
 */
import { add } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { OnceRegistry, type OnceRegistryHandle } from '../../src/store/once-registry.js';
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenClaim } from './check-then-claim.js';

export const MAX_KEYS = 4;
/** `words`: ATTEMPTS[k], then SUCCESSES[k], then LOG_COUNT. */
export const ATTEMPTS = 0,
  SUCCESSES = MAX_KEYS,
  LOG_COUNT = 2 * MAX_KEYS,
  CLAIM_WORDS = LOG_COUNT + 1;
export const WINDOW_MS = 100;
/** Log entries (key, at) the shared log holds. */
export const LOG_ENTRIES = 4096;

export interface ClaimShared {
  readonly kind: 'registry' | 'check-then-claim';
  readonly registry: OnceRegistryHandle;
  readonly table: SharedHashTableHandle;
  readonly clock: ManualClockHandle;
  readonly words: Int32Array;
  /** Float64 pairs (key, at). */
  readonly log: Float64Array;
}

export interface ClaimInput {
  readonly mode: 'uses' | 'window';
  readonly ops: number;
  readonly keys: number;
  readonly maxUses: number;
}

export default defineProgram<ClaimShared, ClaimInput, void>(({ shared, input, random }) => {
  const clock = ManualClock.from(shared.clock);
  const registry =
    shared.kind === 'registry' ? OnceRegistry.from(shared.registry) : new CheckThenClaim(SharedHashTable.from(shared.table), clock);
  const { words, log } = shared;
  for (let i = 0; i < input.ops; i++) {
    const k = Math.floor(random() * input.keys);
    if (input.mode === 'uses') {
      add(words, ATTEMPTS + k, 1);
      if (registry.claim(`c${k}`, { maxUses: input.maxUses }).claimed) add(words, SUCCESSES + k, 1);
      continue;
    }
    const r = registry.claimWithin(`w${k}`, WINDOW_MS);
    if (r.claimed) {
      const at = add(words, LOG_COUNT, 1);
      if (at < LOG_ENTRIES) {
        log[2 * at] = k;
        log[2 * at + 1] = r.at;
      }
    }
    if (random() < 0.3) clock.advance(Math.floor(random() * (WINDOW_MS / 2)));
  }
});
