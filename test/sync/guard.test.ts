import { describe, expect, it } from 'vitest';
import { Guard, Mutex, MutexGuard, RWLock, RWLockGuard, Semaphore, SemaphoreGuard } from '../../src/index.js';

describe('Guard: one release for every lock', () => {
  it('every lock hands out a Guard that releases once, by release() or at the end of a using scope', async () => {
    const m = new Mutex();
    const s = new Semaphore(2);
    const l = new RWLock();
    const guards = [m.acquire(), s.acquire(2), l.acquireWrite()];
    expect(guards[0]).toBeInstanceOf(MutexGuard);
    expect(guards[1]).toBeInstanceOf(SemaphoreGuard);
    expect(guards[2]).toBeInstanceOf(RWLockGuard);
    for (const g of guards) expect(g).toBeInstanceOf(Guard);
    expect([m.isLocked, s.available, l.isWriteLocked]).toEqual([true, 0, true]);
    for (const g of guards) {
      g.release();
      g.release(); // a second release does nothing (it would throw NotOwnerError if it unlocked again)
    }
    expect([m.isLocked, s.available, l.isWriteLocked]).toEqual([false, 2, false]);
    {
      using _held = m.acquire();
      await using _permit = await s.acquireAsync(1);
      expect([m.isLocked, s.available]).toEqual([true, 1]);
    }
    expect([m.isLocked, s.available]).toEqual([false, 2]);
  });
});
