/** Threads take turns on a 1-permit Semaphore, `input` times each: waiters park, and each release must wake one. */
import { Semaphore, type SemaphoreHandle } from '../../../src/sync/semaphore.js';
import { defineProgram } from '../../../src/testing/index.js';

export interface SemaphoreShared {
  readonly semaphore: SemaphoreHandle;
}

export default defineProgram<SemaphoreShared, number, void>((ctx) => {
  const semaphore = Semaphore.from(ctx.shared.semaphore);
  for (let i = 0; i < ctx.input; i++) {
    semaphore.acquire();
    semaphore.release();
  }
});
