/**
 * Each thread makes `input.ops` LockManager requests on one of `names` lock
 * names: shared (chance `sharedShare`) or exclusive, some with `ifAvailable`
 * or a short `timeout`, with a synchronous or an async callback (chance
 * `asyncShare`). Inside a callback it counts itself into the name's
 * occupancy words and counts a violation when an exclusive holder is not
 * alone or a shared one meets an exclusive one; it also counts the grants
 * that report `ownerDied`.
 *
 * For kills, each thread publishes where it is in a per-thread phase word
 * with plain stores (never seam steps, so a kill falls only between them):
 *   OUTSIDE → REQUESTING (request made, not yet in the callback) → HOLDING
 *   (inside it) → RELEASING (callback done, release under way) → OUTSIDE.
 * A thread killed in HOLDING died holding a lock; in OUTSIDE, holding and
 * waiting for nothing.
 */
import { add, load, sub } from '../../src/memory/atomics.js';
import { isSabreError } from '../../src/errors.js';
import { LockManager, type Lock, type LockManagerHandle, type LockMode, type LockRequestOptions } from '../../src/lock/lock-manager.js';
import { defineProgram } from '../../src/testing/index.js';
import { openModeBlindLockManager } from './mode-blind-lock-manager.js';
import { openNoReclaimLockManager } from './no-reclaim-lock-manager.js';

export type ManagerKind = 'lock-manager' | 'mode-blind' | 'no-reclaim';
export interface LockRequestsShared {
  readonly manager: { readonly kind: ManagerKind; readonly handle: LockManagerHandle };
  /** Occupancy words per name, then the counters below. */
  readonly words: Int32Array;
  /** One phase word per thread. */
  readonly phase: Int32Array;
}
export interface LockRequestsInput {
  readonly ops: number;
  /** How many names the thread's requests spread over (the same names for every thread). */
  readonly names: number;
  readonly sharedShare: number;
  readonly asyncShare: number;
  /** Chance that a request is `ifAvailable` (else, with the same chance, it has a 0-2 ms timeout). */
  readonly tryShare: number;
}
export interface LockRequestsResult {
  readonly sections: number;
}

export const MAX_NAMES = 2;
export const NAMES = ['alpha', 'beta'] as const;
const EXCLUSIVE_IN = (n: number) => 2 * n,
  SHARED_IN = (n: number) => 2 * n + 1;
export const VIOLATIONS = 2 * MAX_NAMES,
  DIED_SEEN = VIOLATIONS + 1,
  SECTIONS = VIOLATIONS + 2,
  TIMEOUTS = VIOLATIONS + 3;
export const WORDS = VIOLATIONS + 4;
export const OUTSIDE = 0,
  REQUESTING = 1,
  HOLDING = 2,
  RELEASING = 3;

export function openManager(m: LockRequestsShared['manager']): LockManager {
  if (m.kind === 'mode-blind') return openModeBlindLockManager(m.handle);
  if (m.kind === 'no-reclaim') return openNoReclaimLockManager(m.handle);
  return LockManager.from(m.handle);
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export default defineProgram<LockRequestsShared, LockRequestsInput, LockRequestsResult>(async (ctx) => {
  const { words, phase } = ctx.shared;
  const locks = openManager(ctx.shared.manager);
  const me = ctx.thread;
  const { ops, names, sharedShare, asyncShare, tryShare } = ctx.input;
  let sections = 0;

  const enter = (lock: Lock, n: number): void => {
    phase[me] = HOLDING;
    if (lock.ownerDied) add(words, DIED_SEEN, 1);
    if (lock.mode === 'shared') {
      add(words, SHARED_IN(n), 1);
      if (load(words, EXCLUSIVE_IN(n)) !== 0) add(words, VIOLATIONS, 1);
    } else if (add(words, EXCLUSIVE_IN(n), 1) !== 0 || load(words, SHARED_IN(n)) !== 0) {
      add(words, VIOLATIONS, 1);
    }
  };
  const leave = (lock: Lock, n: number): void => {
    // A step inside, where a yield lets others try to enter; then the same check again.
    if (load(words, EXCLUSIVE_IN(n)) !== (lock.mode === 'shared' ? 0 : 1)) add(words, VIOLATIONS, 1);
    if (lock.mode === 'exclusive' && load(words, SHARED_IN(n)) !== 0) add(words, VIOLATIONS, 1);
    sub(words, lock.mode === 'shared' ? SHARED_IN(n) : EXCLUSIVE_IN(n), 1);
    add(words, SECTIONS, 1);
    sections++;
    phase[me] = RELEASING;
  };

  for (let i = 0; i < ops; i++) {
    const n = Math.floor(ctx.random() * names);
    const mode: LockMode = ctx.random() < sharedShare ? 'shared' : 'exclusive';
    const r = ctx.random();
    const options: LockRequestOptions =
      r < tryShare ? { mode, ifAvailable: true } : r < 2 * tryShare ? { mode, timeoutMs: ctx.random() * 2 } : { mode };
    const isAsync = ctx.random() < asyncShare;
    phase[me] = REQUESTING;
    try {
      await locks.request(
        NAMES[n]!,
        options,
        isAsync
          ? async (lock) => {
              if (lock === null) return;
              enter(lock, n);
              await tick();
              leave(lock, n);
            }
          : (lock) => {
              if (lock === null) return;
              enter(lock, n);
              leave(lock, n);
            },
      );
    } catch (e) {
      if (!isSabreError(e, 'ERR_TIMEOUT')) throw e;
      add(words, TIMEOUTS, 1);
    }
    phase[me] = OUTSIDE;
  }
  return { sections };
});
