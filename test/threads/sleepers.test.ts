import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { SEAM_ENV, SEAM_HOOKS } from '../../src/memory/atomics.js';
import { spawnWorker } from '../../src/threads/spawn.js';
import { LIVENESS_SLICE_MS } from '../../src/threads/park.js';
import { LONG_SLICE_MS, heardSleepers, watcherLooks } from '../../src/threads/sleepers.js';
import { ErrorCode } from '../../src/errors.js';
import type { SleeperReport } from '../../workers/fixtures/sleeper.js';
import { elapse, until } from '../helpers/wait.js';

const fixture = new URL('../../workers/fixtures/sleeper.ts', import.meta.url);
const start = (handle: MutexHandle, role: 'wait' | 'hold' | 'parent'): Worker =>
  spawnWorker(fixture, { workerData: { handle, role }, env: { ...process.env, [SEAM_ENV]: SEAM_HOOKS } });
/** How long the waiter stays blocked once it has announced itself: a measuring window, not a wait for another thread. */
const BLOCKED_MS = 2000;

/**
 * A worker blocks in lock() on a Mutex this thread holds, for BLOCKED_MS after
 * this thread has heard its announcement; with `watched`, this thread has an
 * async park pending meanwhile (so its ticker runs and watches announced waits).
 */
async function blocked(watched: boolean): Promise<SleeperReport> {
  const m = new Mutex();
  m.lock();
  const watch = watched ? await ticking() : undefined;
  const waiter = start(m.handle, 'wait');
  try {
    await once(waiter, 'message'); // 'blocking'
    const report = once(waiter, 'message') as Promise<[SleeperReport]>;
    await until(() => heardSleepers() > 0, { what: 'the blocked worker announced its wait' });
    await elapse(BLOCKED_MS);
    m.unlock();
    const [r] = await report;
    expect(r.outcome).toBe('ok');
    return r;
  } finally {
    await waiter.terminate();
    await watch?.stop();
  }
}

/**
 * Makes this thread's ticker run, as it does in any thread with an async
 * park pending on another thread's hold: a lockAsync() on a Mutex a worker holds.
 */
async function ticking(): Promise<{ stop(): Promise<void> }> {
  const other = new Mutex();
  const holder = start(other.handle, 'hold');
  await once(holder, 'message'); // 'held'
  const pending = other.lockAsync().then(
    () => other.unlock(),
    () => {}, // OwnerDiedError when the holder is stopped
  );
  return {
    async stop() {
      await holder.terminate();
      await pending;
    },
  };
}

// A thread blocked in Atomics.wait cannot run a timer: it wakes every slice to look for its holder
// itself, unless a thread that ticks anyway (one with async parks) watches for it (sleepers.ts).
describe('blocked waiters sleep long while another thread watches for them', () => {
  it('watched: a blocked lock() wakes about once per LONG_SLICE_MS, not once per slice', { timeout: 30_000 }, async () => {
    const { waits } = await blocked(true);
    // Before the announcement: two short slices; after it, long ones (and the one the unlock ends).
    expect(waits).toBeLessThanOrEqual(2 + Math.ceil(BLOCKED_MS / LONG_SLICE_MS) + 3);
  });

  it('unwatched (no thread ticks): it still looks every slice, as before', { timeout: 30_000 }, async () => {
    const { waits } = await blocked(false);
    expect(waits).toBeGreaterThanOrEqual(BLOCKED_MS / LIVENESS_SLICE_MS / 2);
  });

  it(
    'a holder that dies while its waiter sleeps long: the watcher wakes the waiter, which gets OwnerDiedError',
    { timeout: 30_000 },
    async () => {
      const m = new Mutex();
      const holder = start(m.handle, 'hold');
      await once(holder, 'message'); // 'held'
      const watch = await ticking(); // this thread ticks: it watches
      const waiter = start(m.handle, 'wait');
      try {
        await once(waiter, 'message'); // 'blocking'
        const report = once(waiter, 'message') as Promise<[SleeperReport]>;
        await until(() => heardSleepers() > 0, { what: 'the blocked worker announced its wait' });
        await elapse(LONG_SLICE_MS); // a window in which it sleeps long
        const killedAt = performance.timeOrigin + performance.now();
        await holder.terminate();
        const [r] = await report;
        expect(r.outcome).toBe(ErrorCode.OWNER_DIED);
        expect(r.waits).toBeLessThanOrEqual(2 + 3 + 3); // it was sleeping long, not looking every slice
        const recoveryMs = r.at - killedAt;
        console.log(`blocked waiter, long slices: terminate → OwnerDiedError in ${recoveryMs.toFixed(1)} ms`);
        expect(recoveryMs).toBeLessThan(2000); // a liveness bound, not a speed claim (bench table 22 measures it)
      } finally {
        await waiter.terminate();
        await holder.terminate();
        await watch.stop();
      }
    },
  );

  it(
    'a wait that names its holder is watched by a look at that thread; a death no thread saw leave still wakes it',
    { timeout: 30_000 },
    async () => {
      const m = new Mutex();
      // The holder's parent terminates it and blocks its own loop at once: no 'exit' event tells anyone.
      const parent = start(m.handle, 'parent');
      const [{ holder: holderId }] = (await once(parent, 'message')) as [{ holder: number }];
      expect(m.ownerThreadId).toBe(holderId);
      const watch = await ticking();
      const waiter = start(m.handle, 'wait');
      try {
        await once(waiter, 'message'); // 'blocking'
        const report = once(waiter, 'message') as Promise<[SleeperReport]>;
        await until(() => heardSleepers() > 0, { what: 'the blocked worker announced its wait' });
        await elapse(3 * LIVENESS_SLICE_MS); // a first look at every thread, then named looks
        const before = watcherLooks();
        await elapse(20 * LIVENESS_SLICE_MS);
        const during = watcherLooks();
        // Each tick looks at the named holder; at every thread only once per LOOK_AT_ALL_MS (500 ms).
        expect(during.named - before.named).toBeGreaterThanOrEqual(5);
        expect(during.all - before.all).toBeLessThanOrEqual(4);
        parent.postMessage('terminate the holder');
        const [r] = await report;
        expect(r.outcome).toBe(ErrorCode.OWNER_DIED);
        expect(r.waits).toBeLessThanOrEqual(2 + 3 + 3); // it slept long, and was woken by the watcher, not by its own slices
      } finally {
        await waiter.terminate();
        await parent.terminate();
        await watch.stop();
      }
    },
  );
});
