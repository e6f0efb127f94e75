/**
 * Every async wait checks its `signal` before it parks: a look-alike that
 * lacks part of AbortSignal (here removeEventListener) is an
 * InvalidArgumentError up front, the primitive is left as it was, and no
 * keep-alive timer is left behind to keep the process from exiting.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { Mutex } from '../../src/sync/mutex.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { RWLock } from '../../src/sync/rwlock.js';
import { Latch } from '../../src/sync/latch.js';
import { Once } from '../../src/sync/once.js';
import { Condition } from '../../src/sync/condition.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { Cache } from '../../src/store/cache.js';
import { Bulkhead } from '../../src/resilience/bulkhead.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';

const lookalike = { aborted: false, reason: undefined, addEventListener: () => undefined } as unknown as AbortSignal;

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Each wait, set up so that it would have to park, called with the look-alike. */
const waits: [string, () => Promise<unknown>][] = [
  ['Mutex.lockAsync', () => held(new Mutex()).lockAsync({ signal: lookalike })],
  ['Mutex.waitForUnlock', () => held(new Mutex()).waitForUnlock({ signal: lookalike })],
  [
    'Semaphore.acquireAsync',
    () => {
      const s = new Semaphore(1);
      s.acquire();
      return s.acquireAsync(1, { signal: lookalike });
    },
  ],
  [
    'RWLock.readLockAsync',
    () => {
      const l = new RWLock();
      l.writeLock();
      return l.readLockAsync({ signal: lookalike });
    },
  ],
  [
    'RWLock.writeLockAsync',
    () => {
      const l = new RWLock();
      l.readLock();
      return l.writeLockAsync({ signal: lookalike });
    },
  ],
  ['Latch.waitAsync', () => new Latch(1).waitAsync({ signal: lookalike })],
  ['Once.runAsync', () => new Once().runAsync(() => {}, { signal: lookalike })],
  [
    'Condition.waitAsync',
    () => {
      const m = new Mutex();
      m.lock();
      return new Condition().waitAsync(m, { signal: lookalike });
    },
  ],
  [
    'LeaseLock.acquireAsync',
    () => {
      const l = new LeaseLock({ capacity: 4 });
      l.acquire('r', { ttlMs: 60_000 });
      return l.acquireAsync('r', { ttlMs: 1000, signal: lookalike });
    },
  ],
  [
    'Cache.getOrCompute',
    () => new Cache<number>({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 16 }).getOrCompute('k', () => 1, { signal: lookalike }),
  ],
  ['Bulkhead.execute', () => new Bulkhead({ maxConcurrent: 1, maxQueue: 1 }).execute(() => 1, { signal: lookalike })],
  [
    'CircuitBreaker.waitUntilAsync',
    () => new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000 }).waitUntilAsync('OPEN', { signal: lookalike }),
  ],
];

function held(m: Mutex): Mutex {
  m.lock();
  return m;
}

describe('an AbortSignal look-alike', () => {
  it.each(waits)('%s refuses it up front and leaves no keep-alive behind', async (_name, wait) => {
    const before = timers();
    const outcome = await wait().then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(isSabreError(outcome, ErrorCode.INVALID_ARG), String(outcome)).toBe(true);
    expect((outcome as Error).message).toMatch(/signal must be an AbortSignal/);
    expect(timers()).toBe(before);
  });
});
