/**
 * Async parks that leave a watch: they sleep until their deadline instead of
 * waking every slice, the thread's ticker runs each distinct watch once per
 * slice whatever the number of parks sharing it, and a watch that returns
 * true (or throws) wakes exactly the parks that left it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LIVENESS_SLICE_MS, parkAsync, toDeadline, watchedParks, type Watch } from '../../src/threads/park.js';
import { until } from '../helpers/wait.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('parkAsync with a watch', () => {
  afterEach(() => expect(watchedParks()).toBe(0));

  it('100 parks sharing one watch cost one call per slice, and all wake when it turns true', async () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    let calls = 0;
    let due = false;
    const watch: Watch = () => {
      calls++;
      return due;
    };
    const parks = Array.from({ length: 100 }, () => parkAsync(word, 0, 0, Infinity, undefined, undefined, watch));
    expect(watchedParks()).toBe(100);
    await until(() => calls >= 3, { what: 'the ticker ran three times' });
    // Three ticks: three calls, not 300, and no park has woken by itself meanwhile.
    expect(calls).toBeLessThanOrEqual(4);
    expect(watchedParks()).toBe(100);
    due = true;
    expect(await Promise.all(parks)).toEqual(Array<string>(100).fill('ok'));
  });

  it('a watch wakes only the parks that left it; a throwing watch wakes its parks too', async () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const never: Watch = () => false;
    const throws: Watch = () => {
      throw new Error('watch failed');
    };
    const quiet = parkAsync(word, 0, 0, Infinity, undefined, undefined, never);
    const woken = await parkAsync(word, 0, 0, Infinity, undefined, undefined, throws);
    expect(woken).toBe('ok');
    expect(watchedParks()).toBe(1); // the quiet park still sleeps
    Atomics.notify(word, 0); // a real wake-up still reaches a watched park
    expect(await quiet).toBe('ok');
  });

  it('a watched park still ends at its deadline, and the ticker stops once no park is watched', async () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const before = timers();
    const t0 = performance.now();
    const r = await parkAsync(word, 0, 0, toDeadline(2.5 * LIVENESS_SLICE_MS), undefined, undefined, () => false);
    expect(['timed-out', 'ok']).toContain(r); // 'timed-out' may come early: callers compare against the deadline
    expect(performance.now() - t0).toBeGreaterThan(LIVENESS_SLICE_MS); // it slept through at least one slice
    await until(() => timers() <= before, { what: 'the keep-alive and the ticker were released' });
  });
});
