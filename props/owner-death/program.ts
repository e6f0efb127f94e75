/**
 * Each thread takes and releases one lock `input` times, publishing where it
 * is in a per-thread phase word with plain stores (never seam steps, so a kill
 * can fall only on a seam step between them, never on the bookkeeping):
 *
 *   OUTSIDE   → ACQUIRING (then lock()) → HOLDING (then 2 seam steps of work)
 *             → RELEASING (then unlock()) → OUTSIDE
 *
 * A thread killed in HOLDING died holding the lock; in OUTSIDE, not holding
 * it; in ACQUIRING or RELEASING it died inside lock()/unlock(), where either
 * is possible. A survivor that meets a poisoned lock counts it and carries on
 * with `ignorePoison` (the poison stays for the next acquirer to see).
 */
import { add } from '../../src/memory/atomics.js';
import { isSabreError } from '../../src/errors.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { defineProgram } from '../../src/testing/index.js';
import { NoRecoveryLock } from './no-recovery-lock.js';

export const OUTSIDE = 0,
  ACQUIRING = 1,
  HOLDING = 2,
  RELEASING = 3;

export type CycleLock =
  { readonly kind: 'mutex'; readonly mutex: MutexHandle } | { readonly kind: 'no-recovery'; readonly words: Int32Array };
export interface CycleShared {
  readonly lock: CycleLock;
  /** One phase word per thread. */
  readonly phase: Int32Array;
  /** [WORK]: seam increments done while holding. */
  readonly work: Int32Array;
}
export interface CycleResult {
  readonly cycles: number;
  readonly poisonSeen: number;
}

interface Lock {
  lock(options?: { ignorePoison?: boolean }): void;
  unlock(): void;
  tryLock(): boolean;
}

export function openLock(lock: CycleLock): Lock {
  return lock.kind === 'mutex' ? Mutex.from(lock.mutex) : new NoRecoveryLock(lock.words);
}

export default defineProgram<CycleShared, number, CycleResult>((ctx) => {
  const { phase, work } = ctx.shared;
  const lock = openLock(ctx.shared.lock);
  const me = ctx.thread;
  let poisonSeen = 0;
  for (let i = 0; i < ctx.input; i++) {
    phase[me] = ACQUIRING;
    try {
      lock.lock();
    } catch (e) {
      if (!isSabreError(e, 'ERR_OWNER_DIED')) throw e;
      poisonSeen++;
      lock.lock({ ignorePoison: true });
    }
    phase[me] = HOLDING;
    add(work, 0, 1);
    add(work, 0, 1);
    phase[me] = RELEASING;
    lock.unlock();
    phase[me] = OUTSIDE;
  }
  return { cycles: ctx.input, poisonSeen };
});
