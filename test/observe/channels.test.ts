import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { Bulkhead } from '../../src/resilience/bulkhead.js';
import { retry } from '../../src/resilience/retry.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { threadId } from 'node:worker_threads';
import { Mutex } from '../../src/sync/mutex.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { RWLock } from '../../src/sync/rwlock.js';
import { Latch } from '../../src/sync/latch.js';
import { Once } from '../../src/sync/once.js';
import { Condition } from '../../src/sync/condition.js';
import { CHANNELS } from '../../src/observe/channels.js';
import { Remote } from '../threads/remote.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';

/** Subscribes to `name` for the test; the messages it gets. */
const subscriptions: (() => void)[] = [];
function listen(name: string): unknown[] {
  const got: unknown[] = [];
  const fn = (m: unknown) => got.push(m);
  diagnostics.subscribe(name, fn);
  subscriptions.push(() => diagnostics.unsubscribe(name, fn));
  return got;
}
afterEach(() => subscriptions.splice(0).forEach((off) => off()));

describe('diagnostics_channel events', () => {
  it('are named sabre:<area>:<event>, as undici names its own', () => {
    for (const name of CHANNELS) expect(name).toMatch(/^sabre:[a-z]+:[a-z-]+$/);
  });

  it('sabre:breaker:state: each transition once, from the thread that made it', async () => {
    const got = listen('sabre:breaker:state');
    const clock = new ManualClock({ startMs: 0 });
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000, clock });
    await rejected(breaker.execute(() => Promise.reject(new Error('down'))));
    clock.advance(1000);
    await breaker.execute(() => 'up');
    expect(got).toEqual([
      { breaker, from: 'CLOSED', to: 'OPEN' },
      { breaker, from: 'OPEN', to: 'HALF_OPEN' },
      { breaker, from: 'HALF_OPEN', to: 'CLOSED' },
    ]);
  });

  it('sabre:limit:denied: every refusal of tryAcquire and check, with the decision when there is one', () => {
    const got = listen('sabre:limit:denied');
    const bucket = new TokenBucket({ burst: 1, refillPerSecond: 1, capacity: 4, clock: new ManualClock({ startMs: 0 }) });
    expect(bucket.tryAcquire('a')).toBe(true);
    expect(bucket.tryAcquire('a')).toBe(false);
    const d = bucket.check('a', 1);
    bucket.peek('a'); // decides nothing: not an event
    expect(got).toEqual([
      { limiter: bucket, key: 'a', n: 1, decision: undefined },
      { limiter: bucket, key: 'a', n: 1, decision: d },
    ]);
  });

  it('sabre:idempotency:outcome: what each begin answered', () => {
    const got = listen('sabre:idempotency:outcome');
    const store = new IdempotencyStore({ capacity: 4, leaseMs: 1000 });
    const first = store.begin('k', 'fp');
    store.begin('k', 'fp');
    store.begin('k', 'other');
    if (first.status !== 'new') throw new Error('expected new');
    store.complete(first.token, { status: 201, body: 'ok' });
    store.begin('k', 'fp');
    expect(got.map((m) => (m as { outcome: string }).outcome)).toEqual(['new', 'in-flight', 'mismatch', 'replay']);
    expect(got[0]).toEqual({ store, key: 'k', outcome: 'new' });
  });

  it('sabre:bulkhead:rejected, sabre:retry:attempt and sabre:retry:give-up', async () => {
    const rejectedCalls = listen('sabre:bulkhead:rejected');
    const attempts = listen('sabre:retry:attempt');
    const giveUps = listen('sabre:retry:give-up');
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 0 });
    let release!: () => void;
    const running = bulkhead.execute(() => new Promise<void>((r) => (release = r)));
    expectCode(await rejected(bulkhead.execute(() => 1)), ErrorCode.BULKHEAD_FULL);
    release();
    await running;
    expect(rejectedCalls).toEqual([{ bulkhead }]);
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    await rejected(retry(() => Promise.reject(refused), { retries: 1, baseMs: 1 }));
    expect(attempts).toEqual([{ attempt: 1, error: refused, delayMs: expect.any(Number) as number }]);
    expect(giveUps).toEqual([{ attempts: 2, reason: 'retries', error: refused }]);
  });

  it("sabre:lock:owner-died: the thread that recovers a dead owner's mutex tells it", async () => {
    const got = listen('sabre:lock:owner-died');
    const m = new Mutex();
    const w = await Remote.start();
    await w.call('lock', { mutex: m.handle });
    const owner = w.threadId;
    void w.worker.terminate();
    expectCode(
      thrown(() => m.lock(5000)),
      ErrorCode.OWNER_DIED,
    );
    expect(got).toEqual([{ lock: m, owner }]);
  });

  it('nobody listening: nothing is published (hasSubscribers is false)', () => {
    expect(diagnostics.channel('sabre:limit:denied').hasSubscribers).toBe(false);
  });
});

describe('stats(): counts of every thread, in shared memory', () => {
  it('TokenBucket and SlidingWindow count allowed and denied decisions; a re-opened handle sees the same counts', () => {
    const clock = new ManualClock({ startMs: 0 });
    for (const limiter of [
      new TokenBucket({ burst: 2, refillPerSecond: 1, capacity: 4, clock }),
      new SlidingWindow({ limit: 2, windowMs: 1000, capacity: 4, clock }),
    ]) {
      limiter.tryAcquire('a');
      limiter.check('a');
      limiter.check('a');
      limiter.tryAcquire('a');
      limiter.peek('a');
      const again = limiter instanceof TokenBucket ? TokenBucket.from(limiter.handle) : SlidingWindow.from(limiter.handle);
      expect(again.stats()).toMatchObject({ allowed: 2, denied: 2, keys: 1, capacity: 4, refusedWhenFull: 0 });
    }
  });

  it('IdempotencyStore counts what begin answered, and the ends of leases', () => {
    const store = new IdempotencyStore({ capacity: 4, leaseMs: 1000 });
    const a = store.begin('a', 'fp');
    const b = store.begin('b', 'fp');
    store.begin('a', 'fp');
    store.begin('a', 'x');
    if (a.status !== 'new' || b.status !== 'new') throw new Error('expected new');
    store.complete(a.token, { status: 200 });
    store.abort(b.token);
    store.begin('a', 'fp');
    expect(IdempotencyStore.from(store.handle).stats()).toMatchObject({
      begun: 2,
      replayed: 1,
      inFlight: 1,
      mismatched: 1,
      completed: 1,
      aborted: 1,
      keys: 1,
    });
  });
});

describe('stats() of the synchronization primitives: a snapshot of their state', () => {
  it('Mutex, Semaphore, RWLock, Latch, Once and Condition', () => {
    const m = new Mutex();
    expect(m.stats()).toEqual({ locked: false, poisoned: false, ownerThreadId: -1, waiters: 0 });
    m.lock();
    expect(Mutex.from(m.handle).stats()).toMatchObject({ locked: true, ownerThreadId: threadId });
    m.unlock();
    const s = new Semaphore(3);
    s.tryAcquire(2);
    expect(s.stats()).toEqual({ permits: 3, available: 1, waiters: 0 });
    const rw = new RWLock();
    rw.readLock();
    expect(rw.stats()).toEqual({ writeLocked: false, writerThreadId: -1, writerWaiting: false, readers: 1, poisoned: false });
    rw.readUnlock();
    const latch = new Latch(2);
    latch.countDown();
    expect(latch.stats()).toEqual({ count: 1, open: false });
    const once = new Once();
    once.run(() => 1);
    expect(once.stats()).toEqual({ done: true });
    expect(new Condition().stats()).toEqual({ waiters: 0 });
  });
});
