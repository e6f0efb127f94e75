/**
 * RegistryTable: the shared words of one thread registry: which threads are
 * known dead, and the OS identity of each live thread that registered.
 *
 * A process usually has one table (the main thread creates it when it loads
 * sabre, and workers inherit it through environment data). A thread that did
 * not inherit it (started before sabre was loaded in its parent) makes its
 * own; handles carry their creator's table, and a thread that opens a handle
 * registers in that table too (`ThreadRegistry.join`). So whoever can hold a
 * primitive is registered in the table its handle names, and any thread that
 * opened the primitive can prove that holder dead from that table.
 *
 * Implementation notes
 *   Int32 words:
 *     MAGIC_WORD           layout check for buffers found in environment data and handles
 *     DEATHS               number of deaths recorded (an epoch: changes on each)
 *     ID, ID + 1           a random 64-bit identity, never 0 (a clone of the buffer is a new object)
 *     WARNED               1 once the "cannot tell" warning was printed
 *     HIGH                 the word just past the highest slot ever claimed (0 = none yet):
 *                          scans stop there (a look at every slot took 90 µs; sleepers.ts
 *                          pays one per watcher tick)
 *     DEAD_BITS .. +32768  one bit per threadId < 2^20: set = known dead, forever
 *     SLOTS ..             SLOT_COUNT slots of [threadId + 1 | os tid | os start | checked]
 *   `checked` is when some thread last found the OS thread alive (ms of the
 *   process's monotonic clock, truncated to Int32, compared by wrapping
 *   difference; 0 = never): every thread trusts a recent check instead of
 *   repeating it, so the process pays one /proc look per holder per window,
 *   not one per waiting thread. A stale stamp only costs a look.
 *   A slot is claimed by CAS of its first word from 0 (free) and freed by a
 *   store of 0 after the dead bit is set, so "dead bit clear and no slot" means
 *   "never registered". threadIds are never reused by Node, so a dead bit never
 *   needs clearing. Ids beyond 2^20 fall back to slots and events.
 *   Registration is claim-then-fill: a reader that sees a claimed slot with os
 *   tid 0 treats it as unproven; a thread dying between the claim and the fill
 *   leaves such a slot, which `markDead` (from its 'exit') frees. Marking dead
 *   is set-bit then free-slot; freeing is CAS owner → FREEING, zero the tid,
 *   owner → 0, so a reader (owner word, tid, start, owner word again) never
 *   pairs one thread's id with another's tid. A crash between leaves a slot
 *   whose owner's dead bit is set (the next sweep frees it) or one FREEING
 *   slot (lost, never misread).
 */
import { types } from 'node:util';
import * as seam from '../memory/atomics.js';
import type { OsThreadIdentity } from './os-thread.js';

// Not scheduling points: how many of these steps a thread takes depends on the clock (liveness caches), see seam.quiet.
const { add, compareExchange, load, or, store } = seam.quiet;

const MAGIC = 0x53544852; // "STHR"
const MAGIC_WORD = 0,
  DEATHS = 1,
  ID = 2,
  WARNED = 4,
  HIGH = 5;
const DEAD_BITS = 32;
const DEAD_BIT_WORDS = 1 << 15; // 2^20 thread ids
const MAX_BITMAP_ID = DEAD_BIT_WORDS * 32;
const SLOTS = DEAD_BITS + DEAD_BIT_WORDS;
const SLOT_WORDS = 4,
  S_ID = 0,
  S_OS_TID = 1,
  S_OS_START = 2,
  S_CHECKED = 3;
/** A slot's owner word while its owner's record is being cleared. */
const FREEING = -1;
/** Threads that can be registered at once. */
export const SLOT_COUNT = 4096;
const WORDS = SLOTS + SLOT_COUNT * SLOT_WORDS;

export class RegistryTable {
  private readonly words: Int32Array;
  /** The table's identity, the same for every clone of its buffer. */
  readonly id: string;
  private readonly slotCache = new Map<number, number>();

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, WORDS);
    // Written once before the buffer was published (postMessage, environment data): plain reads.
    this.id = `${(this.words[ID]! >>> 0).toString(36)}.${(this.words[ID + 1]! >>> 0).toString(36)}`;
  }

  static create(): RegistryTable {
    const buffer = new SharedArrayBuffer(WORDS * 4);
    const words = new Int32Array(buffer);
    const id = crypto.getRandomValues(new Int32Array(2)); // not into the SAB: Node 26 refuses that
    words[ID] = id[0] === 0 && id[1] === 0 ? 1 : id[0]!;
    words[ID + 1] = id[1]!;
    words[MAGIC_WORD] = MAGIC;
    return new RegistryTable(buffer);
  }

  /** The table over `value`, or undefined when `value` is not a registry buffer. */
  static open(value: unknown): RegistryTable | undefined {
    if (!types.isSharedArrayBuffer(value) || value.byteLength !== WORDS * 4) return undefined;
    return load(new Int32Array(value, 0, 1), MAGIC_WORD) === MAGIC ? new RegistryTable(value) : undefined;
  }

  get deaths(): number {
    return load(this.words, DEATHS);
  }

  isDead(id: number): boolean {
    if (id >= MAX_BITMAP_ID) return false;
    return (load(this.words, DEAD_BITS + (id >>> 5)) & (1 << (id & 31))) !== 0;
  }

  /** Sets `id`'s dead bit and frees its slot; true when this call recorded the death. */
  setDead(id: number): boolean {
    let fresh = true;
    if (id < MAX_BITMAP_ID) {
      const bit = 1 << (id & 31);
      fresh = (or(this.words, DEAD_BITS + (id >>> 5), bit) & bit) === 0;
    }
    const slot = this.find(id);
    // Freed by CAS (only the owner's tag is replaced, never a later owner's), through FREEING so that
    // the tid is zeroed before the slot can be claimed again. A thread dying in between leaves one
    // FREEING slot: one of SLOT_COUNT lost, never a wrong identity.
    if (slot >= 0 && compareExchange(this.words, slot + S_ID, id + 1, FREEING) === id + 1) {
      store(this.words, slot + S_OS_TID, 0);
      store(this.words, slot + S_ID, 0);
    }
    if (fresh) add(this.words, DEATHS, 1);
    return fresh;
  }

  /** The slot `id` registered in, or -1. */
  slotOf(id: number): number {
    return this.find(id);
  }

  /** True if some thread found `slot`'s OS thread alive less than `windowMs` before `nowMs`. */
  checkedWithin(slot: number, nowMs: number, windowMs: number): boolean {
    const at = load(this.words, slot + S_CHECKED);
    const age = ((nowMs | 0) - at) | 0;
    return at !== 0 && age >= 0 && age < windowMs;
  }

  /** Records that `slot`'s OS thread was found alive at `nowMs`. */
  noteChecked(slot: number, nowMs: number): void {
    store(this.words, slot + S_CHECKED, nowMs | 0 || 1);
  }

  /** The OS identity registered in `slot` for `id`, or undefined (freed, reused, or not yet filled in). */
  identityAt(slot: number, id: number): OsThreadIdentity | undefined {
    // The owner word before and after: a slot freed (its tid zeroed first) and claimed again by
    // another thread in between would otherwise pair one thread's id with the other's tid.
    if (load(this.words, slot + S_ID) !== id + 1) return undefined;
    const tid = load(this.words, slot + S_OS_TID);
    if (tid === 0) return undefined;
    const start = load(this.words, slot + S_OS_START);
    return load(this.words, slot + S_ID) === id + 1 ? { tid, start } : undefined;
  }

  /** Every registered thread with an OS identity (for sweeps). */
  *registered(): Generator<[number, OsThreadIdentity]> {
    const high = this.high();
    for (let s = SLOTS; s < high; s += SLOT_WORDS) {
      const id = load(this.words, s + S_ID) - 1;
      if (id <= 0) continue;
      const os = this.identityAt(s, id);
      if (os !== undefined) yield [id, os];
    }
  }

  /** Records `id`'s OS identity; false when every slot is taken. */
  register(id: number, self: OsThreadIdentity): boolean {
    if (this.find(id) >= 0) return true;
    for (let s = SLOTS; s < WORDS; s += SLOT_WORDS) {
      if (load(this.words, s + S_ID) !== 0) continue;
      this.raiseHigh(s + SLOT_WORDS); // before the claim: whoever sees the claimed slot scans that far
      if (compareExchange(this.words, s + S_ID, 0, id + 1) !== 0) continue;
      store(this.words, s + S_OS_TID, 0); // unproven until filled in (a freed slot's tid is 0 already)
      store(this.words, s + S_CHECKED, 0);
      store(this.words, s + S_OS_START, self.start);
      store(this.words, s + S_OS_TID, self.tid);
      this.slotCache.set(id, s);
      return true;
    }
    return false;
  }

  /** True for the one caller that first claims the table's "warned" flag. */
  claimWarning(): boolean {
    return compareExchange(this.words, WARNED, 0, 1) === 0;
  }

  /** Where scans stop: past the highest slot ever claimed (SLOTS when none). */
  private high(): number {
    return Math.max(SLOTS, load(this.words, HIGH));
  }

  /** Raises HIGH to at least `end` (it only grows: slots past it were never claimed). */
  private raiseHigh(end: number): void {
    for (;;) {
      const h = load(this.words, HIGH);
      if (h >= end || compareExchange(this.words, HIGH, h, end) === h) return;
    }
  }

  private find(id: number): number {
    const tag = id + 1;
    const known = this.slotCache.get(id);
    if (known !== undefined && load(this.words, known + S_ID) === tag) return known;
    const high = this.high();
    for (let s = SLOTS; s < high; s += SLOT_WORDS) {
      if (load(this.words, s + S_ID) === tag) {
        this.slotCache.set(id, s);
        return s;
      }
    }
    this.slotCache.delete(id);
    return -1;
  }
}
