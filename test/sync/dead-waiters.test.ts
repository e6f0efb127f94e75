/**
 * The audit of waiter bookkeeping (a dead waiter must leave no residue): for
 * each primitive that counts its waiters, a worker parks in a blocking wait
 * and is terminated while parked; afterwards the next live waiter is served
 * at once, as if the dead one had never waited. (The Mutex's own case, a
 * waiter killed while starving, is in mutex.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/sync/semaphore.js';
import { RWLock } from '../../src/sync/rwlock.js';
import { Condition } from '../../src/sync/condition.js';
import { Mutex } from '../../src/sync/mutex.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { LockManager } from '../../src/lock/lock-manager.js';
import { fnv1a } from '../../src/memory/fnv.js';
import { FIXTURE_MARK as LOCK_MANAGER_MARK } from '../../workers/fixtures/lock-manager.js';
import { Remote } from '../threads/remote.js';
import { FIXTURE_MARK } from '../../workers/fixtures/rwlock-condition.js';
import { until } from '../helpers/wait.js';
import { ThreadRegistry } from '../../src/threads/registry.js';

const started: Remote[] = [];
async function start(fixture: string, mark?: boolean | string): Promise<Remote> {
  const w = await Remote.start(fixture, mark ? { workerData: { mark: mark === true ? FIXTURE_MARK : mark } } : {});
  started.push(w);
  return w;
}
afterAll(() => Promise.all(started.map((w) => w.stop().catch(() => {}))));

describe('a waiter terminated while parked leaves nothing behind', () => {
  it("Semaphore: a live waiter gets the permit when it is released, and the dead one's count is taken back", async () => {
    const s = new Semaphore(1);
    s.acquire();
    const victim = await start('sync');
    victim.send('acquire', { sem: s.handle, n: 1, timeout: 60_000 });
    await until(() => s.waiterCount === 1, { what: 'the victim parked' });
    const tid = victim.worker.threadId;
    await victim.worker.terminate();
    // A death is provable up to a liveness window after the thread stopped (a recent "alive" look is trusted).
    await until(() => !ThreadRegistry.current.isAlive(tid), { what: 'the victim known dead' });
    // An acquirer that lacks permits looks for dead threads, and the victim's share of the count goes with its slot.
    expect(s.tryAcquire()).toBe(false);
    expect(s.waiterCount).toBe(0);
    const live = await start('sync');
    const served = live.call('acquireRelease', { sem: s.handle, n: 1, timeout: 10_000 });
    await until(() => s.waiterCount === 1, { what: 'the live waiter parked' });
    s.release();
    await served; // the permit went to the live waiter
    expect(s.waiterCount).toBe(0);
    expect(s.available).toBe(1);
    expect(s.tryAcquire()).toBe(true);
    s.release();
  });

  it('RWLock: a writer killed while waiting for readers leaves no intent that holds readers back', async () => {
    const l = new RWLock();
    l.readLock();
    const victim = await start('rwlock-condition', true);
    victim.send('writeLock', { lock: l.handle, options: 60_000 });
    await until(() => l.isWriterWaiting, { what: 'the writer announced its intent' });
    await victim.worker.terminate();
    l.readUnlock();
    // A new reader and a new writer are served: the dead writer's intent is withdrawn (within a slice).
    await until(() => l.tryReadLock(), { what: 'a reader got in', timeoutMs: 5000 });
    l.readUnlock();
    expect(l.isWriterWaiting).toBe(false);
    expect(l.tryWriteLock()).toBe(true);
    l.writeUnlock();
    expect(l.hasParkedWaiters).toBe(false);
  });

  it('Condition: notify(1) after a waiter was killed while waiting reaches a live waiter, and the dead one stops counting', async () => {
    const c = new Condition();
    const m = new Mutex();
    const victim = await start('rwlock-condition', true);
    victim.send('waitOnce', { cond: c.handle, mutex: m.handle, options: 60_000 });
    await until(() => c.waiters === 1, { what: 'the victim waits' });
    await victim.worker.terminate();
    // Its count goes once nobody has seen it run for three slices.
    await until(() => c.waiters === 0, { what: 'the dead waiter stopped counting', timeoutMs: 5000 });
    const live = await start('rwlock-condition', true);
    const woken = live.call<boolean>('waitOnce', { cond: c.handle, mutex: m.handle, options: 10_000 });
    await until(() => c.waiters === 1, { what: 'the live waiter waits' });
    c.notify(1);
    expect(await woken).toBe(true); // notified, not timed out: the wake-up did not go to the dead waiter
    expect(c.waiters).toBe(0);
  });

  it('LeaseLock: a waiter killed while parked leaves nothing (its stripes count no waiters), and a live one gets the lease', async () => {
    const l = new LeaseLock({ capacity: 4 });
    const mine = l.acquire('r', { ttlMs: 60_000 })!;
    const victim = await start('lease');
    const victimWaits = victim.call('acquire', { lock: l.handle, resource: 'r', ttlMs: 1000, timeoutMs: 60_000 }).catch(() => 'ended');
    const live = await start('lease');
    await victim.worker.terminate();
    await victimWaits;
    const got = live.call('acquire', { lock: l.handle, resource: 'r', ttlMs: 1000, timeoutMs: 10_000 });
    mine.release();
    expect(await got).not.toBeNull(); // granted to the live waiter
    expect(l.holder('r')?.threadId).toBe(live.threadId);
  });

  it('LockManager: a request queued by a thread that dies stops counting on its stripe (no notify for nobody on every later step)', async () => {
    // Internal layout (lock-manager.ts): 32 stripes of 128 bytes at the body's start; WAITERS is word 1 of a stripe.
    const lm = new LockManager({ capacity: 8 });
    const stripes = new Int32Array(lm.handle.buffer, lm.handle.byteOffset + 32, 32 * 32);
    const waiters = (fnv1a('r') % 32) * 32 + 1;
    let release!: () => void;
    const held = lm.request('r', () => new Promise<void>((r) => (release = r)));
    await until(() => lm.query().then((q) => q.held?.length === 1));
    const victim = await start('lock-manager', LOCK_MANAGER_MARK);
    victim.send('request', { lm: lm.handle, name: 'r' });
    // Counted: main's steal watcher (it holds the lock) and the victim's queued request.
    await until(() => stripes[waiters] === 2, { what: 'the victim queued and waits' });
    await victim.worker.terminate();
    release();
    // Every step on the name that would wake waiters checks the count: once nobody has refreshed it for
    // three of the steal watchers' slices (3 s), it is the dead thread's and goes.
    await until(
      async () => {
        await lm.request('r', () => undefined);
        return stripes[waiters] === 0;
      },
      { what: 'the dead request stopped counting', timeoutMs: 10_000 },
    );
    await held;
  });
});
