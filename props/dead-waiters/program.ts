/**
 * One blocking wait that cannot succeed: the main thread holds every permit,
 * and this thread asks for one with a short timeout, parks and gives up. The
 * test kills it before each of its seam steps in turn.
 */
import { isSabreError, ErrorCode } from '../../src/errors.js';
import { Semaphore, type SemaphoreHandle } from '../../src/sync/semaphore.js';
import { defineProgram } from '../../src/testing/index.js';

export interface SemaphoreWaiterShared {
  readonly semaphore: SemaphoreHandle;
  readonly timeoutMs: number;
}

export default defineProgram<SemaphoreWaiterShared, object, void>((ctx) => {
  const s = Semaphore.from(ctx.shared.semaphore);
  try {
    s.acquire(1, ctx.shared.timeoutMs);
  } catch (e) {
    if (!isSabreError(e) || e.code !== ErrorCode.TIMEOUT) throw e;
    return;
  }
  throw new Error('acquired a permit the main thread holds');
});
