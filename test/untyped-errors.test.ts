/**
 * Inputs that once escaped as RangeError or TypeError (a message built with
 * String() on a null-prototype object or a symbol, a rate whose interval
 * overflows, a bigint where a number goes): each is a typed
 * InvalidArgumentError now, and the primitive still works afterwards.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, isSabreError } from '../src/errors.js';
import { ManualClock } from '../src/clock.js';
import { TokenBucket } from '../src/limit/token-bucket.js';
import { LeaseLock } from '../src/lock/lease-lock.js';
import { FencedResource } from '../src/lock/fenced-resource.js';
import { OnceRegistry } from '../src/store/once-registry.js';
import { Semaphore } from '../src/sync/semaphore.js';
import { backoffDelay } from '../src/resilience/retry.js';

const bare = Object.create(null) as never;
const sym = Symbol('token') as never;

function outcome(fn: () => unknown): unknown {
  try {
    fn();
    return 'returned';
  } catch (e) {
    return e;
  }
}

describe('inputs that used to throw untyped errors', () => {
  const clock = new ManualClock();
  const leases = new LeaseLock({ capacity: 4, clock });
  const once = new OnceRegistry({ capacity: 4, clock });
  const fenced = new FencedResource<string>({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 16, codec: 'string' });

  const cases: [string, () => unknown][] = [
    ['new TokenBucket({ burst: 1, refillPerSecond: 5e-323 })', () => new TokenBucket({ burst: 1, refillPerSecond: 5e-323 })],
    ['new TokenBucket({ burst: 1, refillPerSecond: 1e-300 })', () => new TokenBucket({ burst: 1, refillPerSecond: 1e-300 })],
    ['ManualClock.advance(1e308)', () => clock.advance(1e308)],
    ['LeaseLock.acquire(r, { ttlMs: Object.create(null) })', () => leases.acquire('r', { ttlMs: bare })],
    ['LeaseLock.acquire(r, Object.create(null))', () => leases.acquire('r', bare)],
    ['lease.renew(Object.create(null))', () => leases.acquire('renew', { ttlMs: 1000 })!.renew(bare)],
    ['LeaseLock.renewLease with a symbol token', () => leases.renewLease('r', sym, 1000, false)],
    ['LeaseLock.releaseLease with a symbol token', () => leases.releaseLease('r', sym, false)],
    ['OnceRegistry.claimWithin(k, Object.create(null))', () => once.claimWithin('k', bare)],
    ['OnceRegistry.claim(k, Object.create(null)) (a bare options object is fine; a symbol is not)', () => once.claim('k', sym)],
    ['FencedResource.write(k, Object.create(null), v)', () => fenced.write('k', bare, 'v')],
    ['FencedResource.write(k, a symbol, v)', () => fenced.write('k', sym, 'v')],
    ['Semaphore.byteLength(1, null)', () => Semaphore.byteLength(1, null as never)],
    ['backoffDelay("full", 0, 1n, …)', () => backoffDelay('full', 0, 1n as never, 100, 1)],
    ['backoffDelay(a symbol, …)', () => backoffDelay(sym, 0, 1, 100, 1)],
  ];

  it.each(cases)('%s is an InvalidArgumentError', (_name, call) => {
    const e = outcome(call);
    expect(isSabreError(e, ErrorCode.INVALID_ARG), String(e instanceof Error ? `${e.name}: ${e.message}` : e)).toBe(true);
    expect((e as Error).message.length).toBeGreaterThan(0);
  });

  it('every primitive still works afterwards', () => {
    expect(clock.advance(5)).toBe(5);
    expect(leases.acquire('r', { ttlMs: 1000 })).not.toBeNull();
    expect(once.claimWithin('k', 1000).claimed).toBe(true);
    const lease = leases.acquire('f', { ttlMs: 1000 })!;
    fenced.write('k', lease.fencingToken, 'v');
    expect(fenced.read('k')?.value).toBe('v');
    expect(Semaphore.byteLength(1)).toBeGreaterThan(0);
    expect(backoffDelay('full', 0, 1, 100, 1, () => 0.5)).toBeGreaterThanOrEqual(0);
  });
});
