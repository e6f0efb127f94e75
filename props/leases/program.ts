/**
 * Lease programs.
 *
 * Role 'locker' (the clock is frozen, so leases never expire): `ops` times,
 * acquire a lease on one of `resources` resources (waiting up to WAIT_MS),
 * check it is alone inside (INSIDE + r counts holders; a second one counts a
 * VIOLATION), check its token is larger than the last holder's (LAST + r; a
 * smaller or equal one counts a VIOLATION), then release. An acquire that
 * gives up counts a STARVED (a dead holder never freed).
 *
 * Role 'fenced': `ops` times, acquire a lease on resource 0 with a short TTL,
 * maybe advance the shared ManualClock past it (a stall), then write its
 * token through the fence; a refused write counts REFUSED. Role 'reader':
 * polls the fenced token until the `ops` writers are done (DONE) and counts
 * a VIOLATION when it ever goes down. Accepted writes raise ACCEPTED_MAX to their token: at the end
 * the fence must hold the largest accepted token.
 */
import { add, compareExchange, load, sleepSync, store, sub } from '../../src/memory/atomics.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { LeaseLock, type LeaseLockHandle } from '../../src/lock/lease-lock.js';
import { FencedResource, type FencedResourceHandle } from '../../src/lock/fenced-resource.js';
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenSetLeases, CheckThenWriteFence, openDeafLeaseLock } from './unsafe-leases.js';

export type LeaseKind = 'lease' | 'check-then-set' | 'deaf' | 'check-then-write';

export interface LeaseShared {
  readonly kind: LeaseKind;
  readonly lock: LeaseLockHandle;
  readonly clock: ManualClockHandle;
  readonly fence: FencedResourceHandle;
  /** For the twins: a plain table and a token counter. */
  readonly table: SharedHashTableHandle;
  readonly words: Int32Array;
}
/** `words`: VIOLATIONS, STARVED, REFUSED, TOKENS (twin's counter), ACCEPTED_MAX (largest token of an accepted fenced write), DONE (fenced writers finished), then INSIDE[r], LAST[r] per resource. */
export const VIOLATIONS = 0,
  STARVED = 1,
  REFUSED = 2,
  TOKENS = 3,
  ACCEPTED_MAX = 4,
  DONE = 5,
  INSIDE = 6,
  MAX_RESOURCES = 4,
  LAST = INSIDE + MAX_RESOURCES;
export const LEASE_WORDS = LAST + MAX_RESOURCES;
/** How long a locker waits for a resource before calling it starved. */
export const WAIT_MS = 1000;
export const TTL_MS = 50;

export interface LeaseInput {
  readonly role: 'locker' | 'fenced' | 'reader';
  readonly ops: number;
  readonly resources: number;
}

export default defineProgram<LeaseShared, LeaseInput, void>(({ shared, input, random }) => {
  const { words, kind } = shared;
  const clock = ManualClock.from(shared.clock);
  if (input.role === 'locker') {
    const leases =
      kind === 'check-then-set'
        ? new CheckThenSetLeases(SharedHashTable.from(shared.table), words.subarray(TOKENS, TOKENS + 1))
        : kind === 'deaf'
          ? openDeafLeaseLock(shared.lock)
          : LeaseLock.from(shared.lock);
    for (let i = 0; i < input.ops; i++) {
      const r = Math.floor(random() * input.resources);
      const lease = leases instanceof LeaseLock ? leases.acquire(`r${r}`, { ttlMs: TTL_MS, timeoutMs: WAIT_MS }) : leases.acquire(`r${r}`);
      if (lease === null) {
        if (leases instanceof LeaseLock) add(words, STARVED, 1);
        continue; // the twin does not wait
      }
      if (add(words, INSIDE + r, 1) !== 0) add(words, VIOLATIONS, 1);
      const last = load(words, LAST + r);
      if (lease.fencingToken <= last) add(words, VIOLATIONS, 1);
      store(words, LAST + r, lease.fencingToken);
      sub(words, INSIDE + r, 1);
      lease.release();
    }
    return;
  }
  const fence =
    kind === 'check-then-write' ? new CheckThenWriteFence(SharedHashTable.from(shared.table)) : FencedResource.from<number>(shared.fence);
  if (input.role === 'reader') {
    // Polls until the `ops` writers are done: a stale write shows as a token going down.
    let seen = 0;
    for (let done = 0; done < input.ops; done = load(words, DONE)) {
      const t = fence.read('data')?.token ?? 0;
      if (t < seen) add(words, VIOLATIONS, 1);
      seen = Math.max(seen, t);
      sleepSync(0.02);
    }
    return;
  }
  const leases = LeaseLock.from(shared.lock);
  for (let i = 0; i < input.ops; i++) {
    // Poll rather than park: on a ManualClock a parked waiter notices an
    // expiry only at the end of its liveness slice, and a stalled holder's
    // successor should move in at once, while the stalled one is still writing.
    let lease = leases.acquire('data', { ttlMs: TTL_MS });
    for (const until = Date.now() + WAIT_MS; lease === null && Date.now() < until; lease = leases.acquire('data', { ttlMs: TTL_MS }))
      sleepSync(0.02);
    if (lease === null) {
      add(words, STARVED, 1);
      continue;
    }
    // Half the writes stall past the TTL (the clock moves on and the next
    // holder gets time to move in): with the real fence the whole write is
    // one step, so the stall falls before it; the two-step twin stalls
    // between its check and its write.
    const stall = (): void => {
      clock.advance(TTL_MS);
      sleepSync(2);
    };
    const stalls = random() < 0.5;
    try {
      if (fence instanceof CheckThenWriteFence) {
        fence.write('data', lease.fencingToken, i, stalls ? stall : undefined);
      } else {
        if (stalls) stall();
        fence.write('data', lease.fencingToken, i);
      }
      for (let m = load(words, ACCEPTED_MAX); m < lease.fencingToken; m = load(words, ACCEPTED_MAX)) {
        if (compareExchange(words, ACCEPTED_MAX, m, lease.fencingToken) === m) break;
      }
    } catch {
      add(words, REFUSED, 1);
    }
    try {
      lease.release();
    } catch {
      // expired and perhaps taken over: that is the point of the stall
    }
  }
  add(words, DONE, 1);
});
