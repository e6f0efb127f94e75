/**
 * Threads share one resource of a LeaseLock on a ManualClock, `ops` rounds
 * each, with their own TTL: a thread with a lease asks `isValid` (reading
 * the clock just before) and, told yes, does its protected write (its token
 * into `data`); a thread without one tries to acquire (no wait). Then it
 * moves the clock on by 1 ms. Leases are never released, only lapse, so
 * every expiry is a boundary some thread may meet (a TTL of 1 ms meets one
 * every other round; one of 2 ms also lets the original say yes). Each
 * thread returns what it saw: its leases (token, the time it began) and its
 * beliefs (token, a clock reading at which `isValid` then said yes).
 */
import { ManualClock, type ManualClockHandle } from '../../../src/clock.js';
import { LeaseLock, type Lease, type LeaseLockHandle } from '../../../src/lock/lease-lock.js';
import { store } from '../../../src/memory/atomics.js';
import { defineProgram } from '../../../src/testing/index.js';

export const RESOURCE = 'r';

export interface LeaseShared {
  readonly lock: LeaseLockHandle;
  readonly clock: ManualClockHandle;
  /** One word: the protected data, the token of the last holder that wrote it. */
  readonly data: Int32Array;
}

export interface LeaseInput {
  readonly ops: number;
  readonly ttlMs: number;
}

export interface LeaseSeen {
  /** [token, start]: a lease this thread took, at `start` on the clock. */
  readonly leases: [token: number, start: number][];
  /** [token, at]: `isValid` said yes after the clock read `at`. */
  readonly beliefs: [token: number, at: number][];
}

export default defineProgram<LeaseShared, LeaseInput, LeaseSeen>(({ shared, input }) => {
  const leases = LeaseLock.from(shared.lock);
  const clock = ManualClock.from(shared.clock);
  const seen: LeaseSeen = { leases: [], beliefs: [] };
  let mine: Lease | null = null;
  for (let i = 0; i < input.ops; i++) {
    const at = clock.now();
    if (mine?.isValid === true) {
      seen.beliefs.push([mine.fencingToken, at]);
      store(shared.data, 0, mine.fencingToken);
    } else {
      mine = leases.acquire(RESOURCE, { ttlMs: input.ttlMs });
      if (mine !== null) seen.leases.push([mine.fencingToken, mine.expiresAt - input.ttlMs]);
    }
    clock.advance(1);
  }
  return seen;
});
