/**
 * Test-only twin: a Semaphore whose repair, after taking its internal lock
 * over from a thread that died holding it, gives back permits and slots but
 * does not recount the waiters. Used to show that the dead-waiter test sees
 * a count left by a waiter killed between WAITERS and its slot's PARKING.
 */
import { Semaphore, type SemaphoreHandle } from '../../src/sync/semaphore.js';

/** Opens `handle` as a semaphore whose repairs skip the recount of waiters. */
export function openNoRecountSemaphore(handle: SemaphoreHandle): Semaphore {
  const s = Semaphore.from(handle);
  // The twin reaches into a private method on purpose: the same semaphore, minus the recount.
  (s as unknown as { recountWaitersLocked(): void }).recountWaitersLocked = () => {};
  return s;
}
