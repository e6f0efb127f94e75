/**
 * ThreadRegistry: thread liveness in shared memory, one per process.
 *
 * Locks record their owner as `threadId + 1`. When a lock's owner may be
 * gone, a waiter asks `isAlive(threadId)`. Death is learned three ways, and
 * recorded here once, for every thread to see:
 *   1. the real `Worker` 'exit' event, in whichever thread created the worker
 *      (`process.on('worker')` is installed when sabre loads, so every worker
 *      a sabre-using thread starts is watched; `watchWorker` covers the rest);
 *   2. the OS: each thread records its Linux thread id at start
 *      (`os-thread.ts`), and `isAlive` checks it directly. This is what makes
 *      recovery independent of the parent: a parent blocked in a wait or busy
 *      in a loop never runs its 'exit' handler, but any waiter can look;
 *   3. `markDead(threadId)`, for callers who know better (tests, supervisors).
 *
 * Implementation notes
 *   Int32 words of the registry buffer:
 *     MAGIC_WORD           layout check for buffers found in environment data
 *     DEATHS               number of deaths recorded (an epoch: changes on each)
 *     DEAD_BITS .. +32768  one bit per threadId < 2^20: set = known dead, forever
 *     SLOTS ..             SLOT_COUNT slots of [threadId + 1 | os tid | os start | 0]
 *   A slot is claimed by CAS of its first word from 0 (free) and freed by a
 *   store of 0 after the dead bit is set, so "dead bit clear and no slot" means
 *   "never registered" (treated as alive: sabre never recovers a lock from a
 *   thread it cannot prove dead). threadIds are never reused by Node, so a dead
 *   bit never needs clearing. Ids beyond 2^20 fall back to slots and events.
 *   The buffer reaches every worker through `worker_threads` environment data,
 *   which new workers inherit: import sabre in the main thread before starting
 *   workers (ESM hoists imports, so a top-level import does this).
 *   Dying mid-operation: `markDead` is set-bit then free-slot; a crash between
 *   leaves a slot that the next sweep frees. Registration is claim-then-fill:
 *   a reader that sees a claimed slot with os tid 0 treats it as unproven.
 */
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads';
import { types } from 'node:util';
import * as seam from '../memory/atomics.js';
import { identify, osThreadAlive, type OsThreadIdentity } from './os-thread.js';
import { InvalidArgumentError } from '../errors.js';

const { add, compareExchange, load, or, store } = seam; // module constants: see memory/atomics.ts

const ENV_KEY = 'sabre.threads.v1';
const MAGIC = 0x53544852; // "STHR"
const MAGIC_WORD = 0,
  DEATHS = 1;
const DEAD_BITS = 32;
const DEAD_BIT_WORDS = 1 << 15; // 2^20 thread ids
const MAX_BITMAP_ID = DEAD_BIT_WORDS * 32;
const SLOTS = DEAD_BITS + DEAD_BIT_WORDS;
const SLOT_WORDS = 4,
  S_ID = 0,
  S_OS_TID = 1,
  S_OS_START = 2;
const SLOT_COUNT = 4096;
const WORDS = SLOTS + SLOT_COUNT * SLOT_WORDS;

/** How long a positive liveness answer is trusted (the dead bit is always read), so hot paths can ask often. */
const ALIVE_CACHE_MS = 1;

export type DeathListener = (threadId: number) => void;

export class ThreadRegistry {
  private readonly words: Int32Array;
  private readonly listeners = new Set<DeathListener>();
  private readonly checkedAlive = new Map<number, number>();
  private readonly slotOf = new Map<number, number>();
  private readonly self: OsThreadIdentity | undefined;

  /** Use `ThreadRegistry.current`. */
  private constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, WORDS);
    this.self = identify();
  }

  /** The registry of this process (created by the first thread that loads sabre). */
  static get current(): ThreadRegistry {
    return ThreadRegistry.instance;
  }

  // Made when this module loads: the thread's OS identity is recorded then.
  private static readonly instance: ThreadRegistry = ThreadRegistry.openOrCreate();

  /** Opens the registry that this thread inherited through environment data, or creates the process's. */
  private static openOrCreate(): ThreadRegistry {
    const found = getEnvironmentData(ENV_KEY);
    let buffer: SharedArrayBuffer;
    if (types.isSharedArrayBuffer(found) && found.byteLength === WORDS * 4 && load(new Int32Array(found, 0, 1), MAGIC_WORD) === MAGIC) {
      buffer = found;
    } else {
      if (!isMainThread) {
        process.emitWarning(
          'sabre: this worker did not inherit a thread registry (sabre was not imported in its parent before the worker ' +
            'started); owner-death recovery across threads needs sabre imported in the main thread first',
        );
      }
      buffer = new SharedArrayBuffer(WORDS * 4);
      new Int32Array(buffer)[MAGIC_WORD] = MAGIC;
      setEnvironmentData(ENV_KEY, buffer);
    }
    const registry = new ThreadRegistry(buffer);
    registry.registerSelf();
    return registry;
  }

  /** Deaths recorded so far: a cheap "did anything die since I last looked?". */
  get deaths(): number {
    return load(this.words, DEATHS);
  }

  /**
   * Whether `id` is alive, as far as can be proved. Never false for a live
   * thread; true for a thread sabre has never heard of.
   */
  isAlive(id: number): boolean {
    if (!Number.isInteger(id)) throw new InvalidArgumentError(`threadId must be an integer, got ${String(id)}`);
    if (id < 0) return false; // what an exited Worker's threadId reads
    if (id === threadId || id === 0) return true;
    if (this.deadBit(id)) return false;
    const now = performance.now();
    const checked = this.checkedAlive.get(id);
    if (checked !== undefined && now - checked < ALIVE_CACHE_MS) return true;
    const slot = this.find(id);
    const os = slot < 0 ? undefined : this.osOf(slot);
    if (os === undefined) {
      // Never registered, or registered without an OS identity: alive unless proved dead.
      if (this.deadBit(id)) return false;
      this.checkedAlive.set(id, now);
      return true;
    }
    if (osThreadAlive(os)) {
      this.checkedAlive.set(id, now);
      return true;
    }
    this.markDead(id);
    return false;
  }

  /** Records that thread `id` has stopped (idempotent) and tells this thread's listeners. */
  markDead(id: number): void {
    if (id === threadId || id <= 0) return;
    this.checkedAlive.delete(id);
    let fresh = true;
    if (id < MAX_BITMAP_ID) {
      const bit = 1 << (id & 31);
      fresh = (or(this.words, DEAD_BITS + (id >>> 5), bit) & bit) === 0;
    }
    const slot = this.find(id);
    if (slot >= 0) store(this.words, slot + S_ID, 0);
    if (!fresh) return;
    add(this.words, DEATHS, 1);
    for (const listener of this.listeners) listener(id);
  }

  /**
   * Calls `listener(threadId)` in this thread whenever this thread records a
   * death (from an 'exit' event or a liveness check). Returns an unsubscribe.
   */
  onDeath(listener: DeathListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records the calling thread's OS identity (done once when sabre loads). */
  private registerSelf(): void {
    if (this.self === undefined || threadId === 0) return;
    if (this.find(threadId) >= 0) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      for (let s = SLOTS; s < WORDS; s += SLOT_WORDS) {
        if (load(this.words, s + S_ID) !== 0) continue;
        if (compareExchange(this.words, s + S_ID, 0, threadId + 1) !== 0) continue;
        store(this.words, s + S_OS_START, this.self.start);
        store(this.words, s + S_OS_TID, this.self.tid);
        return;
      }
      this.sweep();
    }
    process.emitWarning(
      `sabre: the thread registry is full (${SLOT_COUNT} live threads); thread ${threadId} is recovered by 'exit' events only`,
    );
  }

  /** Frees the slots of threads whose OS thread is gone. */
  private sweep(): void {
    for (let s = SLOTS; s < WORDS; s += SLOT_WORDS) {
      const id = load(this.words, s + S_ID) - 1;
      if (id <= 0) continue;
      const os = this.osOf(s);
      if (os !== undefined && !osThreadAlive(os)) this.markDead(id);
    }
  }

  private deadBit(id: number): boolean {
    if (id >= MAX_BITMAP_ID) return false;
    return (load(this.words, DEAD_BITS + (id >>> 5)) & (1 << (id & 31))) !== 0;
  }

  private find(id: number): number {
    const tag = id + 1;
    const known = this.slotOf.get(id);
    if (known !== undefined && load(this.words, known + S_ID) === tag) return known;
    for (let s = SLOTS; s < WORDS; s += SLOT_WORDS) {
      if (load(this.words, s + S_ID) === tag) {
        this.slotOf.set(id, s);
        return s;
      }
    }
    this.slotOf.delete(id);
    return -1;
  }

  private osOf(slot: number): OsThreadIdentity | undefined {
    const tid = load(this.words, slot + S_OS_TID);
    if (tid === 0) return undefined;
    return { tid, start: load(this.words, slot + S_OS_START) };
  }
}
