/**
 * ThreadSlots: per-thread records inside a primitive's shared region, for
 * primitives that must know what each thread holds (semaphore permits, read
 * locks, bulkhead slots), so that a dead thread's share can be given back.
 *
 * A slot belongs to one thread (its owner word holds `threadId + 1`) and has
 * `fields` Int32 words of the primitive's own. A thread claims a slot on first
 * use and keeps it for the primitive's life (the index is cached per thread);
 * slots of threads that died are reclaimed, by whoever finds them, through
 * `reclaimDead`, which hands each one to the primitive's release function
 * first.
 *
 * Implementation notes
 *   Slot layout (Int32 words; with `padded`, each slot starts a 128-byte block
 *   so that threads writing their own slots never share a cache line):
 *     OWNER        0 free; t + 1 owned by thread t; -(r + 1) being reclaimed by thread r
 *     FIELD(i)     the primitive's words, 1 .. fields
 *   Claim: CAS OWNER 0 → me, probing from a hash of the threadId. Linearizes at
 *   that CAS; a thread dying right after it leaves an owned slot with zero
 *   fields, which reclaimDead frees like any other.
 *   Reclaim of a dead owner's slot: CAS OWNER t + 1 → -(me + 1) (only one
 *   reclaimer wins), call release(slot), zero the fields, store OWNER 0. A
 *   reclaimer that dies inside release leaves -(r + 1); a later reclaimDead
 *   sees r dead too and takes the slot over, calling release again: release
 *   must therefore be idempotent per slot (read the fields, give back, zero
 *   them, in that order, each give-back keyed on the field it clears).
 *   Liveness comes from the ThreadRegistry, which never calls a live thread
 *   dead, so a slot is never taken from a live owner.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { CapacityError } from '../errors.js';
import { ThreadRegistry } from './registry.js';

const { compareExchange, load, store } = seam; // module constants: see memory/atomics.ts

const OWNER = 0;
const me = threadId + 1;

/** Size and shape of a slot table, fixed when the primitive is created. */
export interface ThreadSlotsLayout {
  /** How many threads can hold a share at once. */
  readonly count: number;
  /** Int32 words per slot for the primitive's own use. */
  readonly fields: number;
  /** Give each slot its own 128-byte block (for slots written on hot paths). */
  readonly padded: boolean;
}

/** Int32 words one slot takes (owner word included, padding included). */
function slotWords(layout: ThreadSlotsLayout): number {
  const words = 1 + layout.fields;
  return layout.padded ? Math.ceil((words * 4) / CACHE_LINE_BYTES) * (CACHE_LINE_BYTES / 4) : words;
}

export class ThreadSlots {
  private readonly stride: number;
  private cached = -1;

  /**
   * @param words an Int32Array over exactly `ThreadSlots.byteLength(layout)`
   *   bytes of the primitive's region (128-byte aligned when `padded`)
   */
  constructor(
    private readonly words: Int32Array,
    readonly layout: ThreadSlotsLayout,
  ) {
    this.stride = slotWords(layout);
  }

  /** Bytes a slot table of this layout takes. */
  static byteLength(layout: ThreadSlotsLayout): number {
    return slotWords(layout) * layout.count * 4;
  }

  /** Index (into the Int32Array given to the constructor) of field `field` (1-based) of slot `slot`. */
  word(slot: number, field: number): number {
    return slot * this.stride + field;
  }

  /** The threadId owning `slot`, or -1 when free or being reclaimed. */
  ownerOf(slot: number): number {
    const o = load(this.words, slot * this.stride + OWNER);
    return o > 0 ? o - 1 : -1;
  }

  /**
   * This thread's slot, claimed on first use. Reclaims dead threads' slots
   * (through `release`) when none is free.
   * @throws CapacityError when every slot belongs to a live thread
   */
  mine(release: (slot: number) => void): number {
    const c = this.cached;
    if (c >= 0) return c;
    return this.claimSlow(release);
  }

  /** This thread's slot if it has claimed one, else -1 (never claims). */
  mineIfAny(): number {
    if (this.cached >= 0) return this.cached;
    for (let s = 0; s < this.layout.count; s++) {
      if (load(this.words, s * this.stride + OWNER) === me) return (this.cached = s);
    }
    return -1;
  }

  /**
   * Gives back and frees the slots of dead threads: for each, `release(slot)`
   * runs once the slot is this thread's to reclaim. Returns how many were freed.
   */
  reclaimDead(release: (slot: number) => void): number {
    const registry = ThreadRegistry.current;
    let freed = 0;
    for (let s = 0; s < this.layout.count; s++) {
      const at = s * this.stride + OWNER;
      const o = load(this.words, at);
      if (o === 0 || o === me || o === -me) continue;
      const holder = o > 0 ? o - 1 : -o - 1;
      if (registry.isAlive(holder)) continue;
      // Linearization point of a reclaim: the CAS that makes this thread the reclaimer.
      if (compareExchange(this.words, at, o, -me) !== o) continue;
      release(s);
      for (let f = 1; f <= this.layout.fields; f++) store(this.words, at + f, 0);
      store(this.words, at, 0);
      freed++;
    }
    return freed;
  }

  private claimSlow(release: (slot: number) => void): number {
    // Another instance of this primitive in this thread may have claimed a
    // slot already: the thread's records must stay in one slot.
    const owned = this.mineIfAny();
    if (owned >= 0) return owned;
    const n = this.layout.count;
    const start = (Math.imul(threadId, 0x9e3779b1) >>> 0) % n;
    for (let attempt = 0; attempt < 2; attempt++) {
      for (let i = 0; i < n; i++) {
        const s = (start + i) % n;
        const at = s * this.stride + OWNER;
        const o = load(this.words, at);
        if (o === me) return (this.cached = s);
        if (o === 0 && compareExchange(this.words, at, 0, me) === 0) return (this.cached = s);
      }
      if (this.reclaimDead(release) === 0) break;
    }
    throw new CapacityError(`all ${n} thread slots are held by live threads; create the primitive with a larger maxThreads`);
  }
}
