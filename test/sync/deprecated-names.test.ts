/**
 * The names the sync primitives had before the naming rules (README,
 * Conventions): each still works, does what its new name does, and warns
 * once per process with its `SABRE_DEP_…` code.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { Mutex } from '../../src/sync/mutex.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { RWLock } from '../../src/sync/rwlock.js';
import { Condition } from '../../src/sync/condition.js';
import { Once } from '../../src/sync/once.js';
import { deprecationsDuring } from '../helpers/deprecation.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';

describe('sync: deprecated names', () => {
  it('Mutex#withLock is runExclusiveSync (SABRE_DEP_WITH_LOCK)', async () => {
    const m = new Mutex();
    const codes = await deprecationsDuring(() => {
      expect(m.withLock(() => (m.isLocked ? 'held' : 'free'))).toBe('held');
      expect(m.withLock(() => 2)).toBe(2);
      expect(m.isLocked).toBe(false);
    });
    expect(codes).toEqual(['SABRE_DEP_WITH_LOCK']);
  });

  it('the timeout option of Mutex lock, lockAsync, acquireAsync, runExclusive and waitForUnlock (SABRE_DEP_TIMEOUT)', async () => {
    const m = new Mutex();
    const codes = await deprecationsDuring(async () => {
      m.lock({ timeout: 0 });
      expectCode(await rejected(m.lockAsync({ timeout: 0 })), ErrorCode.DEADLOCK); // a sync hold: the same answer as with timeoutMs
      m.unlock();
      await m.runExclusive(async () => expectCode(await rejected(m.waitForUnlock({ timeout: 0 })), ErrorCode.TIMEOUT), { timeout: 100 });
      (await m.acquireAsync({ timeout: 100 })).release();
    });
    expect(codes).toEqual(['SABRE_DEP_TIMEOUT']);
  });

  it('Semaphore#acquireGuard and acquireGuardAsync are acquire and acquireAsync, which return the guard (SABRE_DEP_ACQUIRE_GUARD)', async () => {
    const s = new Semaphore(2);
    const codes = await deprecationsDuring(async () => {
      const g = s.acquireGuard(2);
      expect(s.available).toBe(0);
      g.release();
      const h = await s.acquireGuardAsync(1, { timeout: 100 });
      expect(s.available).toBe(1);
      h.release();
      expect(s.available).toBe(2);
    });
    expect(codes).toEqual(['SABRE_DEP_ACQUIRE_GUARD', 'SABRE_DEP_TIMEOUT']);
  });

  it('the timeout option of Semaphore acquire and acquireAsync (SABRE_DEP_TIMEOUT)', async () => {
    const s = new Semaphore(2);
    const codes = await deprecationsDuring(async () => {
      const g = s.acquire(1, { timeout: 0 });
      (await s.acquireAsync(1, { timeout: 100 })).release();
      g.release();
      expect(s.available).toBe(2);
    });
    expect(codes).toEqual(['SABRE_DEP_TIMEOUT']);
  });

  it('the timeout option of RWLock, Condition and Once waits (SABRE_DEP_TIMEOUT)', async () => {
    const l = new RWLock();
    const m = new Mutex();
    const c = new Condition();
    const o = new Once();
    const codes = await deprecationsDuring(async () => {
      l.writeLock({ timeout: 0 });
      l.writeUnlock();
      await l.readLockAsync({ timeout: 100 });
      l.readUnlock();
      m.lock();
      expect(c.wait(m, { timeout: 0 })).toBe(false);
      expect(await c.waitAsync(m, { timeout: 1 })).toBe(false);
      m.unlock();
      expect(o.run(() => {}, { timeout: 100 })).toBe(true);
    });
    expect(codes).toEqual(['SABRE_DEP_TIMEOUT']);
  });

  it('an old name given with its new one is refused, nothing taken', () => {
    const m = new Mutex();
    expectCode(
      thrown(() => m.lock({ timeout: 1, timeoutMs: 1 })),
      ErrorCode.INVALID_ARG,
      /"timeout" is the old name of "timeoutMs"; give only "timeoutMs"/,
    );
    expect(m.isLocked).toBe(false);
  });
});
