import { ManualClock } from '../../src/clock.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import type { Mutant } from './mutant.js';
import type { LeaseInput, LeaseSeen, LeaseShared } from './programs/lease.js';

/**
 * True if a holder believed in its lease at a time when a later lease on the
 * resource (a larger token) had already begun: two holders at once. For the
 * real lock, `isValid` says yes only before the lease's expiry, and the next
 * lease begins at that expiry or later.
 */
function twoHolders(seen: readonly LeaseSeen[]): boolean {
  const leases = seen.flatMap((s) => s.leases);
  return seen.some((s) => s.beliefs.some(([token, at]) => leases.some(([later, start]) => later > token && start <= at)));
}

/**
 * `isValid` honours a lease at its expiry instant. The invariant: a lease is
 * valid on [start, expiresAt), and the resource is free from expiresAt on,
 * so the holder and the next acquirer never overlap. With `>=`, a holder
 * asking `isValid` when the clock reads exactly its `expiresAt` hears yes,
 * while an acquirer at that same instant finds the resource free and takes
 * it: two holders at once, when the holder asks between the clock reaching
 * the expiry and the other's acquire (after it, the token has changed and
 * `isValid` says no).
 */
export const leaseExpiryOffByOne: Mutant<LeaseShared, LeaseInput, LeaseSeen> = {
  id: 'lease-expiry-off-by-one',
  title: 'Lease.isValid still says yes when the clock reads its expiry',
  file: 'src/lock/lease-lock.ts',
  find: 'return r?.token === token && r.expiresAt > this.clock.now();',
  replace: 'return r?.token === token && r.expiresAt >= this.clock.now();',
  program: 'lease.ts',
  threads: [
    { ops: 8, ttlMs: 1 },
    { ops: 8, ttlMs: 2 },
  ],
  setup: () => {
    const clock = new ManualClock({ startMs: 0 });
    const lock = new LeaseLock({ capacity: 1, maxKeyBytes: 8, clock });
    return { lock: lock.handle, clock: clock.handle, data: new Int32Array(new SharedArrayBuffer(4)) };
  },
  found: (run) => twoHolders(run.results.map((r) => r ?? { leases: [], beliefs: [] })),
};
