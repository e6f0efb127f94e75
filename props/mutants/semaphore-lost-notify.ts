import { Semaphore } from '../../src/sync/semaphore.js';
import { STALL_MS } from './hunt.js';
import type { Mutant } from './mutant.js';
import type { SemaphoreShared } from './programs/semaphore.js';

/** A lost notify: release gives the permit back but wakes nobody; a parked waiter sleeps until its wait's slice ends. */
export const semaphoreLostNotify: Mutant<SemaphoreShared, number> = {
  id: 'semaphore-lost-notify',
  title: 'Semaphore.release does not wake the waiters',
  file: 'src/sync/semaphore.ts',
  find: 'if (!this.queue.empty) this.serveLocked(this.queue, this.queue.driver as Waiter | undefined);\n    this.unlockGuard(true);',
  replace: 'if (!this.queue.empty) this.serveLocked(this.queue, this.queue.driver as Waiter | undefined);\n    this.unlockGuard(false);',
  program: 'semaphore.ts',
  threads: [3, 3, 3],
  setup: () => ({ semaphore: new Semaphore(1).handle }),
  // Waits are sliced (park.ts): a lost wake-up is recovered by a timeout, which under a schedule fires only when nothing can run.
  found: (run, { elapsedMs }) => (run.schedule !== undefined ? run.schedule.timeouts > 0 : elapsedMs > STALL_MS),
};
