/**
 * Test-only twin: a LockManager that never removes a dead thread's requests.
 * Its waiters wake every slice and re-read the record, but never ask whether
 * the holder is alive: a thread that dies holding a lock (or queued for it,
 * and granted after its death) holds it forever, and the next holder is never
 * told `ownerDied`. Used to show that the owner-death property sees a manager
 * without dead-holder cleanup.
 */
import { LockManager, type LockManagerHandle } from '../../src/lock/lock-manager.js';

/** Opens `handle` as a manager without dead-holder cleanup. */
export function openNoReclaimLockManager(handle: LockManagerHandle): LockManager {
  const lm = LockManager.from(handle);
  // The twin reaches into a private method on purpose: the same manager, minus the cleanup.
  (lm as unknown as { reclaimDead(): boolean }).reclaimDead = () => false;
  return lm;
}
