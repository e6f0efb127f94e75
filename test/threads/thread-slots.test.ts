import { threadId } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { ThreadSlots, type ThreadSlotsLayout } from '../../src/threads/thread-slots.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { spawnWorker } from '../../src/threads/spawn.js';
import { expectCode } from '../helpers/errors.js';

const layout: ThreadSlotsLayout = { count: 4, fields: 2, padded: false };
const table = (l: ThreadSlotsLayout = layout): { words: Int32Array; slots: ThreadSlots } => {
  const words = new Int32Array(new SharedArrayBuffer(ThreadSlots.byteLength(l)));
  return { words, slots: new ThreadSlots(words, l) };
};
const fakeThreadIds = [900_001, 900_002, 900_003, 900_004];
afterAll(() => {
  for (const id of fakeThreadIds) ThreadRegistry.current.markDead(id);
});

describe('ThreadSlots', () => {
  it('gives this thread one slot, the same on every call, and reports its owner', () => {
    const { slots } = table();
    const s = slots.mine(() => {});
    expect(slots.mine(() => {})).toBe(s);
    expect(slots.ownerOf(s)).toBe(threadId);
    expect(slots.mineIfAny()).toBe(s);
  });

  it('gives a second instance over the same table the slot this thread already owns, even past a free one', () => {
    // Where this thread's probe starts: the slot it claims in an empty table.
    const start = table().slots.mine(() => {});
    // A table where that first slot was taken (by a thread alive at the time),
    // so this thread owns the next one; then the first is freed again.
    const { words, slots } = table();
    words[slots.word(start, 0)] = fakeThreadIds[1]! + 1;
    const owned = slots.mine(() => {});
    expect(owned).not.toBe(start);
    words[slots.word(start, 0)] = 0;
    // A second instance in this thread probes the free slot first: it must still find the owned one.
    const again = new ThreadSlots(words, layout);
    expect(again.mine(() => {})).toBe(owned);
    expect([...Array(layout.count).keys()].filter((s) => again.ownerOf(s) === threadId)).toEqual([owned]);
  });

  it('pads slots to 128-byte blocks when asked', () => {
    expect(ThreadSlots.byteLength({ count: 3, fields: 2, padded: true })).toBe(3 * 128);
    expect(ThreadSlots.byteLength({ count: 3, fields: 2, padded: false })).toBe(3 * 12);
  });

  it('reclaims the slots of dead threads through release, once, and leaves live ones', () => {
    const { words, slots } = table();
    // Slots owned by threads that never existed here: alive until proved dead.
    words[slots.word(0, 0)] = fakeThreadIds[0]! + 1;
    words[slots.word(0, 1)] = 3;
    words[slots.word(1, 0)] = fakeThreadIds[1]! + 1;
    words[slots.word(1, 1)] = 5;
    const released: [number, number][] = [];
    const release = (s: number): void => {
      released.push([s, words[slots.word(s, 1)]!]);
    };
    expect(slots.reclaimDead(release)).toBe(0);
    ThreadRegistry.current.markDead(fakeThreadIds[0]!);
    expect(slots.reclaimDead(release)).toBe(1);
    expect(released).toEqual([[0, 3]]);
    expect(slots.ownerOf(0)).toBe(-1);
    expect(words[slots.word(0, 1)]).toBe(0);
    expect(slots.ownerOf(1)).toBe(fakeThreadIds[1]);
    expect(slots.reclaimDead(release)).toBe(0); // once
  });

  it('takes over a reclaim left half done by a reclaimer that died', () => {
    const { words, slots } = table();
    words[slots.word(2, 0)] = -(fakeThreadIds[2]! + 1); // being reclaimed by a thread…
    words[slots.word(2, 1)] = 7;
    ThreadRegistry.current.markDead(fakeThreadIds[2]!); // …that died doing it
    const released: number[] = [];
    expect(slots.reclaimDead((s) => released.push(words[slots.word(s, 1)]!))).toBe(1);
    expect(released).toEqual([7]);
    expect(slots.ownerOf(2)).toBe(-1);
  });

  it('is a CapacityError when every slot is held by a live thread, and reclaims dead ones to make room', () => {
    const { words, slots } = table({ count: 1, fields: 1, padded: false });
    words[0] = fakeThreadIds[3]! + 1;
    expectCode(() => slots.mine(() => {}), ErrorCode.CAPACITY, /maxThreads/);
    ThreadRegistry.current.markDead(fakeThreadIds[3]!);
    expect(slots.mine(() => {})).toBe(0);
  });

  it('gives distinct slots to distinct threads', async () => {
    const padded: ThreadSlotsLayout = { count: 8, fields: 1, padded: true };
    const { words, slots } = table(padded);
    const mine = slots.mine(() => {});
    const claim = async (): Promise<number> => {
      const w = spawnWorker(new URL('../../workers/fixtures/thread-slots.ts', import.meta.url), {
        workerData: { buffer: words.buffer, layout: padded },
      });
      const s = await new Promise<number>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      await w.terminate();
      return s;
    };
    const a = await claim();
    const b = await claim();
    expect(new Set([mine, a, b]).size).toBe(3);
  });
});
