/**
 * The primitives whose handles the handle property exercises, each with one
 * way to write through an instance and one way to read what it shows, so a
 * write through one opening can be looked for through another.
 */
import { AtomicCounter, type AtomicCounterHandle } from '../../src/atomic/counter.js';
import { StripedCounter, type StripedCounterHandle } from '../../src/atomic/striped-counter.js';
import { ManualClock, type ManualClockHandle } from '../../src/clock.js';
import { SharedArena, type SharedArenaHandle } from '../../src/memory/arena.js';
import type { Handle } from '../../src/memory/region.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';

export interface PrimitiveKind<P = unknown> {
  make(): P;
  from(handle: Handle): P;
  handle(p: P): Handle;
  /** A write through `p` parameterised by `v` (a small positive integer). */
  write(p: P, v: number): void;
  /** What `p` shows, as a plain comparable value. */
  read(p: P): unknown;
}

const kind = <P extends { readonly handle: Handle }>(k: Omit<PrimitiveKind<P>, 'handle'>): PrimitiveKind<P> => ({
  ...k,
  handle: (p) => p.handle,
});

export const PRIMITIVES = {
  mutex: kind<Mutex>({
    make: () => new Mutex(),
    from: (h) => Mutex.from(h as MutexHandle),
    // Toggles: takes the lock when free (the owner is the writing thread), releases it when this thread holds it.
    write: (m) => (m.tryLock() ? undefined : m.unlock()),
    read: (m) => ({ locked: m.isLocked, owner: m.ownerThreadId }),
  }),
  arena: kind<SharedArena>({
    make: () => new SharedArena({ byteLength: 4096 }),
    from: (h) => SharedArena.from(h as SharedArenaHandle),
    write: (a, v) => void a.allocate(v),
    read: (a) => a.available,
  }),
  clock: kind<ManualClock>({
    make: () => new ManualClock({ startMs: 1000 }),
    from: (h) => ManualClock.from(h as ManualClockHandle),
    write: (c, v) => void c.advance(v),
    read: (c) => c.now(),
  }),
  counter32: kind<AtomicCounter>({
    make: () => new AtomicCounter({ bits: 32 }),
    from: (h) => AtomicCounter.from(h as AtomicCounterHandle<32>),
    write: (c, v) => void c.add(v),
    read: (c) => c.get(),
  }),
  counter64: kind<AtomicCounter<bigint>>({
    make: () => new AtomicCounter({ bits: 64 }),
    from: (h) => AtomicCounter.from(h as AtomicCounterHandle<64>),
    write: (c, v) => void c.add(BigInt(v) << 40n),
    read: (c) => c.get(),
  }),
  striped: kind<StripedCounter>({
    make: () => new StripedCounter({ stripes: 8 }),
    from: (h) => StripedCounter.from(h as StripedCounterHandle),
    write: (c, v) => c.add(v),
    read: (c) => c.sum(),
  }),
} as const;

export type PrimitiveName = keyof typeof PRIMITIVES;
export const PRIMITIVE_NAMES = Object.keys(PRIMITIVES) as PrimitiveName[];
export const primitive = (name: PrimitiveName): PrimitiveKind => PRIMITIVES[name];
